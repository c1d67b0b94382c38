"""The slowing of failed console logins (runtime.console_auth.Throttle): attempts counted when
they start, keys that never name a user alone, and a bounded memory whatever is thrown at it."""

from __future__ import annotations

from warnd.runtime.console_auth import FAILURES, WINDOW, Throttle, address_key


def test_an_attempt_is_counted_when_it_starts() -> None:
    t = Throttle()
    keys = ("siti@203.0.113.5", "@203.0.113.5")
    # Five start before any is checked: the sixth waits, whatever their passwords turn out to be.
    assert all(t.reserve(keys, 1.0 + k / 100) is None for k in range(FAILURES))
    wait = t.reserve(keys, 2.0)
    assert wait is not None and 0 < wait <= WINDOW
    # A good password gives its own attempt back.
    t.release(keys, 1.0)
    assert t.reserve(keys, 2.0) is None
    # And once the window has passed, the key is free again.
    assert t.reserve(keys, 1.05 + WINDOW) is None


def test_its_memory_is_bounded_whatever_names_and_addresses_arrive() -> None:
    t = Throttle()
    for k in range(20_000):
        t.reserve((f"user{k}@198.51.{k // 256 % 256}.{k % 256}", f"@198.51.{k // 256 % 256}.{k % 256}"), 1.0)
    assert len(t._seen) <= 10_000
    # What is kept per key is at most the failures that count.
    assert all(len(q) <= FAILURES for q in t._seen.values())


def test_an_ipv6_client_is_one_address_per_64() -> None:
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.7") == address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("?") == "?"
