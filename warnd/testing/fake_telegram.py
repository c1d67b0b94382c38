"""A fake Telegram Bot API on 127.0.0.1: `POST /bot<token>/sendMessage`, `sendPhoto` and `getMe`
as the Bot API answers them, for tests and drills.

- The token in the path must be a known bot's: otherwise 401 `Unauthorized` (as Telegram answers
  a revoked token). A chat the bot is not in: 400 `Bad Request: chat not found`; a chat the bot
  was removed from (`kick`): 403 `Forbidden: bot was kicked from the channel chat`.
- Texts are parsed as Telegram parses HTML mode: a `<`, `>` or `&` that is not a tag of the
  allowed set or an entity is refused (400 `Bad Request: can't parse entities: ...`); the text
  after parsing is measured in UTF-16 code units against 4,096 (a caption against 1,024): over,
  400 `Bad Request: message is too long` / `message caption is too long`.
- A reply (`reply_parameters.message_id`) to a message the chat does not have: 400 `Bad Request:
  message to be replied not found`, unless `allow_sending_without_reply`.
- Limits: `per_chat` messages a minute in one chat and `per_bot` a second for one bot (20 and 30,
  as Telegram documents them); over a limit, 429 with `parameters.retry_after`.
- Telegram has no idempotency key and neither does the fake: the same text twice is two
  messages. Every request, taken or refused, is kept in `state.attempts`, and what the chat shows
  in `state.messages`, so a test sees a repeat.
- Scripted faults, consumed one per request: "500", "502-html", "429:<s>", "cut-json" (a 200 cut
  off mid-way, after the message was taken), "drop" (close before doing anything), "drop-after"
  (take the message, then close without answering), "401", "403-kicked", "slow:<s>".
- `down` (a status such as 503): the Bot API down, every request answered with it and an HTML
  page, recorded, until set back to None.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from warnd.testing._server import LocalServer, QuietHandler
from warnd.testing.fake_x_http import multipart

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
PHOTO_LIMIT = 10 * 1024 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_TAG = re.compile(r"</?(b|strong|i|em|u|ins|s|strike|del|code|pre|a|span|tg-spoiler|blockquote)(\s[^<>]*)?>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")


@dataclass(frozen=True)
class Message:
    """A message as the chat shows it."""

    chat: str
    message_id: int
    text: str
    reply_to: int | None
    photo: bytes | None
    at: float  # time.monotonic()


@dataclass(frozen=True)
class Attempt:
    """One request as it arrived and the answer: `message_id` when it was taken."""

    method: str
    chat: str | None
    text: str | None
    status: int
    message_id: int | None
    at: float


@dataclass
class State:
    messages: list[Message] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    me: list[int] = field(default_factory=list)


def plain(text: str, parse_mode: str | None) -> str | None:
    """The text after Telegram's parsing, or None when HTML mode cannot parse it."""
    if parse_mode != "HTML":
        return text
    stripped = _TAG.sub("", text)
    if "<" in stripped or ">" in stripped:
        return None
    if "&" in _ENTITY.sub("", stripped):
        return None
    return html.unescape(stripped)


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def error(code: int, description: str, **parameters: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


class FakeTelegram(LocalServer):
    def __init__(
        self,
        bots: dict[str, str],
        chats: dict[str, list[str]],
        *,
        port: int = 0,
        per_chat: int = 20,
        per_bot: int = 30,
    ) -> None:
        """`bots`: token -> the bot's username; `chats`: bot username -> the chats (@username or
        numeric id) it may post in."""
        super().__init__(TelegramHandler, port)
        self.bots = dict(bots)
        self.chats = {bot: set(c) for bot, c in chats.items()}
        self.kicked: set[tuple[str, str]] = set()
        self.per_chat = per_chat
        self.per_bot = per_bot
        self.state = State()
        self.lock = threading.Lock()
        self._faults: deque[str] = deque()
        # The Bot API down (a status such as 503): every request is answered with it and an
        # HTML page, and recorded as an attempt, until set back to None.
        self.down: int | None = None
        self._next_id: dict[str, int] = {}
        self._chat_times: dict[str, deque[float]] = {}
        self._bot_times: dict[str, deque[float]] = {}

    def script(self, *faults: str) -> None:
        with self.lock:
            self._faults.extend(faults)

    def take_fault(self) -> str | None:
        with self.lock:
            return self._faults.popleft() if self._faults else None

    def kick(self, bot: str, chat: str) -> None:
        with self.lock:
            self.kicked.add((bot, chat))

    def revoke(self, token: str) -> None:
        with self.lock:
            self.bots.pop(token, None)

    def messages_in(self, chat: str) -> list[Message]:
        with self.lock:
            return [m for m in self.state.messages if m.chat == chat]

    def attempts_in(self, chat: str, method: str | None = None) -> list[Attempt]:
        with self.lock:
            return [a for a in self.state.attempts if a.chat == chat and (method is None or a.method == method)]

    def record(self, method: str, chat: str | None, text: str | None, status: int, message_id: int | None) -> None:
        with self.lock:
            self.state.attempts.append(Attempt(method, chat, text, status, message_id, time.monotonic()))

    def limited(self, bot: str, chat: str) -> float | None:
        """Seconds to wait when this message would go over a limit; else counts it."""
        now = time.monotonic()
        with self.lock:
            times = self._chat_times.setdefault(chat, deque())
            bot_times = self._bot_times.setdefault(bot, deque())
            while times and now - times[0] >= 60:
                times.popleft()
            while bot_times and now - bot_times[0] >= 1:
                bot_times.popleft()
            if len(times) >= self.per_chat:
                return 60 - (now - times[0])
            if len(bot_times) >= self.per_bot:
                return 1.0
            times.append(now)
            bot_times.append(now)
            return None

    def take(self, chat: str, text: str, reply_to: int | None, photo: bytes | None) -> Message:
        with self.lock:
            n = self._next_id.get(chat, 0) + 1
            self._next_id[chat] = n
            m = Message(chat, n, text, reply_to, photo, time.monotonic())
            self.state.messages.append(m)
            return m

    def has(self, chat: str, message_id: int) -> bool:
        with self.lock:
            return any(m.chat == chat and m.message_id == message_id for m in self.state.messages)


class TelegramHandler(QuietHandler):
    server_version = "fake-telegram"

    @property
    def fake(self) -> FakeTelegram:
        return self.owner  # type: ignore[no-any-return]

    def _send(self, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, str):
            self.reply(status, body.encode(), "text/html", headers)
        else:
            self.reply(status, json.dumps(body).encode(), "application/json", headers)

    def do_GET(self) -> None:
        self.do_POST()

    def do_POST(self) -> None:
        raw = self.body()
        m = re.fullmatch(r"/bot([^/]+)/(\w+)", self.path.split("?", 1)[0])
        if m is None:
            self._send(404, error(404, "Not Found"))
            return
        token, method = m.group(1), m.group(2)
        fields = self._fields(raw)
        chat = str(fields["chat_id"]) if "chat_id" in fields else None
        text = fields.get("text", fields.get("caption"))
        fake = self.fake
        if fake.down is not None:
            fake.record(method, chat, text, fake.down, None)
            self._send(fake.down, "<html><head><title>503 Service Temporarily Unavailable</title></head></html>")
            return
        fault = fake.take_fault()
        if fault and self._fault(fault, method, chat, text):
            return
        bot = fake.bots.get(token)
        if bot is None:
            fake.record(method, chat, text, 401, None)
            self._send(401, error(401, "Unauthorized"))
            return
        if method == "getMe":
            fake.state.me.append(200)
            body = {"id": 1000 + len(bot), "is_bot": True, "first_name": bot, "username": bot}
            self._send(200, {"ok": True, "result": body})
            return
        if method not in ("sendMessage", "sendPhoto"):
            self._send(404, error(404, "Not Found: method not found"))
            return
        status, answer, headers = self._post(bot, method, chat, fields)
        fake.record(method, chat, text, status, answer.get("result", {}).get("message_id"))
        if fault == "drop-after":
            self.close_connection = True
            self.connection.close()
            return
        if fault == "cut-json" and status == 200:
            whole = json.dumps(answer)
            self.reply(200, whole[: len(whole) // 2].encode(), "application/json", None)
            return
        self._send(status, answer, headers)

    def _fields(self, raw: bytes) -> dict[str, Any]:
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            try:
                parsed = json.loads(raw or b"{}")
            except ValueError:
                return {}
            return parsed if isinstance(parsed, dict) else {}
        fields: dict[str, Any] = {}
        for name, (value, kind) in multipart(content_type, raw).items():
            fields[name] = value if kind.startswith("image/") or name == "photo" else value.decode()
        if isinstance(fields.get("reply_parameters"), str):
            try:
                fields["reply_parameters"] = json.loads(fields["reply_parameters"])
            except ValueError:
                fields["reply_parameters"] = None
        return fields

    def _post(
        self, bot: str, method: str, chat: str | None, fields: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        fake = self.fake
        if chat is None:
            return 400, error(400, "Bad Request: chat_id is empty"), {}
        if (bot, chat) in fake.kicked:
            return 403, error(403, "Forbidden: bot was kicked from the channel chat"), {}
        if chat not in fake.chats.get(bot, set()):
            return 400, error(400, "Bad Request: chat not found"), {}
        photo: bytes | None = None
        if method == "sendPhoto":
            photo = fields.get("photo") if isinstance(fields.get("photo"), bytes) else None
            if photo is None or not photo.startswith(PNG_MAGIC) or len(photo) > PHOTO_LIMIT:
                return 400, error(400, "Bad Request: IMAGE_PROCESS_FAILED"), {}
            source, limit, what = str(fields.get("caption", "")), CAPTION_LIMIT, "message caption is too long"
        else:
            source, limit, what = str(fields.get("text", "")), TEXT_LIMIT, "message is too long"
            if not source:
                return 400, error(400, "Bad Request: message text is empty"), {}
        text = plain(source, fields.get("parse_mode"))
        if text is None:
            return 400, error(400, "Bad Request: can't parse entities: unsupported start tag"), {}
        if utf16(text) > limit:
            return 400, error(400, f"Bad Request: {what}"), {}
        reply = fields.get("reply_parameters")
        reply_to: int | None = None
        if isinstance(reply, dict) and "message_id" in reply:
            reply_to = int(reply["message_id"])
            if not fake.has(chat, reply_to):
                if not reply.get("allow_sending_without_reply"):
                    return 400, error(400, "Bad Request: message to be replied not found"), {}
                reply_to = None
        wait = fake.limited(bot, chat)
        if wait is not None:
            seconds = max(1, int(wait + 0.999))
            return 429, error(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds), {}
        m = fake.take(chat, text, reply_to, photo)
        result: dict[str, Any] = {"message_id": m.message_id, "date": int(time.time()), "chat": {"id": chat}}
        result["caption" if photo is not None else "text"] = text
        return 200, {"ok": True, "result": result}, {}

    def _fault(self, fault: str, method: str, chat: str | None, text: str | None) -> bool:
        """True when the fault answered (or dropped) the request itself."""
        fake = self.fake
        if fault == "500":
            fake.record(method, chat, text, 500, None)
            self._send(500, error(500, "Internal Server Error"))
        elif fault == "502-html":
            fake.record(method, chat, text, 502, None)
            self._send(502, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")
        elif fault.startswith("429:"):
            seconds = int(fault.split(":", 1)[1])
            fake.record(method, chat, text, 429, None)
            self._send(429, error(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds))
        elif fault == "401":
            fake.record(method, chat, text, 401, None)
            self._send(401, error(401, "Unauthorized"))
        elif fault == "403-kicked":
            fake.record(method, chat, text, 403, None)
            self._send(403, error(403, "Forbidden: bot was kicked from the channel chat"))
        elif fault == "drop":
            fake.record(method, chat, text, 0, None)
            self.close_connection = True
            self.connection.close()
        elif fault.startswith("slow:"):
            time.sleep(float(fault.split(":", 1)[1]))
            return False
        else:
            return False
        return True
