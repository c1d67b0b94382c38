"""The Mastodon sender against the fake instance over loopback: statuses, threads, replies,
the map, every kind of refusal, and nothing posted twice when an answer is lost or the
process dies mid-thread."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tests.integration.channel_kit import DIRECT, Kept, Ready
from warnd.channels.base import Job, Picture
from warnd.channels.mastodon import MastodonSender, split
from warnd.clock import SystemClock
from warnd.config.secrets import Secret
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
from warnd.testing.fake_mastodon import FakeMastodon

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
TOKEN = "tok-aceh"
LONG = "Gempa M6.2 Aceh\n" + "\n".join(f"Kabupaten Contoh Nomor {i}: dirasakan III MMI" for i in range(40))
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def delivery(text="Gempa M5.1 Aceh", wid="w-1", parts=(), label=None, priority=Priority.NORMAL):
    w = Warning(
        id=wid,
        event_id="e-1",
        revision="r",
        rule="gempa",
        account="aceh",
        kind=WarningKind.NEW,
        severity="severe",
        priority=priority,
        regions=(Region("11", "Aceh", "province"),),
        lang="id",
        text=text,
        status=Status.ACTUAL,
        created_at=NOW,
        thread_label=label,
    )
    event = HazardEvent("e-1", "bmkg-autogempa", "bmkg-tews", Hazard.EARTHQUAKE, MsgType.ALERT, Status.ACTUAL, NOW)
    return Delivery(1, w, "account:aceh", DeliveryState.PENDING, 0, NOW, NOW, parts=tuple(parts), event=event)


@pytest.fixture
def fake():
    with FakeMastodon({TOKEN: "aceh"}) as server:
        yield server


def sender(fake, token=TOKEN, timeout=5.0):
    return MastodonSender(
        "aceh",
        instance=fake.base,
        token=Secret(token),
        lang="id",
        outbound=DIRECT,
        clock=SystemClock(),
        timeout=timeout,
        picture_wait=1.0,
    )


def run(coro):
    return asyncio.run(coro)


def on(s, call):
    """`call()` on the sender in a loop of its own, its connections closed after."""

    async def go():
        try:
            return await call()
        finally:
            await s.aclose()

    return run(go())


def send(s, job):
    return on(s, lambda: s.send(job))


def failure_of(s, job) -> DeliveryError:
    with pytest.raises(DeliveryError) as e:
        send(s, job)
    return e.value


def test_a_status_goes_public_in_the_accounts_language_and_a_correction_replies_to_it(fake):
    s = sender(fake)
    first = send(s, Job(delivery()))
    second = send(s, Job(delivery("RALAT: M5.0", wid="w-2"), reply_to=first.remote_id))
    statuses = fake.statuses_by("aceh")
    assert [x.text for x in statuses] == ["Gempa M5.1 Aceh", "RALAT: M5.0"]
    assert statuses[0].visibility == "public" and statuses[0].language == "id"
    assert first.remote_id == statuses[0].id and second.remote_id == statuses[1].id
    assert statuses[1].reply_to == statuses[0].id
    # Every post carries an Idempotency-Key, derived from the delivery and the part.
    keys = [a.key for a in fake.attempts_at("/api/v1/statuses")]
    assert keys == [f"{delivery().idempotency_key}-1", f"{delivery(wid='w-2').idempotency_key}-1"]


def test_the_instances_own_limit_decides_the_cut(fake):
    fake.max_characters = 1000
    s = sender(fake)
    send(s, Job(delivery(LONG, label="PD-1")))
    statuses = fake.statuses_by("aceh")
    assert len(statuses) == 2 and max(len(x.text) for x in statuses) > 500


def test_a_long_text_is_a_thread_and_a_crash_mid_thread_resumes_after_the_last_part(fake):
    s = sender(fake)
    kept = Kept()
    head = send(s, Job(delivery(LONG, label="PD-1"), checkpoint=kept))
    statuses = fake.statuses_by("aceh")
    n = len(statuses)
    assert n >= 3 and all(len(x.text) <= 500 for x in statuses)
    assert kept.parts == [x.id for x in statuses] and head.remote_id == statuses[0].id
    assert [x.reply_to for x in statuses[1:]] == [x.id for x in statuses[:-1]]
    assert statuses[-1].text.endswith(f"PD-1 {n}/{n}")

    # A second instance of the account's thread: two parts were out before a kill -9.
    fake.state.statuses.clear()
    fake.state.keys.clear()
    fake.state.statuses.extend(statuses[:2])
    attempts = len(fake.attempts_at("/api/v1/statuses"))
    again = Kept()
    resumed = send(sender(fake), Job(delivery(LONG, label="PD-1", parts=kept.parts[:2]), checkpoint=again))
    after = fake.statuses_by("aceh")
    assert len(after) == n and len(again.parts) == n - 2
    # Parts 1 and 2 were never asked for again.
    assert len(fake.attempts_at("/api/v1/statuses")) - attempts == n - 2
    assert after[2].reply_to == statuses[1].id and resumed.remote_id == statuses[0].id


def test_a_part_whose_answer_was_lost_is_sent_again_and_the_instance_returns_the_first_status(fake):
    # The instance made the status, then the answer was lost (a 502 from the proxy in front).
    fake.fail("/api/v1/statuses", 502, b"<html>Bad Gateway</html>", content_type="text/html", after=True)
    kept = Kept()
    e = failure_of(sender(fake), Job(delivery(), checkpoint=kept))
    assert e.failure is Failure.SERVER_ERROR and e.retryable and kept.unanswered == [1]
    sent = send(sender(fake), Job(delivery(), checkpoint=Kept()))
    statuses = fake.statuses_by("aceh")
    # Two requests arrived; one status exists, and the retry was told its id.
    assert len(fake.attempts_at("/api/v1/statuses")) == 2
    assert len(statuses) == 1 and sent.remote_id == statuses[0].id


def test_a_lost_answer_mid_thread_posts_no_part_twice(fake):
    fake.fail("/api/v1/statuses", 504, b"", content_type="text/plain", after=True)
    kept = Kept()
    failure_of(sender(fake), Job(delivery(LONG, label="PD-1"), checkpoint=kept))
    assert kept.parts == [] and kept.unanswered == [1]
    again = Kept()
    send(sender(fake), Job(delivery(LONG, label="PD-1"), checkpoint=again))
    statuses = fake.statuses_by("aceh")
    texts = [x.text for x in statuses]
    assert len(texts) == len(set(texts)) == len(again.parts)


def test_rate_limited_holds_until_the_reset_the_instance_announced(fake):
    fake.rate_limit = 2
    s = sender(fake)
    # GET /api/v2/instance is public (counted per address, not per account).
    send(s, Job(delivery()))
    send(s, Job(delivery(wid="w-2")))
    e = failure_of(s, Job(delivery(wid="w-3")))
    assert e.failure is Failure.RATE_LIMITED and e.hold_until is not None
    start, _ = fake.state.windows["aceh"]
    assert abs((e.hold_until - start).total_seconds() - fake.rate_window) < 0.01
    assert len(fake.statuses_by("aceh")) == 2


def test_a_refused_token_is_an_auth_failure_with_a_notice_and_never_shows_the_token(fake):
    s = sender(fake, token="revoked-token-value")
    e = failure_of(s, Job(delivery()))
    assert e.failure is Failure.AUTH and not e.retryable and e.notice
    assert "revoked-token-value" not in str(e) + repr(s) + (e.notice or "")
    assert not fake.statuses_by("aceh")
    with pytest.raises(DeliveryError) as probe:
        bad = sender(fake, token="revoked-token-value")
        on(bad, bad.probe)
    assert probe.value.failure is Failure.AUTH


def test_the_probe_reads_the_credential_and_the_limit(fake):
    fake.max_characters = 800
    s = sender(fake)
    on(s, s.probe)
    assert s._limits == (800, 23)
    assert len(fake.attempts_at("/api/v1/accounts/verify_credentials", "GET")) == 1


@pytest.mark.parametrize(
    ("status", "body", "failure"),
    [
        (503, b'{"error":"Service Unavailable"}', Failure.SERVER_ERROR),
        (500, b"<html><body>We're sorry</body></html>", Failure.SERVER_ERROR),
        (200, b'{"id": ', Failure.SERVER_ERROR),
        (422, b'{"error":"Validation failed: Text can\'t be blank"}', Failure.BAD_REQUEST),
        (403, b'{"error":"This action is not allowed"}', Failure.AUTH),
        (400, b'{"error":"unknown","error_code":"E_SOMETHING"}', Failure.BAD_REQUEST),
    ],
)
def test_every_refusal_is_classified_and_nothing_is_lost(fake, status, body, failure):
    fake.fail("/api/v1/statuses", status, body)
    e = failure_of(sender(fake), Job(delivery()))
    assert e.failure is failure
    if failure.retryable:
        # The retry goes through: the warning was not lost.
        assert send(sender(fake), Job(delivery())).remote_id == fake.statuses_by("aceh")[0].id


def test_an_over_limit_refusal_reads_the_limit_again_for_the_retry(fake):
    s = sender(fake)
    on(s, s.limits)
    fake.max_characters = 200  # the instance was reconfigured after warnd read it
    text = "Gempa M6.2 Aceh " + "dirasakan kuat " * 20
    e = failure_of(s, Job(delivery(text)))
    assert e.failure is Failure.SERVER_ERROR and e.retryable
    send(s, Job(delivery(text)))
    statuses = fake.statuses_by("aceh")
    assert len(statuses) == len(split(text, 200)) > 1 and all(len(x.text) <= 200 for x in statuses)


def test_a_reply_to_a_status_that_is_gone_goes_on_its_own(fake):
    sent = send(sender(fake), Job(delivery("RALAT"), reply_to="999"))
    (status,) = fake.statuses_by("aceh")
    assert status.reply_to is None and sent.remote_id == status.id


def test_an_unreachable_instance_is_a_network_failure_not_counted(fake):
    base = fake.base
    fake.stop()
    s = MastodonSender(
        "aceh", instance=base, token=Secret(TOKEN), lang="id", outbound=DIRECT, clock=SystemClock(), timeout=1.0
    )
    e = failure_of(s, Job(delivery()))
    assert e.failure is Failure.NETWORK and e.spent is False


def test_the_map_goes_with_the_first_part_with_its_alt_text(fake):
    job = Job(delivery(LONG, label="PD-1"), picture=Ready(Picture(PNG, "Peta guncangan gempa M6.2 Aceh")))
    send(sender(fake), job)
    statuses = fake.statuses_by("aceh")
    assert len(statuses[0].media_ids) == 1 and all(not x.media_ids for x in statuses[1:])
    media = fake.state.media[statuses[0].media_ids[0]]
    assert media.description == "Peta guncangan gempa M6.2 Aceh" and media.size == len(PNG)


def test_a_map_still_processing_is_waited_for_within_the_wait(fake):
    fake.processing = 2
    send(sender(fake), Job(delivery(), picture=Ready(Picture(PNG, "Peta"))))
    (status,) = fake.statuses_by("aceh")
    assert status.media_ids and len(fake.attempts_at(f"/api/v1/media/{status.media_ids[0]}", "GET")) == 3


def test_a_late_map_never_holds_back_a_life_safety_text_and_follows_it_as_a_reply(fake):
    life = delivery(LONG, label="PD-1", priority=Priority.LIFE_SAFETY)
    kept = Kept()
    s = sender(fake)

    async def go():
        try:
            sent = await s.send(Job(life, checkpoint=kept, picture=Ready(Picture(PNG, "Peta gempa"), delay=1.0)))
            # The delivery is done, its text out, before the map is there.
            assert not any(x.media_ids for x in fake.statuses_by("aceh"))
            return sent
        finally:
            await s.aclose()  # gives the late map its wait and its post

    sent = run(go())
    statuses = fake.statuses_by("aceh")
    *text, map_reply = statuses
    assert all(not x.media_ids for x in text) and sent.remote_id == text[0].id
    assert len(map_reply.media_ids) == 1 and map_reply.reply_to == text[-1].id
    assert map_reply.text.startswith("Peta: Gempa M6.2 Aceh") and map_reply.text.endswith("PD-1")
    assert kept.parts == [x.id for x in statuses]
    assert fake.state.media[map_reply.media_ids[0]].description == "Peta gempa"


def test_a_refused_map_is_left_off_and_the_text_goes(fake):
    fake.fail("/api/v2/media", 429, {"error": "Too many requests"})
    send(sender(fake), Job(delivery(), picture=Ready(Picture(PNG, "Peta"))))
    fake.fail("/api/v2/media", 500, b"<html>oops</html>", content_type="text/html")
    send(sender(fake), Job(delivery(wid="w-2"), picture=Ready(Picture(PNG, "Peta"))))
    statuses = fake.statuses_by("aceh")
    assert len(statuses) == 2 and all(not x.media_ids for x in statuses)
