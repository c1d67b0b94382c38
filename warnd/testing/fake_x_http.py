"""The fake X on the wire: its routes (POST /2/tweets, GET /2/users/me, POST /2/media/upload and
/2/media/metadata), X's problem bodies, and the scripted faults a request meets (see fake_x for
the list)."""

from __future__ import annotations

import json
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

from warnd.testing._server import QuietHandler

if TYPE_CHECKING:
    from warnd.testing.fake_x import FakeX, _User

DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
RATE_LIMITED = {"errors": [{"code": 88, "message": "Rate limit exceeded"}]}
# The app's pay-per-use credits are spent: as developers report X answering it (the body is not
# in X's documentation).
CREDITS_DEPLETED = {
    "title": "CreditsDepleted",
    "detail": "Your enrolled account does not have any credits to fulfill this request.",
    "type": "https://api.twitter.com/2/problems/credits",
    "status": 402,
}
PARENT_GONE = "You attempted to reply to a Tweet that is deleted or not visible to you."
NOT_PERMITTED = "You are not permitted to perform this action."
# X's simple upload takes images up to 5 MB: JPEG, PNG, GIF, WEBP.
MAX_IMAGE = 5 * 1024 * 1024
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"RIFF")


def invalid(detail: str) -> dict[str, Any]:
    """X's problem body for a request it refuses as invalid (400)."""
    return {
        "errors": [{"message": detail}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


def multipart(content_type: str, raw: bytes) -> dict[str, tuple[bytes, str]]:
    """The fields of a multipart/form-data body: name -> (bytes, content type)."""
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    fields: dict[str, tuple[bytes, str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if name:
            fields[str(name)] = (payload if isinstance(payload, bytes) else b"", part.get_content_type())
    return fields


class XHandler(QuietHandler):
    server_version = "fake-x"

    @property
    def fake(self) -> FakeX:
        return self.owner  # type: ignore[no-any-return]

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/2/users/me":
            self._send(404, {"title": "Not Found", "status": 404})
            return
        user, why = self.fake.authenticate(
            self.headers.get("Authorization", ""), self.headers.get("Host", ""), self.path, "GET"
        )
        fake = self.fake
        if user is None:
            with fake.lock:
                fake.state.me.append((None, 401))
            self._send(401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": why})
            return
        body: dict[str, Any]
        with fake.lock:
            w = user.me
            w.roll(time.time())
            headers = {
                "x-rate-limit-limit": str(w.limit),
                "x-rate-limit-remaining": str(max(0, w.limit - w.used - 1)),
                "x-rate-limit-reset": str(w.reset),
            }
            if w.used >= w.limit:
                status, body = 429, RATE_LIMITED
            elif user.suspended:
                status, body = 403, {"title": "Forbidden", "status": 403, "detail": "This account is suspended."}
            else:
                w.used += 1
                status, body = 200, {"data": {"id": str(abs(hash(user.name)) % 10**18), "username": user.name}}
            fake.state.me.append((user.name, status))
        self._send(status, body, headers)

    def _send(self, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None) -> None:
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        ctype = "text/html" if isinstance(body, str) else "application/json"
        if status in (400, 401, 402, 403) and isinstance(body, dict) and "errors" not in body:
            ctype = "application/problem+json"
        self.reply(status, raw, ctype, headers)

    def do_POST(self) -> None:
        raw = self.body()
        if self.path.split("?")[0] in ("/2/media/upload", "/2/media/metadata"):
            self._media(raw)
            return
        if self.path.split("?")[0] != "/2/tweets":
            self._send(404, {"title": "Not Found", "status": 404})
            return
        try:
            parsed = json.loads(raw or b"{}")
        except ValueError:
            parsed = {}
        body: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        user, why = self.fake.authenticate(
            self.headers.get("Authorization", ""), self.headers.get("Host", ""), self.path
        )
        if user is None:
            self.fake.record(None, 401, body)
            self._send(401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": why})
            return
        fault = self.fake.down or self.fake.take_fault(user.name)
        if fault and self._fault(fault, user, body):
            return
        if user.suspended:
            self.fake.record(user.name, 403, body)
            self._send(403, {"title": "Forbidden", "status": 403, "detail": "This account is suspended."})
            return
        if self.fake.latency:
            time.sleep(self.fake.latency)
        status, answer, headers = self.fake.create(user, body)
        self.fake.record(user.name, status, body, answer)
        if fault == "drop-after":
            # The post exists; the client never hears so.
            self.close_connection = True
            self.connection.close()
            return
        self._send(status, answer, headers)

    def _media(self, raw: bytes) -> None:
        fake = self.fake
        user, why = fake.authenticate(self.headers.get("Authorization", ""), self.headers.get("Host", ""), self.path)
        if user is None:
            self._send(401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": why})
            return
        if self.path.split("?")[0] == "/2/media/metadata":
            try:
                parsed = json.loads(raw or b"{}")
            except ValueError:
                parsed = None
            status, answer = fake.describe(user, parsed if isinstance(parsed, dict) else {})
            self._send(status, answer)
            return
        fields = multipart(self.headers.get("Content-Type", ""), raw)
        media, ctype = fields.get("media", (b"", ""))
        category = fields.get("media_category", (b"", ""))[0].decode("utf-8", "replace")
        fault = fake.take_fault(user.name, media=True)
        if fault and fault.startswith("slow:"):
            time.sleep(float(fault.split(":", 1)[1]))
        elif fault:
            status = 429 if fault == "429" else 503 if fault == "503-html" else int(fault.split(":", 1)[1])
            fake.refused_upload(user.name, media, category, ctype, status)
            if fault == "429":
                reset = str(int(time.time()) + 2)
                self._send(429, RATE_LIMITED, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset})
            elif fault == "503-html":
                self._send(503, "<html><body>Over capacity</body></html>")
            else:
                self._send(status, {"title": "Error", "type": "about:blank", "status": status, "detail": "Scripted"})
            return
        status, answer, headers = fake.upload(user, media, category, ctype)
        self._send(status, answer, headers)

    def _fault(self, fault: str, user: _User, body: dict[str, Any]) -> bool:
        """True when the fault answered (or dropped) the request itself."""
        if fault == "500":
            self.fake.record(user.name, 500, body)
            self._send(500, {"title": "Internal Server Error", "status": 500})
        elif fault == "503-html":
            self.fake.record(user.name, 503, body)
            self._send(503, "<html><body>Over capacity</body></html>")
        elif fault == "429":
            self.fake.record(user.name, 429, body)
            reset = str(int(time.time()) + 2)
            self._send(429, RATE_LIMITED, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset})
        elif fault == "401":
            self.fake.record(user.name, 401, body)
            self._send(401, {"title": "Unauthorized", "status": 401})
        elif fault == "402":
            self.fake.record(user.name, 402, body)
            self._send(402, CREDITS_DEPLETED)
        elif fault == "403-not-permitted":
            self.fake.record(user.name, 403, body)
            self._send(403, {"title": "Forbidden", "type": "about:blank", "status": 403, "detail": NOT_PERMITTED})
        elif fault.startswith("status:"):
            status = int(fault.split(":", 1)[1])
            self.fake.record(user.name, status, body)
            self._send(status, {"title": "Error", "type": "about:blank", "status": status, "detail": "Scripted"})
        elif fault.startswith("html:"):
            status = int(fault.split(":", 1)[1])
            self.fake.record(user.name, status, body)
            self._send(status, f"<html><head><title>{status}</title></head><body>Something went wrong</body></html>")
        elif fault.startswith("cut-json:"):
            status = int(fault.split(":", 1)[1])
            self.fake.record(user.name, status, body)
            whole = json.dumps({"title": "Service Unavailable", "detail": "Service Unavailable", "status": status})
            self.reply(status, whole[: len(whole) // 2].encode(), "application/json", None)
        elif fault == "drop":
            self.fake.record(user.name, 0, body)
            self.close_connection = True
            self.connection.close()
        elif fault == "hang":
            self.fake.record(user.name, 0, body)
            self.fake.closing.wait(3600)
            self.close_connection = True
        elif fault.startswith("slow:"):
            time.sleep(float(fault.split(":", 1)[1]))
            return False
        else:
            return False
        return True
