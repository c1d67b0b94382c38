"""PNG bytes of a map, written directly: rows unfiltered, deflated at zlib level 3.

A map is flat colours with thin edges, which deflate compresses well as they are: unfiltered
rows at level 3 come out smaller than Pillow's encoder makes them at its fastest level (whose
per-row filter search is lost on such an image), in under half its time."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

SIGNATURE = b"\x89PNG\r\n\x1a\n"
LEVEL = 3
# What a map image may weigh: X takes up to 5 MB, but partners' systems and phones on a slow
# link should not have to.
MAX_BYTES = 1_000_000


class TooLarge(ValueError):
    pass


def encode_within(img: Image.Image, limit: int = MAX_BYTES) -> bytes:
    """`encode`, or, when that comes out over `limit` (a map of an unusually busy frame), the
    same image in 256 colours, which a map of flat colours loses nothing visible to. TooLarge
    when even that is over."""
    data = encode(img)
    if len(data) <= limit:
        return data
    buf = io.BytesIO()
    (img if img.mode == "RGB" else img.convert("RGB")).quantize(256).save(buf, format="PNG", optimize=True)
    if buf.tell() > limit:
        raise TooLarge(f"map PNG of {len(data)} bytes ({buf.tell()} in 256 colours), over the {limit} allowed")
    return buf.getvalue()


def encode(img: Image.Image) -> bytes:
    """An RGB image as PNG (8 bits per channel, no interlace)."""
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    w, h = rgb.size
    raw = np.zeros((h, w * 3 + 1), dtype=np.uint8)
    # Column 0 of each row is its filter type: 0, none.
    raw[:, 1:] = np.asarray(rgb, dtype=np.uint8).reshape(h, w * 3)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    body = zlib.compress(raw.tobytes(), LEVEL)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
