"""The warning's map on its X post: the real XSender against the fake X on loopback (OAuth 1.0a
signatures verified), with a picture source that hands over a real PNG when it is ready."""

from __future__ import annotations

import asyncio
import io
import time
from dataclasses import replace

import pytest
from PIL import Image

from tests.integration.channel_kit import Kept
from tests.integration.conftest import APP, USERS
from tests.integration.test_channels import delivery, x_sender
from warnd.channels.base import Job, Picture
from warnd.channels.x import split
from warnd.channels.x_media import LATE_WAIT, MediaFailed
from warnd.errors import DeliveryError
from warnd.metrics import Metrics
from warnd.model import Priority
from warnd.testing.fake_x import FakeX

LONG = "Gempa M6.2 Aceh\n\n" + "\n".join(f"Kabupaten Nomor {i}, wilayah terdampak guncangan" for i in range(12))


def png(width: int = 1200, height: int = 675) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 90, 160)).save(out, "PNG")
    return out.getvalue()


class Source:
    """A map that is ready `late` seconds after the source is made; records each wait asked."""

    def __init__(self, picture: Picture | None, late: float = 0.0) -> None:
        self.picture = picture
        self.ready_at = time.monotonic() + late
        self.asked: list[float] = []

    async def wait(self, seconds: float) -> Picture | None:
        self.asked.append(seconds)
        left = self.ready_at - time.monotonic()
        if left > seconds:
            await asyncio.sleep(seconds)
            return None
        await asyncio.sleep(max(0.0, left))
        return self.picture


class Broken:
    async def wait(self, seconds: float) -> Picture | None:
        raise RuntimeError("renderer crashed")


def failures(account: str, reason: str) -> float:
    labels = {"account": account, "reason": reason}
    return Metrics().registry.get_sample_value("warnd_x_media_failed_total", labels) or 0


def run(sender, job):
    async def go():
        try:
            return await sender.send(job)
        finally:
            await sender.aclose()

    return asyncio.run(go())


def test_a_ready_map_goes_on_the_first_post_with_its_alt_text(fake_x):
    image = png()
    sent = run(x_sender(fake_x), Job(delivery(), picture=Source(Picture(image, "Peta gempa Aceh"))))
    [post] = fake_x.posts_by("aceh")
    assert sent.remote_id == post.id
    [upload] = fake_x.uploads_by("aceh")
    assert upload.status == 200 and upload.category == "tweet_image" and upload.content_type == "image/png"
    assert post.media_ids == (upload.media_id,)
    assert upload.media == image
    assert Image.open(io.BytesIO(upload.media)).size == (1200, 675)
    assert fake_x.state.alt_texts == {upload.media_id: "Peta gempa Aceh"}
    assert fake_x.state.bad_signatures == 0


def test_a_thread_carries_the_map_on_its_first_part_only(fake_x):
    sent = run(x_sender(fake_x), Job(delivery(LONG), picture=Source(Picture(png(), "Peta"))))
    posts = fake_x.posts_by("aceh")
    assert len(posts) == len(split(LONG)) > 1
    assert sent.remote_id == posts[0].id
    assert len(posts[0].media_ids) == 1
    assert all(p.media_ids == () for p in posts[1:])
    assert len(fake_x.uploads_by("aceh")) == 1


def life_safety(text: str = "Gempa M5.1 Aceh", **kw):
    d = delivery(text, **kw)
    d = replace(d, warning=replace(d.warning, priority=Priority.LIFE_SAFETY))
    assert d.life_safety
    return d


def test_a_life_safety_post_waits_a_fifth_of_a_second_and_its_late_map_follows_as_a_reply(fake_x):
    source = Source(Picture(png(), "Peta"), late=1.0)
    kept = Kept()
    start = time.time()
    sent = run(x_sender(fake_x), Job(life_safety(label="PD-1"), checkpoint=kept, picture=source))
    text, reply = fake_x.posts_by("aceh")
    assert text.at - start < 1.0
    assert text.media_ids == () and sent.remote_id == text.id
    assert source.asked == [0.2, LATE_WAIT]
    assert reply.reply_to == text.id and reply.at - start >= 1.0
    assert reply.text == "Peta: Gempa M5.1 Aceh PD-1"
    [upload] = fake_x.uploads_by("aceh")
    assert reply.media_ids == (upload.media_id,)
    # Recorded like a part: a restart knows it went.
    assert kept.parts == [text.id, reply.id]


def test_a_life_safety_post_does_not_wait_for_a_slow_upload_the_reply_carries_it(fake_x):
    fake_x.script_media("slow:0.6")
    source = Source(Picture(png(), "Peta"))
    start = time.time()
    run(x_sender(fake_x), Job(life_safety(label="PD-2"), picture=source))
    text, reply = fake_x.posts_by("aceh")
    assert text.at - start < 0.5 and text.media_ids == ()
    [upload] = fake_x.uploads_by("aceh")
    assert reply.reply_to == text.id and reply.media_ids == (upload.media_id,)
    assert source.asked == [0.2]


def test_a_failed_text_drops_the_late_map(fake_x):
    fake_x.script("500")
    source = Source(Picture(png(), "Peta"), late=0.3)
    with pytest.raises(DeliveryError):
        run(x_sender(fake_x), Job(life_safety(), picture=source))
    time.sleep(0.5)
    assert fake_x.posts_by("aceh") == [] and fake_x.uploads_by("aceh") == []


def test_a_map_that_never_comes_leaves_the_text_alone(fake_x):
    source = Source(None)
    before = failures("aceh", "late")
    kept = Kept()
    run(x_sender(fake_x), Job(life_safety(), checkpoint=kept, picture=source))
    [text] = fake_x.posts_by("aceh")
    assert source.asked == [0.2, LATE_WAIT]
    assert kept.parts == [text.id] and fake_x.uploads_by("aceh") == []
    assert failures("aceh", "late") == before + 1


@pytest.mark.parametrize("recorded", ["text", "text and map"])
def test_a_restart_never_posts_the_late_map_twice(fake_x, recorded):
    source = Source(Picture(png(), "Peta"), late=0.4)
    kept = Kept()
    run(x_sender(fake_x), Job(life_safety(label="PD-1"), checkpoint=kept, picture=source))
    assert len(fake_x.posts_by("aceh")) == 2
    # The restart finds the delivery in flight with the text recorded (it stopped before the
    # map's reply, or after it).
    parts = kept.parts[:1] if recorded == "text" else kept.parts
    resumed = life_safety(label="PD-1", parts=parts, unanswered=len(parts) + 1)
    sent = run(x_sender(fake_x), Job(resumed, checkpoint=Kept(), picture=Source(Picture(png(), "Peta"))))
    assert sent.remote_id == kept.parts[0]
    assert len(fake_x.posts_by("aceh")) == 2 and len(fake_x.attempts_by("aceh")) == 2
    assert len(fake_x.uploads_by("aceh")) == 1


def test_a_routine_post_waits_its_configured_time_for_the_map(fake_x):
    source = Source(Picture(png(), "Peta"), late=0.5)
    run(x_sender(fake_x), Job(delivery(), picture=source))
    [post] = fake_x.posts_by("aceh")
    assert source.asked == [2.0]
    assert len(post.media_ids) == 1


@pytest.mark.parametrize("fault", ["503-html", "status:503", "429", "status:400"])
def test_a_refused_upload_leaves_the_map_off_and_posts_the_text_once(fake_x, fault):
    fake_x.script_media(fault)
    reason = {"429": "upload_rate_limited", "status:400": "upload_refused"}.get(fault, "upload_unreachable")
    before = failures("aceh", reason)
    sent = run(x_sender(fake_x), Job(delivery(), picture=Source(Picture(png(), "Peta"))))
    [post] = fake_x.posts_by("aceh")
    assert sent.remote_id == post.id and not sent.duplicate
    assert post.media_ids == ()
    assert len(fake_x.attempts_by("aceh")) == 1
    assert [u.status for u in fake_x.uploads_by("aceh")] == [int(fault.split(":")[-1].split("-")[0])]
    assert failures("aceh", reason) == before + 1


def test_an_upload_rate_limit_holds_uploads_not_posts(fake_x):
    fake_x.script_media("429")
    sender = x_sender(fake_x)

    async def go():
        try:
            await sender.send(Job(delivery(wid="w-1"), picture=Source(Picture(png(), "Peta"))))
            await sender.send(Job(delivery("Gempa M5.3 Aceh", wid="w-2"), picture=Source(Picture(png(), "Peta"))))
        finally:
            await sender.aclose()

    asyncio.run(go())
    assert [p.media_ids for p in fake_x.posts_by("aceh")] == [(), ()]
    # The second map was not even tried: uploads wait for the reset X announced.
    assert len(fake_x.uploads_by("aceh")) == 1


def test_a_failing_picture_source_never_fails_the_post(fake_x):
    before = failures("aceh", "source_failed")
    sent = run(x_sender(fake_x), Job(delivery(), picture=Broken()))
    [post] = fake_x.posts_by("aceh")
    assert sent.remote_id == post.id and post.media_ids == ()
    assert failures("aceh", "source_failed") == before + 1


def test_a_refused_attachment_posts_the_text_without_it(fake_x):
    # A media id X issued to another account: X refuses the post (400); the text goes alone.
    ntb = x_sender(fake_x, token="tok-ntb", secret="sec-ntb")
    foreign = ntb.media.upload(Picture(png(), ""))
    asyncio.run(ntb.aclose())
    sender = x_sender(fake_x)

    async def someone_elses(job: Job) -> tuple[str, None]:
        return foreign, None

    sender.media.first = someone_elses  # type: ignore[method-assign]
    sent = run(sender, Job(delivery(), picture=Source(Picture(png(), "Peta"))))
    attempts = fake_x.attempts_by("aceh")
    assert [(a.status, a.media_ids) for a in attempts] == [(400, (foreign,)), (201, ())]
    [post] = fake_x.posts_by("aceh")
    assert sent.remote_id == post.id and post.media_ids == ()


def test_a_resumed_thread_neither_uploads_again_nor_repeats_a_part(fake_x):
    parts = split(LONG)
    kept = Kept()
    # The first attempt: part 1 with its map, then X fails on part 2.
    fake_x.script("pass", "500")
    with pytest.raises(DeliveryError):
        run(x_sender(fake_x), Job(delivery(LONG), checkpoint=kept, picture=Source(Picture(png(), "Peta"))))
    assert len(kept.parts) == 1 and kept.unanswered == [2]
    # The restart finds part 1 recorded.
    resumed = delivery(LONG, parts=kept.parts, unanswered=2)
    sender = x_sender(fake_x)
    assert sender.cost(Job(resumed)) == len(parts) - 1
    sent = run(sender, Job(resumed, checkpoint=kept, picture=Source(Picture(png(), "Peta"))))
    posts = fake_x.posts_by("aceh")
    assert sent.remote_id == kept.parts[0] == posts[0].id
    assert [p.text for p in posts] == parts
    assert len(posts[0].media_ids) == 1 and all(p.media_ids == () for p in posts[1:])
    assert len(fake_x.uploads_by("aceh")) == 1
    assert [a.text for a in fake_x.attempts_by("aceh") if a.status == 201] == parts


def test_the_fake_refuses_what_x_refuses(fake_x):
    sender = x_sender(fake_x)
    media = sender.media
    try:
        with pytest.raises(MediaFailed, match="not a supported image"):
            media.upload(Picture(b"GIF-not-really" + b"x" * 100, ""))
        big = b"\x89PNG\r\n\x1a\n" + b"\0" * (5 * 1024 * 1024)
        with pytest.raises(MediaFailed, match="5 MB"):
            media.upload(Picture(big, ""))
        # The sender never sends such a map; asked anyway, the fake refuses it as X does.
        with pytest.raises(MediaFailed, match="images may be at most"):
            media._request("/2/media/upload", files={"media": ("m.png", big, "image/png")}, data={})
    finally:
        asyncio.run(sender.aclose())
    assert [u.status for u in fake_x.uploads_by("aceh")] == [400, 400]


def test_past_the_upload_limit_the_posts_go_on_without_maps():
    fake = FakeX(consumer_key=APP[0], consumer_secret=APP[1], users=USERS, media_limit=(2, 60.0))
    fake.start()
    try:
        sender = x_sender(fake)

        async def go():
            try:
                for i in range(4):
                    job = Job(delivery(f"Gempa M5.{i} Aceh", wid=f"w-{i}"), picture=Source(Picture(png(), "Peta")))
                    await sender.send(job)
            finally:
                await sender.aclose()

        asyncio.run(go())
        assert [len(p.media_ids) for p in fake.posts_by("aceh")] == [1, 1, 0, 0]
        # The third upload met X's limit; the fourth was not tried before the reset.
        assert [u.status for u in fake.uploads_by("aceh")] == [200, 200, 429]
        assert fake.state.limit_hits == 1
    finally:
        fake.stop()


def test_a_late_map_never_holds_its_delivery_or_the_next(fake_x):
    """The delivery is done when its text is out: a map a second late follows on its own, so the
    account's next warning is never held behind it."""
    source = Source(Picture(png(), "Peta"), late=1.0)
    kept = Kept()
    sender = x_sender(fake_x)

    async def go() -> tuple[float, float]:
        start = time.monotonic()
        await sender.send(Job(life_safety(label="PD-1"), checkpoint=kept, picture=source))
        returned = time.monotonic() - start
        await sender.aclose()
        return returned, time.monotonic() - start

    returned, closed = asyncio.run(go())
    assert returned < 0.9 <= closed
    text, reply = fake_x.posts_by("aceh")
    assert reply.reply_to == text.id and len(reply.media_ids) == 1
    assert kept.parts == [text.id, reply.id]
