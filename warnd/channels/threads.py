"""How a text too long for one post becomes a thread: parts cut at the coarsest break that
fits (paragraph, line, list item, word), the first line repeated as a headline on each later
part, each part numbered and labelled with what it carries of its own post ("PD-3.3"), so no
part repeats a part of another post of the account. Each platform measures length its own way
(`length`): X weighs characters, Bluesky counts graphemes, Mastodon characters."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable

# Room for " 10/10": numbering never pushes a part over the limit.
_MARK_ROOM = 7
# A label longer than this is cut (it comes from a feed's stage name and the post's place).
_LABEL_MAX = 40
_HEADLINE = 90
_CONTINUED = {"id": "lanjutan", "en": "continued"}


def split(
    text: str, limit: int, lang: str = "id", label: str | None = None, *, length: Callable[[str], int] = len
) -> list[str]:
    """The parts of a thread (one part when the text fits), each within `limit` as `length`
    measures it (X's weighted characters, Bluesky's graphemes, Mastodon's characters), each
    ending with `label` and its number. Cached across attempts: a delivery that waits (for its
    retry time, a hold, its rate budget) is costed afresh each time its lane looks at it; within
    one attempt the parts are split once (Job.texts)."""
    return list(_split(text, limit, lang, thread_label(label), length))


def thread_label(label: str | None) -> str:
    """The label as a part carries it: one line, cut to a bounded length."""
    return " ".join((label or "").split())[:_LABEL_MAX]


@functools.lru_cache(maxsize=1024)
def _split(text: str, limit: int, lang: str, label: str, length: Callable[[str], int]) -> tuple[str, ...]:
    text = unicodedata.normalize("NFC", text).strip()
    if length(text) <= limit:
        return (text,)
    prefix = f"{headline(text.split(chr(10), 1)[0], length)} ({_CONTINUED.get(lang, _CONTINUED['en'])})\n"
    mark = f" {label}" if label else ""
    first_room = limit - _MARK_ROOM - length(mark)
    room = first_room - length(prefix)
    parts: list[str] = []
    current = ""
    for sep, piece in _pieces(text, room, length):
        fits = first_room if not parts else room
        candidate = f"{current}{sep}{piece}" if current else piece
        if current and length(candidate) > fits:
            parts.append(current)
            current = piece
        else:
            current = candidate
    if current:
        parts.append(current)
    n = len(parts)
    return tuple(f"{prefix if i > 1 else ''}{p.rstrip()}{mark} {i}/{n}" for i, p in enumerate(parts, 1))


def headline(line: str, length: Callable[[str], int]) -> str:
    """The line, cut at a word with an ellipsis when it is longer than a headline may be."""
    if length(line) <= _HEADLINE:
        return line
    words = line.split(" ")
    while len(words) > 1 and length(" ".join(words) + "…") > _HEADLINE:
        words.pop()
    out = " ".join(words)
    while length(out + "…") > _HEADLINE:
        out = out[:-1]
    return out + "…"


def _pieces(
    text: str, room: int, length: Callable[[str], int], seps: tuple[str, ...] = ("\n\n", "\n", ", ", " ")
) -> list[tuple[str, str]]:
    """(separator before, piece) with every piece within `room`: split at the coarsest break
    that makes pieces fit (paragraph, line, list item, word), characters as a last resort."""
    if length(text) <= room:
        return [("", text)]
    if not seps:
        cut = len(text)
        while cut > 1 and length(text[:cut]) > room:
            cut = cut * 3 // 4
        return [("", text[:cut]), *_pieces(text[cut:], room, length, ())]
    out: list[tuple[str, str]] = []
    for i, chunk in enumerate(text.split(seps[0])):
        if not chunk:
            continue
        sub = _pieces(chunk, room, length, seps[1:])
        out.append((seps[0] if i and out else "", sub[0][1]))
        out.extend(sub[1:])
    return out
