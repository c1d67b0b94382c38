"""How a warning's text becomes Bluesky posts: 300 graphemes a post (`graphemes`), a thread cut
by the shared rule (channels.threads), the rich-text facets that make links and hashtags live
(`facets`: UTF-8 byte offsets, as app.bsky.richtext.facet says), and the record key of each part
(`rkey`: a TID derived from the delivery and the part, so a re-send is the same record).

Graphemes are counted with `regex`'s `\\X` (Unicode extended grapheme clusters, the unit the
post lexicon's maxGraphemes counts). `regex` is kept current with Unicode releases; the
`grapheme` package was last released in 2020 and lags the Unicode version Bluesky's validator
uses, which matters for newer emoji sequences.
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata
from typing import Any

import regex

from warnd.channels import threads
from warnd.model import Delivery

# app.bsky.feed.post: text maxGraphemes 300 (maxLength 3000 bytes).
LIMIT = 300
MAX_BYTES = 3000

_GRAPHEME = regex.compile(r"\X")
# A link as a reader types it in a warning (the BMKG page, a map): scheme included, up to the
# next space; trailing punctuation of the sentence is not part of it.
_LINK = regex.compile(r"https?://[^\s<>\"]+")
_LINK_TAIL = ".,;:!?)]}'"
# A hashtag: '#' after a space or the start, letters, digits and underscores (Unicode), not
# only digits (Bluesky's own rule: "#1" is no tag).
_TAG = regex.compile(r"(?:(?<=\s)|^)#([\p{L}\p{M}\p{N}_]*\p{L}[\p{L}\p{M}\p{N}_]*)")
_TAG_MAX = 64


@functools.lru_cache(maxsize=4096)
def graphemes(text: str) -> int:
    """How many graphemes Bluesky counts in `text` (NFC, as it is sent)."""
    return len(_GRAPHEME.findall(unicodedata.normalize("NFC", text)))


def split(text: str, lang: str = "id", label: str | None = None, limit: int = LIMIT) -> list[str]:
    """The parts of a Bluesky thread (one part when the text fits), each within `limit`
    graphemes, labelled like X's parts (channels.threads)."""
    return threads.split(text, limit, lang, label, length=graphemes)


def facets(text: str) -> list[dict[str, Any]]:
    """The link and tag facets of `text`, with byte offsets into its UTF-8 encoding."""
    out: list[dict[str, Any]] = []
    for m in _LINK.finditer(text):
        url = m.group(0).rstrip(_LINK_TAIL)
        start = m.start()
        out.append(_facet(text, start, start + len(url), {"$type": "app.bsky.richtext.facet#link", "uri": url}))
    for m in _TAG.finditer(text):
        tag = m.group(1)
        if len(tag) > _TAG_MAX or any(
            f["index"]["byteStart"] <= _byte(text, m.start()) < f["index"]["byteEnd"] for f in out
        ):
            continue
        out.append(_facet(text, m.start(), m.end(1), {"$type": "app.bsky.richtext.facet#tag", "tag": tag}))
    return sorted(out, key=lambda f: int(f["index"]["byteStart"]))


def _byte(text: str, index: int) -> int:
    return len(text[:index].encode())


def _facet(text: str, start: int, end: int, feature: dict[str, str]) -> dict[str, Any]:
    return {"index": {"byteStart": _byte(text, start), "byteEnd": _byte(text, end)}, "features": [feature]}


# TIDs: 64 bits (the top one 0): 53 bits of microseconds since the epoch, 10 bits of clock id,
# written as 13 characters of base32-sortable (atproto.com/specs/tid).
_B32 = "234567abcdefghijklmnopqrstuvwxyz"


def tid(micros: int, clock_id: int) -> str:
    value = ((micros & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    return "".join(_B32[(value >> (5 * i)) & 31] for i in reversed(range(13)))


# Microseconds of a record key's time each delivery has for its parts: the delivery's row id
# picks its slot past the enqueue time.
_PART_SLOTS = 32


def rkey(d: Delivery, part: int) -> str:
    """The record key of part `part` (1-based) of delivery `d`: the same on every attempt and
    after a restart, so the PDS refuses a second create of it. Its time is the delivery's
    enqueue time plus a slot of its own picked by the delivery's row id (parts a microsecond
    apart, in order, within it): one poll enqueues hundreds of deliveries with the same time,
    and 10 bits of clock id alone would collide among them. The clock id comes from the
    delivery's idempotency key (warning and target). A collision with an older record is
    caught by comparing texts (BlueskySender)."""
    slot = (d.id % (1 << 16)) * _PART_SLOTS
    micros = int(d.created_at.timestamp() * 1_000_000) + slot + part - 1
    clock = int.from_bytes(hashlib.sha256(f"{d.idempotency_key}\x1f{part}".encode()).digest()[:2], "big")
    return tid(micros, clock)
