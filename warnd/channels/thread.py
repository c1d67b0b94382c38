"""Splitting a warning longer than X's 280 weighted characters into a thread.

Cuts fall at paragraph breaks first, then line breaks, then between words; each part carries
its place ("1/3") so a reader who meets a later part knows there is more above it. X refuses a
text the account has already posted, so no part may repeat a part of another post:
- every later part starts with the warning's first line (shortened): a part that is only a list
  of regencies would otherwise read the same for two quakes in one place;
- every part ends with the warning's thread label before its number ("PD-3.3 2/3"): successive
  updates of one tsunami warning share their first line and their regency lists, and the label
  (pipeline.wording.thread_label) is one no other post of the account about the event has.
"""

from __future__ import annotations

import functools
import unicodedata

from twitter_text import parse_tweet
from twitter_text.config import config as _tt_config
from twitter_text.extract_urls import extract_urls_with_indices
from twitter_text.get_character_weight import get_character_weight

LIMIT = 280
# Room for " 10/10": numbering never pushes a part over the limit.
_MARK_ROOM = 7
# A label longer than this is cut (it comes from a feed's stage name and the post's place).
_LABEL_MAX = 40
_HEADLINE = 90
_CONTINUED = {"id": "lanjutan", "en": "continued"}


_OPTIONS = _tt_config["defaults"]
_SCALE = int(_OPTIONS["scale"])
_URL_WEIGHT = int(_OPTIONS["transformed_url_length"]) * _SCALE
# Characters an emoji is made of (pictographs, modifiers, joiners, selectors, keycaps). A text
# with none of them is weighed without twitter-text's emoji scan, which costs milliseconds.
_EMOJI_PARTS = frozenset({"So", "Sk", "Cf", "Mn", "Me", "Cs", "Co"})


@functools.lru_cache(maxsize=4096)
def weighted(text: str) -> int:
    """X's weighted length: what twitter-text's parse_tweet says, faster for warning texts."""
    norm = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    if any(not c.isascii() and unicodedata.category(c) in _EMOJI_PARTS for c in norm):
        return int(parse_tweet(text).weightedLength)
    urls = extract_urls_with_indices(norm) if "." in norm else []
    total, at = 0, 0
    for u in urls:
        start, end = u["indices"]
        total += _plain(norm[at:start]) + _URL_WEIGHT
        at = end
    total += _plain(norm[at:])
    return total // _SCALE


def _plain(text: str) -> int:
    if text.isascii():
        return len(text) * _SCALE
    return sum(int(get_character_weight(c, _OPTIONS)) for c in text)


def split(text: str, limit: int = LIMIT, lang: str = "id", label: str | None = None) -> list[str]:
    """The parts of a thread (one part when the text fits), each ending with `label` and its
    number. Cached: the dispatcher asks for a warning's parts when it budgets the posts and again
    when it sends them."""
    return list(_split(text, limit, lang, " ".join((label or "").split())[:_LABEL_MAX]))


@functools.lru_cache(maxsize=1024)
def _split(text: str, limit: int, lang: str, label: str) -> tuple[str, ...]:
    text = unicodedata.normalize("NFC", text).strip()
    if weighted(text) <= limit:
        return (text,)
    prefix = f"{_headline(text.split(chr(10), 1)[0])} ({_CONTINUED.get(lang, _CONTINUED['en'])})\n"
    mark = f" {label}" if label else ""
    first_room = limit - _MARK_ROOM - weighted(mark)
    room = first_room - weighted(prefix)
    parts: list[str] = []
    current = ""
    for sep, piece in _pieces(text, room):
        fits = first_room if not parts else room
        candidate = f"{current}{sep}{piece}" if current else piece
        if current and weighted(candidate) > fits:
            parts.append(current)
            current = piece
        else:
            current = candidate
    if current:
        parts.append(current)
    n = len(parts)
    return tuple(f"{prefix if i > 1 else ''}{p.rstrip()}{mark} {i}/{n}" for i, p in enumerate(parts, 1))


def _headline(line: str) -> str:
    if weighted(line) <= _HEADLINE:
        return line
    words = line.split(" ")
    while len(words) > 1 and weighted(" ".join(words) + "…") > _HEADLINE:
        words.pop()
    out = " ".join(words)
    while weighted(out + "…") > _HEADLINE:
        out = out[:-1]
    return out + "…"


def _pieces(text: str, room: int, seps: tuple[str, ...] = ("\n\n", "\n", ", ", " ")) -> list[tuple[str, str]]:
    """(separator before, piece) with every piece within `room`: split at the coarsest break
    that makes pieces fit (paragraph, line, list item, word), characters as a last resort."""
    if weighted(text) <= room:
        return [("", text)]
    if not seps:
        cut = len(text)
        while cut > 1 and weighted(text[:cut]) > room:
            cut = cut * 3 // 4
        return [("", text[:cut]), *_pieces(text[cut:], room, ())]
    out: list[tuple[str, str]] = []
    for i, chunk in enumerate(text.split(seps[0])):
        if not chunk:
            continue
        sub = _pieces(chunk, room, seps[1:])
        out.append((seps[0] if i and out else "", sub[0][1]))
        out.extend(sub[1:])
    return out
