"""The WebSub hub's pure parts: which requests it takes (each refusal naming the field), which
leases it grants, where a warning's pushes go, what a feed names, and how a push is signed."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from warnd.cap import atom, feed_links
from warnd.channels.websub import hub_signature, link_header, with_query
from warnd.config.schema import WebSubSettings
from warnd.model import Priority, Region, Status, Warning, WarningKind, subscription_id
from warnd.pipeline.issue import targets
from warnd.runtime.websub_hub import Refused, parse_request

BASE = "https://warnd.example.org"
ACCOUNTS = ["jabar", "ntb"]
SETTINGS = WebSubSettings(lease=86400, lease_min=3600, lease_max=7 * 86400)


def form(**fields: str) -> dict[str, list[str]]:
    """A subscription request as parse_qs reads it; `hub_lease_seconds=` stands for hub.lease_seconds."""
    given = {
        "hub.mode": "subscribe",
        "hub.topic": feed_links(BASE, "jabar").topic,
        "hub.callback": "https://r.example/cb",
    }
    given |= {k.replace("hub_", "hub.", 1): v for k, v in fields.items()}
    return {k: [v] for k, v in given.items()}


def test_a_good_request_names_its_account_and_gets_the_default_lease():
    req = parse_request(form(), BASE, ACCOUNTS, SETTINGS)
    assert (req.mode, req.account, req.lease, req.secret) == ("subscribe", "jabar", 86400, None)
    assert req.id == subscription_id(req.topic, req.callback) and len(req.id) == 16


@pytest.mark.parametrize(("asked", "granted"), [("1", 3600), ("7200", 7200), ("999999999", 7 * 86400)])
def test_leases_are_clamped_between_the_least_and_the_most(asked, granted):
    assert parse_request(form(hub_lease_seconds=asked), BASE, ACCOUNTS, SETTINGS).lease == granted


def test_a_secret_of_200_bytes_is_taken_and_one_of_201_refused_and_neither_is_repeated():
    assert parse_request(form(hub_secret="é" * 100), BASE, ACCOUNTS, SETTINGS).secret == "é" * 100
    with pytest.raises(Refused) as e:
        parse_request(form(hub_secret="s" * 201), BASE, ACCOUNTS, SETTINGS)
    assert str(e.value) == "hub.secret: longer than 200 bytes"
    assert "s" * 201 not in repr(parse_request(form(hub_secret="s" * 200), BASE, ACCOUNTS, SETTINGS))


def test_a_field_given_twice_is_refused():
    twice = form() | {"hub.callback": ["https://a.example/", "https://b.example/"]}
    with pytest.raises(Refused, match=r"hub\.callback: given 2 times"):
        parse_request(twice, BASE, ACCOUNTS, SETTINGS)


@pytest.mark.parametrize(
    "callback",
    ["http://127.0.0.1:8080/cb", "http://[::1]/cb", "http://localhost/cb", "https://r.example/cb?feed=jabar"],
)
def test_callbacks_taken(callback):
    drill = SETTINGS.model_copy(update={"allow_loopback": True})
    assert parse_request(form(hub_callback=callback), BASE, ACCOUNTS, drill).callback == callback


@pytest.mark.parametrize(
    "callback",
    ["http://127.0.0.1:8080/cb", "https://[::1]/cb", "https://localhost/cb"],
)
def test_callbacks_on_this_machine_only_in_a_drill(callback):
    with pytest.raises(Refused, match=r"^hub\.callback: must lead to a public address, not this machine"):
        parse_request(form(hub_callback=callback), BASE, ACCOUNTS, SETTINGS)


@pytest.mark.parametrize(
    "callback",
    [
        "http://10.0.0.5/cb",
        "http://r.example/cb",
        "https://r.example/cb?api_key=x",
        "https://u:p@r.example/cb",
        "https://r.example/cb#x",
        "javascript:alert(1)",
        "https:///nohost",
        # Numbers some resolvers read as 10.0.0.1 or 169.254.169.254, others as something else.
        "https://167772161/cb",
        "https://0xa.0.0.1/cb",
        "https://10.1/cb",
        "https://2852039166/cb",
    ],
)
def test_callbacks_refused(callback):
    with pytest.raises(Refused, match=r"^hub\.callback: "):
        parse_request(form(hub_callback=callback), BASE, ACCOUNTS, SETTINGS)


def warning(account: str) -> Warning:
    return Warning(
        id="w-1",
        event_id="e-1",
        revision="r",
        rule="gempa",
        account=account,
        kind=WarningKind.NEW,
        severity="moderate",
        priority=Priority.NORMAL,
        regions=(Region("32", "Jawa Barat", "province"),),
        lang="id",
        text="Gempa",
        status=Status.ACTUAL,
        created_at=datetime(2026, 11, 30, tzinfo=UTC),
    )


def test_a_warning_goes_to_the_subscriptions_of_its_own_accounts_feed_only():
    subs = {"jabar": ("b2", "a1"), "ntb": ("c3",)}
    assert targets(warning("jabar"), "earthquake", {}, lambda t: False, websub=subs) == [
        "account:jabar",
        "feed:jabar",
        "websub:a1",
        "websub:b2",
    ]
    assert targets(warning("bali"), "earthquake", {}, lambda t: False, websub=subs) == ["account:bali", "feed:bali"]


def test_a_feed_with_a_hub_names_it_and_its_canonical_url_and_links_alerts_absolutely():
    links = feed_links(BASE, "jabar")
    body = atom("jabar", "Jawa Barat", [], now=datetime(2026, 11, 30, tzinfo=UTC), links=links).decode()
    assert f'<link rel="self" href="{BASE}/cap/jabar/index.atom" />' in body
    assert f'<link rel="hub" href="{BASE}/websub" />' in body
    plain = atom("jabar", "Jawa Barat", [], now=datetime(2026, 11, 30, tzinfo=UTC)).decode()
    assert '<link rel="self" href="index.atom" />' in plain and 'rel="hub"' not in plain
    assert link_header(links) == f'<{BASE}/websub>; rel="hub", <{BASE}/cap/jabar/index.atom>; rel="self"'


def test_a_push_is_signed_with_the_subscribers_secret():
    body = b"<feed/>"
    assert hub_signature("k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


def test_the_hubs_parameters_join_the_callbacks_own_query():
    assert with_query("https://r.example/cb?feed=jabar", {"hub.mode": "subscribe"}) == (
        "https://r.example/cb?feed=jabar&hub.mode=subscribe"
    )
    assert with_query("https://r.example/cb", {"hub.challenge": "a b"}) == "https://r.example/cb?hub.challenge=a+b"
