"""The console's operators and sessions in the store, on both backends: a session is found by
its token's hash until it expires, ends when its operator's password changes or the operator
is removed, and a login made through one connection is good on another (another node)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warnd.runtime.console_auth import find_session, hash_password, open_session, token_digest, verify
from warnd.store.operators import Operators

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def test_an_operator_is_added_once_and_its_password_checks(store):
    conn = store.open()
    ops = Operators(conn)
    hashed = hash_password("a long passphrase")
    assert ops.add("siti", hashed, T0)
    assert not ops.add("siti", hash_password("another one"), T0)
    found = ops.get("siti")
    assert found is not None and found.hash.startswith("$argon2id$") and not found.disabled
    assert verify(found.hash, "a long passphrase") and not verify(found.hash, "a long passphrasE")
    assert not verify(None, "a long passphrase")
    assert [o.name for o in ops.all()] == ["siti"]
    conn.close()


def test_a_session_lives_until_it_expires_and_is_seen_by_another_connection(store):
    conn = store.open()
    Operators(conn).add("siti", hash_password("a long passphrase"), T0)
    made = open_session(conn, "siti", T0, hours=12)
    other = store.open()
    seen = find_session(other, made.token, T0 + timedelta(hours=11))
    assert seen is not None and seen.user == "siti" and seen.csrf == made.csrf
    assert find_session(other, made.token, T0 + timedelta(hours=12)) is None
    assert find_session(other, made.token + "x", T0) is None
    # Only the hash is kept: the token is nowhere in the table.
    rows = conn.execute("SELECT token_sha256 FROM console_sessions").fetchall()
    assert [r[0] for r in rows] == [token_digest(made.token)]
    other.close()
    conn.close()


def test_a_new_password_or_a_removal_ends_the_operators_sessions(store):
    conn = store.open()
    ops = Operators(conn)
    ops.add("siti", hash_password("a long passphrase"), T0)
    ops.add("budi", hash_password("budi's own phrase"), T0)
    siti = open_session(conn, "siti", T0, hours=12)
    budi = open_session(conn, "budi", T0, hours=12)
    assert ops.set_hash("siti", hash_password("a new passphrase"))
    assert find_session(conn, siti.token, T0) is None
    assert find_session(conn, budi.token, T0) is not None
    assert ops.remove("budi") and not ops.remove("budi")
    assert find_session(conn, budi.token, T0) is None
    assert ops.close_session(token_digest(siti.token)) is False
    conn.close()
