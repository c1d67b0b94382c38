"""Each channel against a real local server: the fake X API (OAuth 1.0a signatures verified) and
a partner webhook sink (HMAC signatures verified)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.integration.channel_kit import DIRECT, Kept
from tests.integration.conftest import APP
from warnd.channels import x_answers
from warnd.channels.base import Job
from warnd.channels.webhook import WebhookSender
from warnd.channels.x import XSender, split, weighted
from warnd.clock import FixedClock, SystemClock
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
from warnd.testing.webhook_sink import WebhookSink

# What a newsroom is handed: its verification code is run here as written.
PARTNERS_DOC = Path(__file__).resolve().parents[2] / "docs" / "partners.md"

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def delivery(text="Gempa M5.1 Aceh", target="account:aceh", wid="w-1", parts=(), unanswered=None, label=None):
    w = Warning(
        id=wid,
        event_id="e-1",
        revision="r",
        rule="gempa",
        account="aceh",
        kind=WarningKind.NEW,
        severity="severe",
        priority=Priority.NORMAL,
        regions=(Region("11", "Aceh", "province"),),
        lang="id",
        text=text,
        status=Status.ACTUAL,
        created_at=NOW,
        thread_label=label,
    )
    event = HazardEvent("e-1", "bmkg-autogempa", "bmkg-tews", Hazard.EARTHQUAKE, MsgType.ALERT, Status.ACTUAL, NOW)
    return Delivery(
        1, w, target, DeliveryState.PENDING, 0, NOW, NOW, parts=tuple(parts), unanswered=unanswered, event=event
    )


def x_sender(fake, token="tok-aceh", secret="sec-aceh", read_timeout=5.0):
    return XSender(
        "aceh",
        consumer_key=Secret(APP[0]),
        consumer_secret=Secret(APP[1]),
        access_token=Secret(token),
        access_token_secret=Secret(secret),
        api_base=fake.base,
        connect_timeout=1.0,
        read_timeout=read_timeout,
        account_budget=(90, 900.0),
        app_budget=(9000, 86400.0),
        outbound=DIRECT,
        clock=SystemClock(),
    )


def send(sender, job):
    return asyncio.run(sender.send(job))


def test_x_posts_with_a_valid_oauth_signature_and_replies(fake_x):
    s = x_sender(fake_x)
    first = send(s, Job(delivery()))
    assert first.remote_id and not first.duplicate
    second = send(s, Job(delivery("RALAT: M5.0", wid="w-2"), reply_to=first.remote_id))
    posts = fake_x.posts_by("aceh")
    assert [p.text for p in posts] == ["Gempa M5.1 Aceh", "RALAT: M5.0"]
    assert posts[1].reply_to == first.remote_id == posts[0].id
    assert second.remote_id == posts[1].id
    assert fake_x.state.bad_signatures == 0


def test_x_request_signed_with_the_wrong_secret_is_refused_as_auth(fake_x):
    s = x_sender(fake_x, secret="not-the-secret")
    with pytest.raises(DeliveryError) as e:
        send(s, Job(delivery()))
    assert e.value.failure is Failure.AUTH
    assert fake_x.state.bad_signatures == 1 and not fake_x.state.posts
    assert "not-the-secret" not in str(e.value) and "sec-aceh" not in repr(s)


def test_long_text_becomes_a_numbered_thread_resumable_after_a_crash(fake_x):
    text = "\n".join(f"Wilayah {i}: Kabupaten Contoh Nomor {i} dengan nama panjang sekali" for i in range(1, 16))
    parts = split(text)
    assert len(parts) >= 3 and all(weighted(p) <= 280 for p in parts)
    assert parts[0].endswith(f" 1/{len(parts)}") and parts[-1].endswith(f" {len(parts)}/{len(parts)}")
    # Later parts carry the first line: the same region list under another quake is another text.
    other = split(text.replace("Wilayah 1:", "Gempa lain 1:"))
    assert all(p.startswith("Wilayah 1:") and "(lanjutan)" in p for p in parts[1:])
    assert not set(parts) & set(other)
    s = x_sender(fake_x)
    recorded: list[str] = []
    # The first two parts went out before a crash: the resumed delivery posts only the rest.
    head = send(s, Job(delivery(text), checkpoint=Kept(parts=recorded)))
    posts = fake_x.posts_by("aceh")
    assert len(posts) == len(parts) and recorded == [p.id for p in posts]
    assert head.remote_id == posts[0].id
    assert [p.reply_to for p in posts[1:]] == [p.id for p in posts[:-1]]

    fake_x.state.posts.clear()
    fake_x.state.posts.extend(posts[:2])
    again: list[str] = []
    send(s, Job(delivery(text, parts=recorded[:2]), checkpoint=Kept(parts=again)))
    resumed = fake_x.posts_by("aceh")
    assert len(resumed) == len(parts) and len(again) == len(parts) - 2
    assert resumed[2].reply_to == recorded[1]


def test_x_failures_are_classified(fake_x):
    s = x_sender(fake_x, read_timeout=0.5)
    expected = {
        "500": Failure.SERVER_ERROR,
        "503-html": Failure.SERVER_ERROR,
        "drop": Failure.NETWORK,
        "hang": Failure.NETWORK,
        "401": Failure.AUTH,
    }
    # The names requests gave these failures, now that httpx carries the request.
    messages = {"drop": "X API unreachable: ConnectionError", "hang": "X API unreachable: ReadTimeout"}
    for fault, failure in expected.items():
        fake_x.script(fault)
        with pytest.raises(DeliveryError) as e:
            send(s, Job(delivery(f"teks {fault}")))
        assert e.value.failure is failure, fault
        assert fault not in messages or str(e.value) == messages[fault], str(e.value)
    fake_x.script("429")
    with pytest.raises(DeliveryError) as e:
        send(s, Job(delivery("teks 429")))
    assert e.value.failure is Failure.RATE_LIMITED
    assert e.value.hold_until is not None and e.value.hold_until > datetime.now(UTC)
    assert not fake_x.state.posts


def test_an_unknown_outcome_resent_counts_as_delivered(fake_x):
    s = x_sender(fake_x)
    asked: list[int] = []
    fake_x.script("drop-after")
    with pytest.raises(DeliveryError) as e:
        send(s, Job(delivery(), checkpoint=Kept(unanswered=asked)))
    assert e.value.failure is Failure.NETWORK
    assert len(fake_x.posts_by("aceh")) == 1  # it did get through
    # Its request got no answer: recorded as such.
    assert asked == [1]
    again = send(s, Job(delivery(unanswered=asked[-1])))
    assert again.duplicate and len(fake_x.posts_by("aceh")) == 1 and fake_x.state.duplicates == 1


def test_a_duplicate_refusal_of_a_post_never_sent_is_an_error_not_a_delivery(fake_x, capsys):
    s = x_sender(fake_x)
    send(s, Job(delivery("Gempa M5.1 Aceh", wid="w-1")))
    asked: list[int] = []
    # Another warning whose text X already has from this account: nothing of warnd's record
    # says it was posted, so the refusal is no delivery.
    with pytest.raises(DeliveryError) as e:
        send(s, Job(delivery("Gempa M5.1 Aceh", wid="w-2"), checkpoint=Kept(unanswered=asked)))
    assert e.value.failure is Failure.BAD_REQUEST and not e.value.retryable
    assert "part 1/1" in str(e.value)
    assert asked == []
    (refused,) = [a for a in fake_x.attempts_by("aceh") if a.duplicate]
    assert refused.text == "Gempa M5.1 Aceh" and refused.post_id is None
    out = capsys.readouterr().out
    assert "delivery.duplicate_refused" in out and "warning_id=w-2" in out and "part=1" in out


def test_a_thread_part_refused_as_a_repeat_is_an_error_unless_its_request_went_unanswered(fake_x):
    text = "\n".join(f"Wilayah {i}: Kabupaten Contoh Nomor {i} dengan nama panjang sekali" for i in range(1, 16))
    parts = split(text, label="PD-3.3")
    s = x_sender(fake_x)
    # Part 2 went out and its answer was lost: X has it, warnd recorded only the request.
    recorded: list[str | None] = []
    asked: list[int] = []
    fake_x.script("slow:0", "drop-after")
    with pytest.raises(DeliveryError):
        send(s, Job(delivery(text, label="PD-3.3"), checkpoint=Kept(recorded, asked)))
    assert len(recorded) == 1 and asked == [2]
    resumed: list[str | None] = []
    send(
        s,
        Job(
            delivery(text, parts=recorded, unanswered=asked[-1], label="PD-3.3"),
            checkpoint=Kept(parts=resumed),
        ),
    )
    # Part 2 counted as posted (its id unknown), the rest posted once each.
    assert resumed[0] is None and all(resumed[1:]) and len(resumed) == len(parts) - 1
    assert [p.text for p in fake_x.posts_by("aceh")] == parts
    assert [a.duplicate for a in fake_x.attempts_by("aceh")].count(True) == 1

    # The same parts under a delivery that never sent them: refused, and an error.
    with pytest.raises(DeliveryError) as e:
        send(s, Job(delivery(text, wid="w-2", parts=recorded, label="PD-3.3")))
    assert e.value.failure is Failure.BAD_REQUEST and "part 2/" in str(e.value)


def test_a_suspended_account_is_an_auth_failure_not_a_duplicate(fake_x):
    fake_x.suspend("aceh")
    with pytest.raises(DeliveryError) as e:
        send(x_sender(fake_x), Job(delivery()))
    assert e.value.failure is Failure.AUTH


def test_reply_to_a_deleted_post_goes_out_on_its_own(fake_x):
    sent = send(x_sender(fake_x), Job(delivery(), reply_to="999"))
    (post,) = fake_x.posts_by("aceh")
    assert post.reply_to is None and sent.remote_id == post.id


@pytest.fixture
def sink():
    s = WebhookSink({"radio": "radio-secret"})
    s.start()
    yield s
    s.stop()


def hook(url, fmt="json", secret="radio-secret", timeout=2.0):
    return WebhookSender(
        "radio",
        url=url,
        secret=Secret(secret),
        fmt=fmt,
        timeout=timeout,
        user_agent="warnd-test",
        outbound=DIRECT,
        clock=SystemClock(),
    )


def test_webhook_json_is_signed_and_idempotent(sink):
    d = delivery(target="partner:radio")

    async def twice():
        s = hook(sink.url("radio"))
        first = await s.send(Job(d))
        await s.send(Job(d))  # a retry of the same delivery
        await s.aclose()
        return first

    assert not asyncio.run(twice()).duplicate
    (receipt,) = sink.receipts("radio")
    assert receipt.key == d.idempotency_key and sink.state.repeats[d.idempotency_key] == 1
    body = json.loads(receipt.body)
    assert body["warning"]["id"] == "w-1" and body["event"]["hazard"] == "earthquake"
    assert body["idempotency_key"] == d.idempotency_key


def test_webhook_cap_body(sink):
    d = delivery(target="partner:radio")
    d = Delivery(d.id, d.warning, d.target, d.state, 0, NOW, NOW, cap="<alert>cap</alert>")
    send(hook(sink.url("radio"), fmt="cap"), Job(d))
    (receipt,) = sink.receipts("radio")
    assert receipt.body == b"<alert>cap</alert>" and receipt.content_type.startswith("application/cap+xml")


def test_a_partners_retry_after_is_counted_on_the_daemons_clock(sink):
    # A drill or a test runs on a timeline of its own: the hold a 429 sets must be on it too.
    drill = datetime(2031, 1, 1, tzinfo=UTC)
    s = WebhookSender(
        "radio",
        url=sink.url("radio"),
        secret=Secret("radio-secret"),
        fmt="json",
        timeout=2.0,
        user_agent="warnd-test",
        outbound=DIRECT,
        clock=FixedClock(drill),
    )
    sink.script("radio", "429")
    with pytest.raises(DeliveryError) as e:
        send(s, Job(delivery(target="partner:radio")))
    assert e.value.failure is Failure.RATE_LIMITED
    assert e.value.hold_until == drill + timedelta(seconds=1)


def test_webhook_failures_are_classified(sink, refused_port):
    for status, failure in (("500", Failure.SERVER_ERROR), ("429", Failure.RATE_LIMITED), ("410", Failure.BAD_REQUEST)):
        sink.script("radio", status)
        with pytest.raises(DeliveryError) as e:
            send(hook(sink.url("radio")), Job(delivery(target="partner:radio")))
        assert e.value.failure is failure
        if status == "429":
            assert e.value.hold_until is not None
    with pytest.raises(DeliveryError) as e:
        send(hook(sink.url("radio"), secret="wrong"), Job(delivery(target="partner:radio")))
    assert e.value.failure is Failure.AUTH and sink.state.rejected == [("radio", "bad signature")]
    with pytest.raises(DeliveryError) as e:
        send(hook(f"http://127.0.0.1:{refused_port}/radio"), Job(delivery(target="partner:radio")))
    assert e.value.failure is Failure.NETWORK
    assert sink.receipts("radio") == []


def documented_verifier():
    """The partner's verification code exactly as the partners' page gives it."""
    page = PARTNERS_DOC.read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    (code,) = [b for b in blocks if "def verify_warnd" in b]
    scope: dict = {}
    exec(compile(code, "docs/partners.md", "exec"), scope)
    return scope["verify_warnd"]


def test_the_documented_signature_check_accepts_warnd_and_refuses_tampering():
    got: list[tuple[dict[str, str], bytes]] = []

    class Capture(BaseHTTPRequestHandler):
        def log_message(self, *args):
            return

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        send(hook(url), Job(delivery(target="partner:radio")))
    finally:
        server.shutdown()
        server.server_close()
    verify_warnd = documented_verifier()
    ((headers, body),) = got
    assert verify_warnd(b"radio-secret", headers, body)
    assert not verify_warnd(b"another-secret", headers, body)
    assert not verify_warnd(b"radio-secret", headers, body.replace(b"Aceh", b"Bali"))
    stale = {**headers, "X-Warnd-Timestamp": str(int(headers["X-Warnd-Timestamp"]) - 600)}
    assert not verify_warnd(b"radio-secret", stale, body)


# How to make the fake X give each row's answer, and what XSender must make of it. Every row of
# the table has at least one scenario (checked below), so a row added without a test fails.
def _expect_failure(failure, retryable=None, hold=False, app_hold=False):
    def check(fake_x, sender, job):
        before = datetime.now(UTC)
        with pytest.raises(DeliveryError) as e:
            send(sender, job)
        assert e.value.failure is failure
        assert (e.value.hold_until is not None) == hold
        assert (e.value.app_hold_until is not None) == app_hold
        if app_hold:
            assert e.value.app_hold_until >= before + timedelta(seconds=x_answers.CREDITS_HOLD - 5)
            assert e.value.notice and "credits" in e.value.notice
        if retryable is not None:
            assert e.value.retryable == retryable
        # One request: nothing is tried again inside the channel.
        assert len(fake_x.attempts_by("aceh")) == 1

    return check


def _posted_alone(fake_x, sender, job):
    sent = send(sender, job)
    (post,) = fake_x.posts_by("aceh")
    assert post.reply_to is None and sent.remote_id == post.id
    first, second = fake_x.attempts_by("aceh")
    assert first.reply_to == "999" and second.reply_to is None


def _duplicate_of_an_unanswered_part(fake_x, sender, job):
    send(x_sender(fake_x), Job(delivery()))  # X has the text from a request whose answer was lost
    sent = send(sender, Job(delivery(unanswered=1)))
    assert sent.duplicate and len(fake_x.posts_by("aceh")) == 1


def _duplicate_never_sent(fake_x, sender, job):
    send(x_sender(fake_x), Job(delivery()))
    with pytest.raises(DeliveryError) as e:
        send(sender, Job(delivery()))
    assert e.value.failure is Failure.BAD_REQUEST


SCENARIOS = [
    ("402 credits", 402, "", ["402"], _expect_failure(Failure.RATE_LIMITED, app_hold=True)),
    ("429", 429, "", ["429"], _expect_failure(Failure.RATE_LIMITED, hold=True)),
    ("401", 401, "", ["401"], _expect_failure(Failure.AUTH)),
    ("403 parent gone", 403, x_answers._GONE, [], _posted_alone),
    ("403 duplicate, unanswered", 403, "duplicate content", [], _duplicate_of_an_unanswered_part),
    ("403 duplicate, never sent", 403, "duplicate content", [], _duplicate_never_sent),
    ("403 suspended", 403, "suspended", ["suspend"], _expect_failure(Failure.AUTH)),
    (
        "403 not permitted",
        403,
        "not permitted to perform this action",
        ["403-not-permitted"],
        _expect_failure(Failure.AUTH),
    ),
    ("503 html", None, None, ["html:503"], _expect_failure(Failure.SERVER_ERROR, retryable=True)),
    ("502 cut json", None, None, ["cut-json:502"], _expect_failure(Failure.SERVER_ERROR, retryable=True)),
    ("403 html", None, None, ["html:403"], _expect_failure(Failure.SERVER_ERROR, retryable=True)),
    ("418 cut json", None, None, ["cut-json:418"], _expect_failure(Failure.SERVER_ERROR, retryable=True)),
    ("403 other", 403, "", ["status:403"], _expect_failure(Failure.AUTH)),
    ("408", 408, "", ["status:408"], _expect_failure(Failure.SERVER_ERROR, retryable=True)),
    ("500", range(500, 600), "", ["500"], _expect_failure(Failure.SERVER_ERROR, retryable=True)),
    ("422", range(400, 500), "", ["status:422"], _expect_failure(Failure.BAD_REQUEST, retryable=False)),
    ("999", None, "", ["status:999"], _expect_failure(Failure.SERVER_ERROR, retryable=True)),
]


def test_every_row_of_the_x_table_has_a_scenario():
    rows = {(r.status, r.body) for r in x_answers.X_ANSWERS}
    assert rows == {(status, body) for _, status, body, _, _ in SCENARIOS}


@pytest.mark.parametrize(("name", "status", "body", "faults", "check"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_x_answers_as_the_table_says(fake_x, name, status, body, faults, check):
    for fault in faults:
        if fault == "suspend":
            fake_x.suspend("aceh")
        else:
            fake_x.script(fault)
    check(fake_x, x_sender(fake_x), Job(delivery(), reply_to="999" if "gone" in name else None))


# A partner's secret in Standard Webhooks form: whsec_ + base64 of 24 random-looking bytes.
WHSEC = "whsec_" + base64.b64encode(b"partner-key-Qm4Tz8Lw2Hc6").decode()


def verified(secret: str | bytes, request) -> None:
    """The off-the-shelf Standard Webhooks verifier a partner's stack uses; raises when it refuses."""
    Webhook(secret).verify(request.body, request.headers, json_parse=False)


def test_the_standardwebhooks_library_verifies_a_warning_and_a_probe(sink):
    d = delivery(target="partner:radio")

    async def deliver_and_probe():
        s = hook(sink.url("radio"))
        await s.send(Job(d))
        await s.probe()
        await s.aclose()

    asyncio.run(deliver_and_probe())
    warning, probe = sink.state.requests
    assert warning.headers["webhook-id"] == d.idempotency_key == warning.headers["Idempotency-Key"]
    assert probe.headers["webhook-id"] == probe.headers["Idempotency-Key"]
    assert probe.headers["webhook-id"].startswith("probe-")
    # A plain secret's own bytes are the key; its whsec_ form, as the partners' page says how to build it.
    plain_as_whsec = "whsec_" + base64.b64encode(b"radio-secret").decode()
    for request in (warning, probe):
        verified(b"radio-secret", request)
        verified(plain_as_whsec, request)
        with pytest.raises(WebhookVerificationError):
            verified(b"another-secret", request)
        tampered = replace(request, body=request.body.replace(b"radio", b"tv"))
        assert tampered.body != request.body
        with pytest.raises(WebhookVerificationError):
            verified(b"radio-secret", tampered)
    assert len(sink.receipts("radio")) == 1 and len(sink.probes("radio")) == 1


def test_a_whsec_secret_is_used_as_the_spec_says_and_the_sink_checks_it():
    s = WebhookSink({"radio": WHSEC})
    s.start()
    try:
        send(hook(s.url("radio"), secret=WHSEC), Job(delivery(target="partner:radio")))
        (request,) = s.state.requests
        # The deprecated header still verifies, the Standard Webhooks one no longer: refused.
        moved = {**request.headers, "webhook-id": "another-id"}
        refused = httpx.post(s.url("radio"), content=request.body, headers=moved, timeout=5)
    finally:
        s.stop()
    verified(WHSEC, request)
    with pytest.raises(WebhookVerificationError):
        verified(WHSEC.encode(), request)
    assert refused.status_code == 401 and s.state.rejected == [("radio", "bad webhook-signature")]
    assert len(s.receipts("radio")) == 1


def test_while_a_secret_rotates_each_secret_verifies_the_delivery(sink):
    send(hook(sink.url("radio"), secret=f"radio-secret\n{WHSEC}\n"), Job(delivery(target="partner:radio")))
    (request,) = sink.state.requests
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(sig.startswith("v1,") for sig in signatures)
    verified(b"radio-secret", request)
    verified(WHSEC, request)
    with pytest.raises(WebhookVerificationError):
        verified(b"another-secret", request)
    # The sink holds the first secret and also checks the deprecated header, made with it alone.
    assert len(sink.receipts("radio")) == 1 and sink.state.rejected == []


def test_a_retry_carries_the_same_webhook_id_and_verifies(sink):
    d = delivery(target="partner:radio")
    sink.script("radio", "500")
    with pytest.raises(DeliveryError):
        send(hook(sink.url("radio")), Job(d))
    send(hook(sink.url("radio")), Job(d))
    first, retry = sink.state.requests
    assert first.headers["webhook-id"] == retry.headers["webhook-id"] == d.idempotency_key
    assert first.body == retry.body
    verified(b"radio-secret", first)
    verified(b"radio-secret", retry)
    assert sink.keys("radio") == [d.idempotency_key]


def test_a_malformed_whsec_secret_is_refused_without_showing_it():
    with pytest.raises(ValueError) as e:
        hook("http://127.0.0.1:9/radio", secret="whsec_not*base64*Zq7")
    assert "Zq7" not in str(e.value) and "whsec_" in str(e.value)


def test_the_documented_standard_webhooks_check_accepts_warnd_and_refuses_tampering(sink):
    page = PARTNERS_DOC.read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    (code,) = [b for b in blocks if "from standardwebhooks" in b]
    d = delivery(target="partner:radio")
    d = Delivery(d.id, d.warning, d.target, d.state, 0, NOW, NOW, cap="<alert>Gempa Aceh</alert>")
    send(hook(sink.url("radio"), fmt="cap"), Job(d))
    (request,) = sink.state.requests
    plain_as_whsec = "whsec_" + base64.b64encode(b"radio-secret").decode()
    for secret in (b"radio-secret", plain_as_whsec):
        exec(
            compile(code, "docs/partners.md", "exec"),
            {"secret": secret, "body": request.body, "headers": request.headers},
        )
        tampered = {"secret": secret, "body": request.body.replace(b"Aceh", b"Bali"), "headers": request.headers}
        with pytest.raises(WebhookVerificationError):
            exec(compile(code, "docs/partners.md", "exec"), tampered)
