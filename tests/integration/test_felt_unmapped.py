"""A felt-list place that names nothing known, through the daemon's poll path: the quake's
warning still goes out with every place that does map, and the place is logged (with the event,
the feed and the whole list) and counted in warnd_felt_places_unmapped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.conftest import REGIONS, ROOT
from tests.integration.rig import Rig

MADE_UP = "Kampung Khayalan"
ACCOUNTS = '\n  sulut: {channel: file, path: {folder}/posts.jsonl, name: "sulut", regions: ["71"]}'


def document() -> bytes:
    """The real M4.6 east of Bitung (gempadirasakan, 18 Dec 2025) with one made-up place added to
    its felt list."""
    doc = json.loads((ROOT / "feeds/samples/bmkg-tews/gempadirasakan_2025-12-24_darcien.json").read_bytes())
    (entry,) = [g for g in doc["Infogempa"]["gempa"] if g["Wilayah"].endswith("79 km Timur Bitung")]
    entry["Dirasakan"] += f", II {MADE_UP}"
    return json.dumps({"Infogempa": {"gempa": [entry]}}).encode()


def test_an_unmapped_felt_place_is_logged_and_counted_and_the_warning_still_goes(tmp_path, feed_server, logs):
    url = feed_server.serve("/gempadirasakan.json", document())
    rig = Rig(
        tmp_path,
        feed="bmkg-gempadirasakan",
        fmt="bmkg-tews",
        url=url,
        rules=(ROOT / "config" / "rules" / "gempa.yaml").read_text(),
        accounts=ACCOUNTS.replace("{folder}", str(tmp_path)),
        now=datetime(2025, 12, 18, 5, 40, tzinfo=UTC),
        extra=f"district_points: {REGIONS}/district-points.csv\nplace_aliases: {REGIONS}/place-aliases.csv\n",
    )
    rig.poll()
    (w,) = rig.warnings
    # Bitung, Tondano (Minahasa) and Manado all named; the made-up place is not, and nothing is lost.
    assert {"71.72", "71.02", "71.71"} <= {r.code for r in w.regions}
    (line,) = [e for e in logs if e["event"] == "place.unmapped"]
    assert line["places"] == [MADE_UP] and line["source"] == "felt" and line["log_level"] == "warning"
    assert line["event_id"] == w.event_id and line["feed"] == "bmkg-gempadirasakan"
    assert f"II {MADE_UP}" in line["text"] and "III Manado" in line["text"]
    assert rig.counted("warnd_felt_places_unmapped_total") == 1
    assert rig.counted("warnd_described_places_unmapped_total") == 0
