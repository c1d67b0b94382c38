"""The Telegram channel's measure of a text, its HTML escaping, its thread cut and its table of
answers (channels.telegram, channels.telegram_answers)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from warnd.channels.telegram import CAPTION_LIMIT, LIMIT, escape, split, utf16_length
from warnd.channels.telegram_answers import (
    DEFAULT_HOLD,
    MAX_HOLD,
    Act,
    Answer,
    NotParsed,
    ReplyGone,
    classify,
    judge,
)
from warnd.errors import Failure
from warnd.testing.fake_telegram import plain

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def test_length_is_counted_in_utf16_code_units_as_telegram_counts_it():
    assert utf16_length("Gempa") == 5
    assert utf16_length("🌊") == 2  # outside the BMP: a surrogate pair
    assert utf16_length("é") == 1


def test_escaping_leaves_no_markup_and_parses_back_to_the_same_text():
    text = "Kedalaman <10 km & magnitudo >5 — \"awas\" 'siaga'"
    escaped = escape(text)
    assert "<" not in escaped and ">" not in escaped
    assert plain(escaped, "HTML") == text
    # Unescaped, the same text is refused by an HTML parser as Telegram refuses it.
    assert plain(text, "HTML") is None


def test_a_text_within_the_limit_is_one_part_and_a_longer_one_a_labelled_thread():
    short = "Gempa M5.1 Aceh\nTidak berpotensi tsunami"
    assert split(short) == [short]
    line = "Kabupaten Contoh dengan nama yang panjang sekali untuk diuji 🌊"
    text = "Peringatan Dini Tsunami\n" + "\n".join(f"{i}. {line}" for i in range(200))
    parts = split(text, label="PD-3.3")
    assert len(parts) >= 3
    assert all(utf16_length(p) <= LIMIT for p in parts)
    assert parts[0].endswith(f"PD-3.3 1/{len(parts)}")
    assert all(p.startswith("Peringatan Dini Tsunami (lanjutan)") for p in parts[1:])
    # Escaping lengthens the text sent, never the text Telegram measures after parsing.
    assert all(utf16_length(plain(escape(p), "HTML") or "") <= LIMIT for p in parts)


def test_the_caption_limit_is_telegrams():
    assert CAPTION_LIMIT == 1024 and LIMIT == 4096


def answer(status: int, body: object) -> Answer:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Answer.read(status, raw)


def err(code: int, description: str, **parameters: object) -> dict[str, object]:
    return {"ok": False, "error_code": code, "description": description} | (
        {"parameters": parameters} if parameters else {}
    )


@pytest.mark.parametrize(
    ("status", "body", "act", "failure"),
    [
        (429, err(429, "Too Many Requests: retry after 7", retry_after=7), Act.HOLD, Failure.RATE_LIMITED),
        (401, err(401, "Unauthorized"), Act.DISABLE, Failure.AUTH),
        (403, err(403, "Forbidden: bot was kicked from the channel chat"), Act.DISABLE, Failure.AUTH),
        (403, err(403, "Forbidden: bot is not a member of the channel chat"), Act.DISABLE, Failure.AUTH),
        (400, err(400, "Bad Request: chat not found"), Act.DISABLE, Failure.AUTH),
        (
            400,
            err(400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=-1001),
            Act.DISABLE,
            Failure.AUTH,
        ),
        (400, err(400, "Bad Request: message to be replied not found"), Act.ALONE, Failure.BAD_REQUEST),
        (400, err(400, "Bad Request: can't parse entities: unsupported start tag"), Act.PLAIN, Failure.BAD_REQUEST),
        (400, err(400, "Bad Request: message is too long"), Act.DEAD, Failure.BAD_REQUEST),
        (400, err(400, "Bad Request: some new refusal"), Act.DEAD, Failure.BAD_REQUEST),
        (500, err(500, "Internal Server Error"), Act.RETRY, Failure.SERVER_ERROR),
        (502, b"<html><body>Bad Gateway</body></html>", Act.RETRY, Failure.SERVER_ERROR),
        (200, b'{"ok": true, "result": {"mess', Act.RETRY, Failure.SERVER_ERROR),
        (400, b"not json at all", Act.RETRY, Failure.SERVER_ERROR),
        (200, {"ok": False, "error_code": 200, "description": "odd"}, Act.RETRY, Failure.SERVER_ERROR),
        (302, err(302, "Found"), Act.RETRY, Failure.SERVER_ERROR),
    ],
)
def test_every_answer_is_judged_by_status_and_body(status, body, act, failure):
    a = answer(status, body)
    assert not a.ok
    assert judge(a).act is act
    e = classify(a, NOW, "@gempa_ntt")
    assert e.failure is failure


def test_a_rate_limit_holds_for_the_wait_telegram_names_bounded():
    e = classify(answer(429, err(429, "Too Many Requests: retry after 7", retry_after=7)), NOW, "@c")
    assert e.hold_until == NOW + timedelta(seconds=7)
    e = classify(answer(429, err(429, "Too Many Requests")), NOW, "@c")
    assert e.hold_until == NOW + timedelta(seconds=DEFAULT_HOLD)
    e = classify(answer(429, err(429, "Too Many Requests", retry_after=10**9)), NOW, "@c")
    assert e.hold_until == NOW + timedelta(seconds=MAX_HOLD)


def test_a_refused_bot_is_disabled_with_a_notice_that_says_what_to_fix():
    e = classify(answer(403, err(403, "Forbidden: bot was kicked from the channel chat")), NOW, "@gempa_ntt")
    assert e.notice is not None and "@gempa_ntt" in e.notice and "administrator" in e.notice
    moved = answer(400, err(400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=-1009))
    e = classify(moved, NOW, "-42")
    assert e.notice is not None and "-1009" in e.notice
    # The runtime's target.disabled notice quotes the error itself: the fix is in it too.
    assert "set chat_id to -1009" in str(e)


def test_reply_gone_and_unparsed_html_have_their_own_errors():
    assert isinstance(
        classify(answer(400, err(400, "Bad Request: message to be replied not found")), NOW, "@c"), ReplyGone
    )
    assert isinstance(classify(answer(400, err(400, "Bad Request: can't parse entities: x")), NOW, "@c"), NotParsed)


def test_a_server_error_gives_its_request_back_to_the_budget():
    assert not classify(answer(503, err(503, "Service Unavailable")), NOW, "@c").spent
    assert classify(answer(400, err(400, "Bad Request: message is too long")), NOW, "@c").spent
