"""Splitting a warning longer than X's 280 weighted characters into a thread.

Cuts fall at paragraph breaks first, then line breaks, then between words; each part carries
its place ("1/3") so a reader who meets a later part knows there is more above it.
"""

from __future__ import annotations

import re
import unicodedata

from twitter_text import parse_tweet

LIMIT = 280
# Room for " 10/10": numbering never pushes a part over the limit.
_MARK_ROOM = 7


def weighted(text: str) -> int:
    return int(parse_tweet(text).weightedLength)


def split(text: str, limit: int = LIMIT) -> list[str]:
    text = unicodedata.normalize("NFC", text).strip()
    if weighted(text) <= limit:
        return [text]
    room = limit - _MARK_ROOM
    chunks = _pieces(text, room)
    parts: list[str] = []
    current = ""
    for sep, piece in chunks:
        candidate = f"{current}{sep}{piece}" if current else piece
        if current and weighted(candidate) > room:
            parts.append(current)
            current = piece
        else:
            current = candidate
    if current:
        parts.append(current)
    n = len(parts)
    return [f"{p.rstrip()} {i}/{n}" for i, p in enumerate(parts, 1)]


def _pieces(text: str, room: int) -> list[tuple[str, str]]:
    """(separator before, piece) with every piece within `room`."""
    out: list[tuple[str, str]] = []
    for pi, para in enumerate(text.split("\n\n")):
        for li, line in enumerate(para.split("\n")):
            sep = "\n\n" if li == 0 and pi > 0 else ("\n" if li > 0 else "")
            if weighted(line) <= room:
                out.append((sep, line))
                continue
            first = True
            for word in _words(line, room):
                out.append((sep if first else " ", word))
                first = False
    return out


def _words(line: str, room: int) -> list[str]:
    out: list[str] = []
    for word in re.split(r" +", line):
        while weighted(word) > room:
            # A single "word" longer than a post (a long URL-less token): cut by characters.
            cut = len(word)
            while cut > 1 and weighted(word[:cut]) > room:
                cut = cut * 3 // 4
            out.append(word[:cut])
            word = word[cut:]
        if word:
            out.append(word)
    return out
