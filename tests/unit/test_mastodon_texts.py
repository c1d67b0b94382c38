"""The Mastodon channel's pure parts: how a text is measured and cut within the instance's
limit, what the instance's answers mean (MASTODON_ANSWERS), how a rate-limit reset is read,
what the instance document gives, and what the account's configuration accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter, ValidationError

from warnd.channels import mastodon_answers as answers
from warnd.channels.mastodon import DEFAULT_LIMIT, _instance_limits, length, split
from warnd.config.schema import Account, MastodonAccount
from warnd.errors import Failure

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def test_a_url_counts_as_23_characters_whatever_its_length():
    url = "https://www.bmkg.go.id/gempabumi/gempabumi-dirasakan.bmkg?id=" + "x" * 80
    assert length(f"Info: {url} ok") == len("Info: ") + 23 + len(" ok")
    assert length("Gempa M5.1") == 10


def test_a_short_text_is_one_part_as_written():
    assert split("Gempa M5.1 Aceh") == ["Gempa M5.1 Aceh"]


@pytest.mark.parametrize("limit", [500, 1000, 180])
def test_a_long_text_becomes_numbered_labelled_parts_within_the_limit(limit):
    text = "Gempa M6.2 Aceh\n" + "\n".join(f"Kabupaten Contoh Nomor {i}: dirasakan III MMI" for i in range(60))
    parts = split(text, limit, "id", "PD-3.3")
    n = len(parts)
    assert n > 1
    assert all(length(p) <= limit for p in parts)
    assert [p.rsplit(" ", 1)[1] for p in parts] == [f"{i}/{n}" for i in range(1, n + 1)]
    assert all(" PD-3.3 " in p for p in parts)
    assert all(p.startswith("Gempa M6.2 Aceh (lanjutan)") for p in parts[1:])
    # Nothing is lost in the cut: every line of the text is in one part.
    for i in range(60):
        assert sum(f"Nomor {i}:" in p for p in parts) == 1


def test_the_cut_is_the_same_every_time_so_a_resumed_thread_continues_where_it_stopped():
    text = " ".join(["peringatan dini tsunami"] * 80)
    assert split(text, 500, "id", "L") == split(text, 500, "id", "L")


def test_the_instance_document_gives_its_limit_and_defaults_otherwise():
    body = b'{"configuration": {"statuses": {"max_characters": 1000, "characters_reserved_per_url": 30}}}'
    assert _instance_limits(body) == (1000, 30)
    assert _instance_limits(b'{"configuration": {}}') == (DEFAULT_LIMIT, 23)
    assert _instance_limits(b"<html>oops</html>") == (DEFAULT_LIMIT, 23)
    assert _instance_limits(b'{"configuration": {"statuses": {"max_characters": "lots"}}}') == (DEFAULT_LIMIT, 23)
    assert _instance_limits(b'{"configuration": {"statuses": {"max_characters": 3}}}') == (DEFAULT_LIMIT, 23)


@pytest.mark.parametrize(
    ("status", "body", "act", "failure"),
    [
        (429, b'{"error":"Too many requests"}', answers.Act.HOLD, Failure.RATE_LIMITED),
        (429, b"<html>slow down</html>", answers.Act.HOLD, Failure.RATE_LIMITED),
        (401, b'{"error":"The access token is invalid"}', answers.Act.DISABLE, Failure.AUTH),
        (401, b"", answers.Act.DISABLE, Failure.AUTH),
        (403, b'{"error":"Your login is currently disabled"}', answers.Act.DISABLE, Failure.AUTH),
        (403, b"<html>forbidden by proxy</html>", answers.Act.RETRY, Failure.SERVER_ERROR),
        (
            404,
            b'{"error":"The post you are trying to reply to does not appear to exist."}',
            answers.Act.ALONE,
            Failure.BAD_REQUEST,
        ),
        (404, b'{"error":"Record not found"}', answers.Act.DEAD, Failure.BAD_REQUEST),
        (
            422,
            b'{"error":"Validation failed: Text character limit of 500 exceeded"}',
            answers.Act.RECUT,
            Failure.SERVER_ERROR,
        ),
        (422, b'{"error":"Validation failed: Text can\'t be blank"}', answers.Act.DEAD, Failure.BAD_REQUEST),
        (422, b'{"error":"Validation fail', answers.Act.RETRY, Failure.SERVER_ERROR),
        (400, b'{"error":"something new","error_code":"E_NEW"}', answers.Act.DEAD, Failure.BAD_REQUEST),
        (408, b"{}", answers.Act.RETRY, Failure.SERVER_ERROR),
        (502, b"<html>Bad Gateway</html>", answers.Act.RETRY, Failure.SERVER_ERROR),
        (503, b'{"error":"down"}', answers.Act.RETRY, Failure.SERVER_ERROR),
        (302, b"", answers.Act.RETRY, Failure.SERVER_ERROR),
        (302, b"{}", answers.Act.RETRY, Failure.SERVER_ERROR),
    ],
)
def test_every_answer_is_classified_by_status_and_body(status, body, act, failure):
    assert answers.judge(status, body).act is act
    error = answers.classify(status, body, {}, NOW)
    assert error.failure is failure
    assert error.retryable is failure.retryable


def test_a_server_error_is_not_counted_against_the_budget_a_refusal_is():
    assert answers.classify(503, b"{}", {}, NOW).spent is False
    assert answers.classify(422, b'{"error":"x"}', {}, NOW).spent is True


def test_auth_refusal_carries_a_notice_without_the_token():
    e = answers.classify(401, b'{"error":"The access token is invalid"}', {}, NOW)
    assert e.notice and "operator action needed" in e.notice


def test_the_hold_is_the_reset_mastodon_announced_in_iso_8601():
    reset = "2026-11-30T03:04:00.019685Z"
    until = answers.classify(429, b"{}", {"X-RateLimit-Reset": reset, "X-RateLimit-Remaining": "0"}, NOW).hold_until
    assert until == datetime(2026, 11, 30, 3, 4, 0, 19685, tzinfo=UTC)


def test_a_missing_or_unreadable_reset_holds_a_minute_and_a_wild_one_at_most_an_hour():
    assert answers.hold({}, NOW) == NOW + timedelta(seconds=answers.DEFAULT_HOLD)
    assert answers.hold({"x-ratelimit-reset": "soon"}, NOW) == NOW + timedelta(seconds=answers.DEFAULT_HOLD)
    assert answers.hold({"retry-after": "30"}, NOW) == NOW + timedelta(seconds=30)
    assert answers.hold({"x-ratelimit-reset": "2099-01-01T00:00:00Z"}, NOW) == NOW + timedelta(hours=1)
    assert answers.hold({"x-ratelimit-reset": "2020-01-01T00:00:00Z"}, NOW) == NOW


def _account(**kw):
    return TypeAdapter(Account).validate_python(
        {"channel": "mastodon", "name": "Gempa Aceh", "credential": "mastodon-aceh"} | kw
    )


def test_the_account_takes_an_https_instance_and_a_credential_name():
    a = _account(instance="https://mastodon.example/")
    assert isinstance(a, MastodonAccount) and a.instance == "https://mastodon.example"
    assert _account(instance="http://127.0.0.1:8793").instance == "http://127.0.0.1:8793"


@pytest.mark.parametrize(
    ("instance", "says"),
    [
        ("http://mastodon.example", "must be https"),
        ("https://mastodon.example/api/v1", "base URL"),
        ("https://user:pw@mastodon.example", "secret"),
        ("mastodon.example", "base URL"),
    ],
)
def test_a_wrong_instance_url_is_refused_naming_the_field(instance, says):
    with pytest.raises(ValidationError) as e:
        _account(instance=instance)
    (error,) = e.value.errors()
    # The loader reports `loc` and `msg` (config.load), never the input.
    assert error["loc"][-1] == "instance" and says in error["msg"]
    assert "pw" not in error["msg"]
