"""The Bluesky sender against the fake PDS over loopback: posts, threads, replies, maps, the
answer table on the wire, and nothing posted twice across a lost answer or a crash mid-thread."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image

from tests.conftest import write_config
from tests.integration.channel_kit import DIRECT, Kept, Ready
from warnd.channels.base import Job, Picture, Sent
from warnd.channels.bluesky import BlueskySender, parse_remote_id
from warnd.channels.bluesky_text import graphemes
from warnd.channels.registry import make_senders
from warnd.clock import FixedClock
from warnd.config.load import load
from warnd.config.secrets import Credentials, Secret
from warnd.errors import DeliveryError, Failure
from warnd.model import (
    Delivery,
    DeliveryState,
    Hazard,
    HazardEvent,
    MsgType,
    Priority,
    Region,
    Status,
    Warning,
    WarningKind,
)
from warnd.testing.fake_bluesky import FakeBluesky

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
HANDLE = "bmkg-ntb.bsky.social"
PASSWORD = "abcd-efgh-ijkl-mnop"


@pytest.fixture
def pds() -> Iterator[FakeBluesky]:
    with FakeBluesky({HANDLE: PASSWORD}) as fake:
        yield fake


def sender(pds: FakeBluesky, password: str = PASSWORD, now: datetime = NOW) -> BlueskySender:
    return BlueskySender(
        "ntb",
        handle=HANDLE,
        app_password=Secret(password),
        pds=pds.base,
        timeout=5.0,
        hour_budget=(1500, 3600.0, 150),
        day_budget=(10500, 86400.0, 1000),
        user_agent="warnd-test",
        outbound=DIRECT,
        clock=FixedClock(now),
    )


def delivery(
    text: str = "Gempa M5.1 Sumbawa", wid: str = "w-1", kind: WarningKind = WarningKind.NEW, **kw: Any
) -> Delivery:
    w = Warning(
        id=wid,
        event_id="e-1",
        revision="r",
        rule="gempa",
        account="ntb",
        kind=kind,
        severity="severe",
        priority=Priority.NORMAL,
        regions=(Region("52", "Nusa Tenggara Barat", "province"),),
        lang="id",
        text=text,
        status=Status.ACTUAL,
        created_at=NOW,
        thread_label=kw.pop("label", None),
    )
    event = HazardEvent("e-1", "bmkg-autogempa", "bmkg-tews", Hazard.EARTHQUAKE, MsgType.ALERT, Status.ACTUAL, NOW)
    return Delivery(1 if wid == "w-1" else 2, w, "account:ntb", DeliveryState.PENDING, 0, NOW, NOW, event=event, **kw)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def attempt(s: BlueskySender, job: Job) -> Sent | DeliveryError:
    try:
        return await s.send(job)
    except DeliveryError as e:
        return e


LONG = "Gempa Mag:5.9, 24-Nov-26 10:00:00 WITA, Lok: 8.5 LS - 117.4 BT (Sumbawa)\n" + "\n".join(
    f"Dirasakan (MMI IV) di Kecamatan Lunyuk {i}, Kabupaten Sumbawa, Nusa Tenggara Barat" for i in range(8)
)


def test_a_post_goes_with_lang_facets_and_a_strong_ref_as_its_remote_id(pds):
    text = "Gempa M5.1 Sumbawa, dirasakan di Lunyuk (III MMI). Info: https://bmkg.go.id/gempa #GempaNTB"
    sent = run(sender(pds).send(Job(delivery(text))))
    (post,) = pds.posts_by(HANDLE)
    assert post.text == text and post.value["langs"] == ["id"] and "reply" not in post.value
    raw = text.encode()
    assert [raw[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode() for f in post.value["facets"]] == [
        "https://bmkg.go.id/gempa",
        "#GempaNTB",
    ]
    assert sent.remote_id == f"{post.uri} {post.cid}" and pds.state.sessions == 1


def test_a_long_text_is_a_thread_of_replies_and_a_crash_mid_thread_never_reposts_a_part(pds):
    s = sender(pds)
    d = delivery(LONG, label="PD-1")
    kept = Kept()

    async def scenario() -> None:
        pds.script("ok", "502-html")  # part 2's request meets a proxy's error page
        e = await attempt(s, Job(d, checkpoint=kept))
        assert isinstance(e, DeliveryError) and e.failure is Failure.SERVER_ERROR
        # The restart: the delivery knows part 1 (the outbox kept it) and resumes after it.
        resumed = replace(d, parts=tuple(kept.parts))
        await s.send(Job(resumed, checkpoint=kept))

    run(scenario())
    posts = pds.posts_by(HANDLE)
    assert len(posts) == len(kept.parts) >= 3 and all(graphemes(p.text) <= 300 for p in posts)
    assert len({p.text for p in posts}) == len(posts)
    root = posts[0]
    for prev, post in itertools.pairwise(posts):
        assert post.reply_root == root.uri and post.reply_parent == prev.uri
    # Part 1 was asked for once: the crash's resume did not post it again.
    texts = [a.text for a in pds.attempts_by(HANDLE)]
    assert texts.count(root.text) == 1


def test_a_part_taken_just_before_a_kill_is_read_back_on_resume_not_posted_twice(pds):
    # kill -9 after the PDS stored part 2 and before the outbox recorded it: the restart knows
    # part 1 only. Part 2's create under the same record key is refused, read back, and counted.
    s = sender(pds)
    d = delivery(LONG, label="PD-1")
    kept = Kept()

    async def scenario() -> None:
        pds.script("ok", "lost")
        e = await attempt(s, Job(d, checkpoint=kept))
        assert isinstance(e, DeliveryError) and len(kept.parts) == 1
        await s.send(Job(replace(d, parts=tuple(kept.parts), unanswered=2), checkpoint=kept))

    run(scenario())
    posts = pds.posts_by(HANDLE)
    assert [f"{p.uri} {p.cid}" for p in posts] == [r.split()[0] + " " + r.split()[1] for r in kept.parts if r]
    assert len({p.text for p in posts}) == len(posts) == len(kept.parts)
    # The repeat is visible at the PDS: part 2 was asked for twice, and stored once.
    assert [a.text for a in pds.attempts_by(HANDLE)].count(posts[1].text) == 2


def test_the_registry_builds_a_bluesky_sender_from_config_and_names_a_missing_password(pds, tmp_path):

    feeds = "  - id: gempa\n    format: bmkg-tews\n    url: http://127.0.0.1:9/gempa.json\n"
    accounts = f'\n  ntb: {{channel: bluesky, name: NTB, handle: {HANDLE}, credential: bsky-ntb, pds: "{pds.base}"}}'
    cfg = load(write_config(tmp_path, feeds=feeds, rules="rules: []\n", accounts=accounts)).file
    found = make_senders(cfg, lambda p: tmp_path / p, tmp_path, DIRECT, Credentials(None, {}))
    assert "account:ntb" not in found.senders
    assert "bsky-ntb.app_password" in found.missing["account:ntb"]
    env = {"WARND_SECRET_BSKY_NTB_APP_PASSWORD": PASSWORD}
    built = make_senders(cfg, lambda p: tmp_path / p, tmp_path, DIRECT, Credentials(None, env))
    s = built.senders["account:ntb"]
    assert isinstance(s, BlueskySender) and s.pds == pds.base
    run(s.probe())


def test_a_correction_replies_to_the_first_post_about_the_event(pds):
    s = sender(pds)

    async def scenario() -> None:
        first = await s.send(Job(delivery("Gempa M5.1 Sumbawa")))
        await s.send(Job(delivery(LONG, wid="w-2", kind=WarningKind.UPDATE, label="PD-2"), reply_to=first.remote_id))

    run(scenario())
    first, *update = pds.posts_by(HANDLE)
    assert len(update) >= 2
    assert all(p.reply_root == first.uri for p in update)
    assert update[0].reply_parent == first.uri and update[1].reply_parent == update[0].uri
    ref = parse_remote_id(f"{update[1].uri} {update[1].cid}")
    assert ref is not None


def test_a_lost_answer_is_read_back_by_its_record_key_not_posted_again(pds):
    s = sender(pds)
    d = delivery()

    async def scenario() -> None:
        pds.script("lost")  # the PDS stores the post, the answer is a gateway's 502 page
        e = await attempt(s, Job(d))
        assert isinstance(e, DeliveryError) and e.failure.retryable
        pds.script("truncated")  # (not met: the retry is refused as existing, then read back)
        sent = await s.send(Job(d))
        (post,) = pds.posts_by(HANDLE)
        assert sent.remote_id == f"{post.uri} {post.cid}"

    run(scenario())
    # Two requests arrived, visibly; one post exists.
    assert [a.status for a in pds.attempts_by(HANDLE)] == [502, 500]


def test_a_truncated_success_is_retried_and_counted_once(pds):
    s = sender(pds)
    d = delivery()

    async def scenario() -> None:
        pds.script("truncated")
        e = await attempt(s, Job(d))
        assert isinstance(e, DeliveryError) and e.failure is Failure.SERVER_ERROR
        await s.send(Job(d))

    run(scenario())
    assert len(pds.posts_by(HANDLE)) == 1 and len(pds.attempts_by(HANDLE)) == 2


def test_a_rate_limit_holds_until_the_pds_reset(pds):
    s = sender(pds)
    pds.points_per_hour = 3  # one create an hour

    async def scenario() -> DeliveryError | Sent:
        await s.send(Job(delivery()))
        return await attempt(s, Job(delivery("Gempa M4.0 Lombok", wid="w-2")))

    e = run(scenario())
    assert isinstance(e, DeliveryError) and e.failure is Failure.RATE_LIMITED
    assert e.hold_until is not None and e.hold_until > datetime.now(UTC)


def test_an_expired_access_token_is_refreshed_and_the_post_goes(pds):
    s = sender(pds)

    async def scenario() -> None:
        await s.send(Job(delivery()))
        pds.expire_tokens()
        await s.send(Job(delivery("Gempa M4.0 Lombok", wid="w-2")))

    run(scenario())
    assert len(pds.posts_by(HANDLE)) == 2 and pds.state.refreshes == 1 and pds.state.sessions == 1


def test_a_revoked_app_password_is_an_auth_failure_with_a_notice(pds):
    s = sender(pds)

    async def scenario() -> DeliveryError | Sent:
        await s.send(Job(delivery()))
        pds.revoke(HANDLE)
        return await attempt(s, Job(delivery("Gempa M4.0 Lombok", wid="w-2")))

    e = run(scenario())
    assert isinstance(e, DeliveryError) and e.failure is Failure.AUTH and e.notice and "app password" in e.notice
    e2 = run(attempt(sender(pds, password="wrong"), Job(delivery())))
    assert isinstance(e2, DeliveryError) and e2.failure is Failure.AUTH


def test_server_errors_retry_and_bad_requests_are_final(pds):
    s = sender(pds)

    async def scenario() -> list[DeliveryError | Sent]:
        pds.script("500", "400")
        return [await attempt(s, Job(delivery())), await attempt(s, Job(delivery())), await attempt(s, Job(delivery()))]

    server, bad, ok = run(scenario())
    assert isinstance(server, DeliveryError) and server.failure is Failure.SERVER_ERROR and not server.spent
    assert isinstance(bad, DeliveryError) and bad.failure is Failure.BAD_REQUEST
    assert isinstance(ok, Sent) and len(pds.posts_by(HANDLE)) == 1


def test_the_pds_unreachable_is_a_network_failure():
    s = BlueskySender(
        "ntb",
        handle=HANDLE,
        app_password=Secret(PASSWORD),
        pds="http://127.0.0.1:9",
        timeout=2.0,
        hour_budget=(1500, 3600.0, 150),
        day_budget=(10500, 86400.0, 1000),
        user_agent="warnd-test",
        outbound=DIRECT,
        clock=FixedClock(NOW),
    )
    e = run(attempt(s, Job(delivery())))
    assert isinstance(e, DeliveryError) and e.failure is Failure.NETWORK


def png(size: tuple[int, int] = (1200, 675), noise: bool = False) -> bytes:
    img = Image.effect_noise(size, 100).convert("RGB") if noise else Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=0 if noise else 6)
    return out.getvalue()


def test_the_map_is_embedded_with_its_indonesian_alt_text(pds):
    alt = "Peta gempa M5.1 Sumbawa: wilayah terdampak diwarnai menurut intensitas"
    run(sender(pds).send(Job(delivery(), picture=Ready(Picture(png(), alt)))))
    (post,) = pds.posts_by(HANDLE)
    (image,) = post.value["embed"]["images"]
    assert image["alt"] == alt and image["aspectRatio"] == {"width": 1200, "height": 675}
    assert pds.state.blobs[image["image"]["ref"]["$link"]].startswith(b"\x89PNG")


def test_a_map_over_a_megabyte_is_left_off_and_the_text_goes(pds):
    big = png((800, 600), noise=True)
    assert len(big) > 1_000_000
    run(sender(pds).send(Job(delivery(), picture=Ready(Picture(big, "Peta")))))
    (post,) = pds.posts_by(HANDLE)
    assert "embed" not in post.value and not pds.state.blobs


def test_the_probe_checks_the_app_password_with_an_authenticated_read(pds):
    run(sender(pds).probe())
    assert pds.state.get_session == 1
    e = None
    try:
        run(sender(pds, password="wrong").probe())
    except DeliveryError as err:
        e = err
    assert e is not None and e.failure is Failure.AUTH


def test_the_credential_checks_find_a_revoked_app_password_at_start(pds, tmp_path, monkeypatch):
    from warnd.metrics import Metrics
    from warnd.runtime.build import build
    from warnd.runtime.credchecks import CredentialChecks

    monkeypatch.setenv("WARND_SECRET_BSKY_NTB_APP_PASSWORD", PASSWORD)
    feeds = "  - id: gempa\n    format: bmkg-tews\n    url: http://127.0.0.1:9/gempa.json\n"
    accounts = f'\n  ntb: {{channel: bluesky, name: NTB, handle: {HANDLE}, credential: bsky-ntb, pds: "{pds.base}"}}'
    extra = "credential_checks: {every: 1h, failed_every: 1s, jitter: 0}\n"
    bundle = build(
        write_config(tmp_path, feeds=feeds, rules="rules: []\n", accounts=accounts, extra=extra), with_senders=True
    )

    async def changed() -> None:
        return None

    async def scenario() -> tuple[dict[str, str], dict[str, str]]:
        loop = asyncio.get_running_loop()
        checks = CredentialChecks(lambda: bundle, Metrics(), lambda: True, changed)
        await checks.check_due(loop.time())
        working = dict(checks.failing)
        pds.revoke(HANDLE)
        # The session's tokens are refused, then its refresh, then a new session.
        await checks.check_due(loop.time() + 3600 + 5)
        refused = dict(checks.failing)
        for sender in bundle.senders.values():
            await sender.aclose()
        return working, refused

    working, refused = run(scenario())
    assert working == {} and pds.state.get_session == 2 and pds.state.sessions == 1
    assert "Bluesky account ntb (credential bsky-ntb)" in refused["account:ntb"]
    assert PASSWORD not in json.dumps(refused)
