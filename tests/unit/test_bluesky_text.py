"""Bluesky's measure of a text (graphemes), its threads, facets (UTF-8 byte offsets) and record
keys (TIDs), and the answer table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from warnd.channels.bluesky import Ref, parse_remote_id, remote_id
from warnd.channels.bluesky_answers import BSKY_ANSWERS, Act, hold, judge
from warnd.channels.bluesky_text import LIMIT, facets, graphemes, rkey, split, tid
from warnd.model import Delivery, DeliveryState, Priority, Region, Status, Warning, WarningKind

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def test_graphemes_count_clusters_not_code_points():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one grapheme, five code points
    flag = "\U0001f1ee\U0001f1e9"  # Indonesia's flag: two code points
    assert graphemes(family) == 1 and graphemes(flag) == 1
    assert graphemes("e\u0301") == 1  # decomposed é
    assert graphemes("Gempa") == 5


def test_a_long_text_becomes_parts_within_300_graphemes_even_with_emoji():
    line = "Wilayah terdampak: Kabupaten Sumbawa Barat \U0001f1ee\U0001f1e9 \U0001f468\u200d\U0001f469\u200d\U0001f467"
    text = "Gempa Mag:5.9 Sumbawa\n" + "\n".join(f"{i}. {line}" for i in range(30))
    parts = split(text, label="PD-1")
    assert len(parts) > 1
    assert all(graphemes(p) <= LIMIT for p in parts)
    # Code points would have cut sooner: the measure is Bluesky's, not len().
    assert any(len(p) > graphemes(p) for p in parts)
    assert parts[0].endswith(f"PD-1 1/{len(parts)}") and parts[1].startswith("Gempa Mag:5.9 Sumbawa (lanjutan)")
    assert split("Gempa pendek") == ["Gempa pendek"]


def test_facets_carry_utf8_byte_offsets_past_non_ascii_text():
    text = (
        "Gempa dirasakan di Tanjung Selor (\u00e9\u00e9 \u2014 \U0001f30b) info https://bmkg.go.id/gempa/"
        " #GempaBumi #Kaltara, #123"
    )
    got = facets(text)
    raw = text.encode()
    spans = [(raw[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode(), f["features"][0]) for f in got]
    assert spans == [
        ("https://bmkg.go.id/gempa/", {"$type": "app.bsky.richtext.facet#link", "uri": "https://bmkg.go.id/gempa/"}),
        ("#GempaBumi", {"$type": "app.bsky.richtext.facet#tag", "tag": "GempaBumi"}),
        ("#Kaltara", {"$type": "app.bsky.richtext.facet#tag", "tag": "Kaltara"}),
    ]
    # Character offsets would be wrong: the text before the link has multi-byte characters.
    assert got[0]["index"]["byteStart"] != text.index("https")


def test_sentence_punctuation_is_not_part_of_a_link():
    (f,) = facets("Lihat https://bmkg.go.id.")
    assert f["features"][0]["uri"] == "https://bmkg.go.id"


def _delivery(wid: str, created: datetime = NOW, delivery_id: int = 7) -> Delivery:
    w = Warning(
        id=wid,
        event_id="e-1",
        revision="r",
        rule="gempa",
        account="ntb",
        kind=WarningKind.NEW,
        severity="severe",
        priority=Priority.NORMAL,
        regions=(Region("52", "NTB", "province"),),
        lang="id",
        text="Gempa",
        status=Status.ACTUAL,
        created_at=created,
    )
    return Delivery(delivery_id, w, "account:ntb", DeliveryState.PENDING, 0, created, created)


def test_record_keys_are_tids_stable_per_part_and_distinct_between_parts_and_deliveries():
    a, b = _delivery("w-1"), _delivery("w-2")
    keys = {rkey(a, 1), rkey(a, 2), rkey(b, 1), rkey(b, 2)}
    assert len(keys) == 4
    assert rkey(a, 1) == rkey(_delivery("w-1"), 1)
    for k in keys:
        assert len(k) == 13 and k[0] in "234567abcdefghij" and set(k) <= set("234567abcdefghijklmnopqrstuvwxyz")
    # Parts of one delivery sort in order, as TIDs of successive microseconds.
    assert rkey(a, 1) < rkey(a, 2)
    assert tid(0, 0) == "2222222222222"


def test_deliveries_enqueued_together_never_share_a_record_key():
    # One poll after a restart enqueues hundreds of warnings in one transaction, all with the
    # same time: a key told apart by 10 bits of clock id alone collided (and the later warning
    # was refused as "record key holds another text").
    batch = [_delivery(f"w-{i}", delivery_id=1000 + i) for i in range(300)]
    keys = [rkey(d, part) for d in batch for part in (1, 2, 3)]
    assert len(set(keys)) == len(keys)


def test_remote_ids_carry_the_strong_ref_and_the_root_when_it_differs():
    post, root = (
        Ref("at://did:plc:a/app.bsky.feed.post/3k", "bafy1"),
        Ref("at://did:plc:a/app.bsky.feed.post/3j", "bafy0"),
    )
    assert parse_remote_id(remote_id(post, None)) == (post, post)
    assert parse_remote_id(remote_id(post, root)) == (post, root)
    assert parse_remote_id("1234567890") is None and parse_remote_id(None) is None


@pytest.mark.parametrize(
    ("status", "body", "act"),
    [
        (429, b'{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}', Act.HOLD),
        (429, b"<html>slow down</html>", Act.HOLD),
        (400, b'{"error":"ExpiredToken","message":"Token has expired"}', Act.REFRESH),
        (401, b'{"error":"InvalidToken"}', Act.REFRESH),
        (401, b'{"error":"AuthenticationRequired","message":"Invalid identifier or password"}', Act.DISABLE),
        (400, b'{"error":"AccountTakedown"}', Act.DISABLE),
        (403, b'{"error":"Forbidden"}', Act.DISABLE),
        (502, b"<html><body>Bad Gateway</body></html>", Act.RETRY),
        (200, b'{"uri": "at://', Act.RETRY),
        (400, b"<html>", Act.RETRY),
        (400, b'{"message":"no error name"}', Act.RETRY),
        (500, b'{"error":"InternalServerError"}', Act.LOOKUP),
        (400, b'{"error":"RecordAlreadyExists"}', Act.LOOKUP),
        (400, b'{"error":"InvalidRequest","message":"Record/text must not be longer than 300 graphemes"}', Act.DEAD),
        (413, b'{"error":"PayloadTooLarge"}', Act.DEAD),
        (400, b'{"error":"SomethingNew"}', Act.DEAD),
        (408, b'{"error":"Timeout"}', Act.RETRY),
        (302, b'{"error":"Moved"}', Act.RETRY),
    ],
)
def test_answer_table(status, body, act):
    assert judge(status, body).act is act


def test_every_row_is_reachable_and_the_table_ends_with_a_catch_all():
    assert BSKY_ANSWERS[-1].status is None and BSKY_ANSWERS[-1].body == ""


def test_a_429_holds_until_the_pds_reset_else_retry_after_else_a_minute():
    reset = int(NOW.timestamp()) + 300
    assert hold({"ratelimit-reset": str(reset)}, NOW) == datetime.fromtimestamp(reset, UTC)
    assert (hold({"Retry-After": "90"}, NOW) - NOW).total_seconds() == 90
    assert (hold({"ratelimit-reset": "soon"}, NOW) - NOW).total_seconds() == 60
