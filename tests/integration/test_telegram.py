"""The Telegram sender against the fake Bot API over loopback: a message, a thread, a
correction as a reply, the map, and every refusal classified as the table says."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from tests.conftest import RULES_ANY_QUAKE, write_config
from tests.integration.channel_kit import DIRECT, Kept, Ready
from tests.integration.test_channels import delivery
from warnd.channels.base import Job, Picture
from warnd.channels.registry import make_senders
from warnd.channels.telegram import TelegramSender, split
from warnd.clock import SystemClock
from warnd.config.load import load
from warnd.config.secrets import Credentials, Secret
from warnd.errors import ConfigError, DeliveryError, Failure
from warnd.metrics import Metrics
from warnd.testing.fake_telegram import FakeTelegram

TOKEN = "123456:AAE-secret-token-value"
BOT = "warnd_test_bot"
CHAT = "@gempa_aceh"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def fake():
    with FakeTelegram({TOKEN: BOT}, {BOT: [CHAT, "-1001234"]}) as server:
        yield server


def sender(fake: FakeTelegram, *, token: str = TOKEN, chat: str = CHAT, timeout: float = 5.0) -> TelegramSender:
    return TelegramSender(
        "aceh",
        token=Secret(token),
        chat_id=chat,
        bot="tg-bot",
        api_base=fake.base,
        timeout=timeout,
        chat_budget=(18, 60.0, 4),
        bot_budget=(25, 1.0, 5),
        outbound=DIRECT,
        clock=SystemClock(),
        picture_wait=0.5,
    )


async def _send(s: TelegramSender, job: Job):
    try:
        return await s.send(job)
    finally:
        await s.aclose()


def send(s: TelegramSender, job: Job):
    return asyncio.run(_send(s, job))


def test_a_warning_goes_as_one_html_message_and_its_text_arrives_as_written(fake):
    text = "Gempa M5.1 Aceh, kedalaman <10 km & dirasakan III MMI"
    kept = Kept()
    sent = send(sender(fake), Job(delivery(text), checkpoint=kept))
    (m,) = fake.messages_in(CHAT)
    assert m.text == text and m.reply_to is None
    assert sent.remote_id == str(m.message_id) and kept.parts == [sent.remote_id]
    assert len(fake.attempts_in(CHAT)) == 1


def test_a_correction_replies_to_the_first_message(fake):
    first = send(sender(fake), Job(delivery("Gempa M5.1 Aceh")))
    again = send(sender(fake), Job(delivery("Koreksi: Gempa M5.0 Aceh", wid="w-2"), reply_to=first.remote_id))
    first_m, correction = fake.messages_in(CHAT)
    assert correction.reply_to == first_m.message_id and again.remote_id == str(correction.message_id)


def test_a_reply_to_a_deleted_message_goes_on_its_own(fake):
    sent = send(sender(fake), Job(delivery("Koreksi: Gempa M5.0 Aceh"), reply_to="999"))
    (m,) = fake.messages_in(CHAT)
    assert m.reply_to is None and sent.remote_id == str(m.message_id)


def long_text() -> str:
    line = "Kabupaten Contoh dengan nama yang panjang sekali untuk diuji"
    return "Peringatan Dini Tsunami\n" + "\n".join(f"{i}. {line}" for i in range(160))


def test_a_long_text_is_a_thread_of_replies_resumed_after_a_crash_without_reposting(fake):
    text = long_text()
    parts = split(text, label="PD-1")
    assert len(parts) >= 3
    kept = Kept()
    head = send(sender(fake), Job(delivery(text, label="PD-1"), checkpoint=kept))
    messages = fake.messages_in(CHAT)
    assert [m.text for m in messages] == parts
    assert [m.reply_to for m in messages[1:]] == [m.message_id for m in messages[:-1]]
    assert head.remote_id == kept.parts[0] == str(messages[0].message_id)

    # A crash after two parts: the resumed delivery sends only the rest, chained to part 2.
    fake.state.messages.clear()
    fake.state.attempts.clear()
    recorded = kept.parts[:2]
    fake.state.messages.extend(messages[:2])
    again = Kept()
    resumed = send(sender(fake), Job(delivery(text, label="PD-1", parts=recorded), checkpoint=again))
    assert resumed.remote_id == recorded[0]
    attempts = fake.attempts_in(CHAT)
    assert [a.text for a in attempts] == [p.replace("<", "&lt;") for p in parts[2:]]
    assert len(again.parts) == len(parts) - 2
    assert fake.messages_in(CHAT)[2].reply_to == int(recorded[1])


def test_a_rate_limit_holds_for_the_wait_telegram_names(fake):
    fake.script("429:7")
    with pytest.raises(DeliveryError) as e:
        send(sender(fake), Job(delivery()))
    assert e.value.failure is Failure.RATE_LIMITED and e.value.hold_until is not None
    assert 6 <= (e.value.hold_until - SystemClock().now()).total_seconds() <= 8
    assert fake.messages_in(CHAT) == []


def test_the_fake_enforces_the_per_chat_limit(fake):
    fake.per_chat = 2
    s1, s2 = (send(sender(fake), Job(delivery(f"Gempa {i}"))) for i in range(2))
    assert s1.remote_id and s2.remote_id
    with pytest.raises(DeliveryError) as e:
        send(sender(fake), Job(delivery("Gempa 3")))
    assert e.value.failure is Failure.RATE_LIMITED and e.value.hold_until is not None


@pytest.mark.parametrize(
    ("setup", "failure"),
    [
        (lambda f: f.kick(BOT, CHAT), Failure.AUTH),
        (lambda f: f.revoke(TOKEN), Failure.AUTH),
        (lambda f: f.script("500"), Failure.SERVER_ERROR),
        (lambda f: f.script("502-html"), Failure.SERVER_ERROR),
        (lambda f: f.script("drop"), Failure.NETWORK),
    ],
)
def test_refusals_are_classified(fake, setup, failure):
    setup(fake)
    kept = Kept()
    with pytest.raises(DeliveryError) as e:
        send(sender(fake), Job(delivery(), checkpoint=kept))
    assert e.value.failure is failure
    assert e.value.retryable is (failure is not Failure.AUTH)
    if failure is Failure.AUTH:
        assert e.value.notice and "enable the account" in e.value.notice
    else:
        assert kept.unanswered == [1]


def test_a_chat_the_bot_is_not_in_disables_the_target(fake):
    with pytest.raises(DeliveryError) as e:
        send(sender(fake, chat="@somewhere_else"), Job(delivery()))
    assert e.value.failure is Failure.AUTH


def test_a_lost_answer_is_resent_once_and_the_repeat_is_visible_and_logged(fake, capsys):
    # Telegram took the message, the answer was cut off: warnd cannot know, and sends again.
    fake.script("cut-json")
    kept = Kept()
    with pytest.raises(DeliveryError) as e:
        send(sender(fake), Job(delivery(), checkpoint=kept))
    assert e.value.failure is Failure.SERVER_ERROR and kept.unanswered == [1]
    again = send(sender(fake), Job(delivery(unanswered=1), checkpoint=Kept()))
    assert again.remote_id is not None
    assert len(fake.messages_in(CHAT)) == 2  # the documented repeat: one per lost answer
    assert "telegram.possible_repeat" in capsys.readouterr().out


def test_a_request_that_never_reached_telegram_is_not_taken_for_a_possible_repeat(fake):
    fake.stop()
    kept = Kept()
    with pytest.raises(DeliveryError) as e:
        send(sender(fake), Job(delivery(), checkpoint=kept))
    assert e.value.failure is Failure.NETWORK and not e.value.spent and kept.unanswered == []


def test_a_5xx_is_retried_and_then_delivered(fake):
    fake.script("500")
    with pytest.raises(DeliveryError) as e:
        send(sender(fake), Job(delivery()))
    assert e.value.retryable and not e.value.spent
    assert send(sender(fake), Job(delivery())).remote_id == "1"


def test_the_map_is_the_caption_when_the_text_fits(fake):
    job = Job(delivery("Gempa M5.1 Aceh"), picture=Ready(Picture(PNG, "Peta gempa M5.1 di Aceh")))
    sent = send(sender(fake), job)
    (m,) = fake.messages_in(CHAT)
    assert m.photo == PNG and m.text == "Gempa M5.1 Aceh" and sent.remote_id == str(m.message_id)
    assert [a.method for a in fake.attempts_in(CHAT)] == ["sendPhoto"]


def test_a_late_map_follows_the_text_as_a_reply_with_its_description(fake):
    job = Job(
        replace(delivery("Gempa M5.1 Aceh")),
        picture=Ready(Picture(PNG, "Peta gempa M5.1 di Aceh"), delay=0.8),
    )
    sent = send(sender(fake), job)
    text, photo = fake.messages_in(CHAT)
    assert text.photo is None and sent.remote_id == str(text.message_id)
    assert photo.photo == PNG and photo.reply_to == text.message_id and photo.text == "Peta gempa M5.1 di Aceh"


def test_a_map_telegram_refuses_never_holds_back_the_text(fake):
    job = Job(delivery("Gempa M5.1 Aceh"), picture=Ready(Picture(b"not a png", "Peta")))
    s = sender(fake)
    before = media_failed("telegram", s.account), media_failed("x", s.account, "warnd_x_media_failed")
    sent = send(s, job)
    (m,) = fake.messages_in(CHAT)
    assert m.photo is None and m.text == "Gempa M5.1 Aceh" and sent.remote_id == str(m.message_id)
    # The map left off is counted under Telegram's channel, and not under X's older metric.
    assert media_failed("telegram", s.account) == {**before[0], "photo_refused": before[0].get("photo_refused", 0) + 1}
    assert media_failed("x", s.account, "warnd_x_media_failed") == before[1]


def media_failed(channel: str, account: str, name: str = "warnd_media_failed") -> dict[str, float]:
    """The account's maps left off, by reason, as the metrics endpoint shows them."""
    return {
        sample.labels["reason"]: sample.value
        for family in Metrics().registry.collect()
        if family.name == name
        for sample in family.samples
        if sample.name == name + "_total"
        and sample.labels["account"] == account
        and sample.labels.get("channel", "x") == channel
    }


def test_the_probe_is_getme_and_a_revoked_token_fails_it(fake):
    s = sender(fake)
    asyncio.run(s.probe())
    assert fake.state.me == [200]
    fake.revoke(TOKEN)
    with pytest.raises(DeliveryError) as e:
        asyncio.run(sender(fake).probe())
    assert e.value.failure is Failure.AUTH


def test_the_token_is_never_in_an_error_or_a_log_line(fake, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    for fault in ("drop", "500", "502-html", "401", "403-kicked", "429:3"):
        fake.script(fault)
        with pytest.raises(DeliveryError) as e:
            send(sender(fake), Job(delivery()))
        assert TOKEN not in str(e.value) and TOKEN not in (e.value.notice or "")
    fake.script("slow:1")
    with pytest.raises(DeliveryError) as e:
        send(sender(fake, timeout=0.3), Job(delivery()))
    assert e.value.failure is Failure.NETWORK and TOKEN not in str(e.value)
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err + caplog.text
    assert TOKEN.split(":")[1] not in repr(sender(fake))


def _config(tmp_path, chat_id: str = '"@gempa_aceh"'):
    account = f'channel: telegram, name: Aceh, credential: tg-aceh, chat_id: {chat_id}, regions: ["11"]'
    accounts = f"\n  aceh: {{{account}}}\n"
    feeds = "  - id: autogempa\n    format: bmkg-tews\n    url: http://127.0.0.1:9/a.json\n"
    return load(write_config(tmp_path, feeds=feeds, rules=RULES_ANY_QUAKE, accounts=accounts))


def test_the_account_is_built_from_config_with_the_token_from_the_credential_store(tmp_path):
    cfg = _config(tmp_path)
    built = make_senders(cfg.file, lambda p: tmp_path / p, tmp_path, DIRECT, Credentials(None, {}))
    assert "account:aceh" not in built.senders
    assert "WARND_SECRET_TG_ACEH" in built.missing["account:aceh"]
    built = make_senders(
        cfg.file, lambda p: tmp_path / p, tmp_path, DIRECT, Credentials(None, {"WARND_SECRET_TG_ACEH": TOKEN})
    )
    s = built.senders["account:aceh"]
    assert isinstance(s, TelegramSender) and s.chat_id == "@gempa_aceh" and s.channel == "telegram"
    assert [b.bucket for b in s.budgets] == ["telegram:aceh", "telegram-bot:tg-aceh", "telegram-pace:aceh"]
    assert TOKEN not in repr(s)


def test_a_chat_id_that_is_neither_a_name_nor_a_number_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as e:
        _config(tmp_path, chat_id='"gempa aceh"')
    assert "chat_id" in str(e.value)
