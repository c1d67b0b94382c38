"""Turning untrusted feed bytes into JSON values or XML trees, safely.

XML goes through defusedxml: feeds never need entities, so any DTD entity or external reference
is refused outright (billion laughs, XXE).
"""

from __future__ import annotations

import json
import zlib
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from warnd.errors import FeedError

_BOMS = (b"\xef\xbb\xbf",)


def strip_bom(data: bytes) -> bytes:
    for bom in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :]
    return data


def sniff(data: bytes) -> str | None:
    """'json', 'xml' or None, from the first meaningful byte."""
    head = strip_bom(data).lstrip()[:1]
    if head in (b"{", b"["):
        return "json"
    if head == b"<":
        return "xml"
    return None


def decode_text(data: bytes, feed: str) -> str:
    data = strip_bom(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FeedError(feed, f"not UTF-8 text (byte {e.start}: {e.reason})") from None


def load_json(data: bytes, feed: str) -> Any:
    text = decode_text(data, feed)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise FeedError(feed, f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise FeedError(feed, "JSON nested too deeply") from None


def load_xml(data: bytes, feed: str) -> Element:
    try:
        root: Element = SafeET.fromstring(strip_bom(data))
    except DefusedXmlException as e:
        raise FeedError(feed, f"XML refused: {type(e).__name__}") from None
    except ParseError as e:
        line, col = e.position
        raise FeedError(feed, f"invalid XML at line {line} column {col}: {e.msg}") from None
    except (ValueError, RecursionError) as e:
        raise FeedError(feed, f"invalid XML: {e}") from None
    except LookupError as e:
        # An encoding declaration Python does not know ("U-F-8").
        raise FeedError(feed, f"XML declares an unknown encoding: {e}") from None
    return root


def local_name(tag: str) -> str:
    """Tag without its namespace: '{urn:...}info' -> 'info'."""
    return tag.rsplit("}", 1)[-1]


GZIP_MAGIC = b"\x1f\x8b"


def gunzip_capped(data: bytes, feed: str, max_bytes: int) -> bytes:
    """A gzip file's content, refusing to inflate past max_bytes (a recorded drill file may be
    stored compressed; a bomb must not fill memory)."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflate.decompress(data, max_bytes + 1)
    except zlib.error as e:
        raise FeedError(feed, f"corrupt gzip file: {e}") from None
    if len(out) > max_bytes:
        raise FeedError(feed, f"gzip content larger than the cap of {max_bytes} bytes")
    return out


def geojson_features(doc: Any, feed: str) -> list[Any]:
    """The features of a GeoJSON FeatureCollection, or a FeedError naming what is wrong."""
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise FeedError(feed, "not a GeoJSON FeatureCollection")
    features = doc.get("features")
    if not isinstance(features, list):
        raise FeedError(feed, "features is not a list")
    return features
