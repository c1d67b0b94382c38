"""Each warning's map in the store: the PNG bytes come back as they went in, on both backends,
and a second drawing of the same warning keeps the first."""

from __future__ import annotations

from datetime import UTC, datetime

from warnd.store.maps import Maps

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
# Every byte value, NUL and invalid UTF-8 among them: the column must be binary.
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def test_a_map_is_kept_byte_for_byte_and_outlives_the_connection(store):
    conn = store.open()
    maps = Maps(conn)
    assert maps.get("w-1") is None and not maps.has("w-1")
    maps.put("w-1", PNG, "Peta Gempa", T0)
    conn.close()
    conn = store.open()
    got = Maps(conn).get("w-1")
    assert got is not None
    assert got.png == PNG and isinstance(got.png, bytes)
    assert got.alt == "Peta Gempa" and got.created_at == "2026-11-24T03:00:00Z"
    assert Maps(conn).has("w-1") and not Maps(conn).has("w-2")
    conn.close()


def test_a_second_drawing_of_a_warning_keeps_the_first(store):
    conn = store.open()
    maps = Maps(conn)
    maps.put("w-1", PNG, "first", T0)
    maps.put("w-1", b"other", "second", T0)
    got = maps.get("w-1")
    assert got is not None and (got.png, got.alt) == (PNG, "first")
    conn.close()
