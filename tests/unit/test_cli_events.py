import json

import pytest

from tests.conftest import SAMPLES
from warnd.cli import main


def test_events_json_one_object_per_line(capsys):
    path = SAMPLES / "bmkg-tews" / "gempadirasakan_2025-12-24_darcien.json"
    assert main(["events", "--format", "json", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 15
    first = json.loads(lines[0])
    for key in (
        "id",
        "feed_format",
        "hazard",
        "msg_type",
        "status",
        "time",
        "lat",
        "lon",
        "magnitude",
        "depth_km",
        "tsunami",
        "felt",
        "level",
        "severity",
        "urgency",
        "certainty",
        "headline",
        "area",
    ):
        assert key in first
    assert first["time"] == "2025-12-24T05:30:34Z"
    assert (first["lat"], first["lon"], first["magnitude"]) == (-4.46, 102.6, 4.6)
    assert first["felt"][0] == {"mmi": "II-III", "mmi_min": 2, "mmi_max": 3, "place": "Bengkulu Utara"}


def test_events_table_shows_wib_and_utc(capsys):
    path = SAMPLES / "bmkg-tews" / "autogempa_2021-10-04_ternate_arraysyams.xml"
    assert main(["events", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2021-10-04T10:59:19Z" in out and "2021-10-04 17:59:19" in out
    assert "III Ternate" in out


def test_events_reports_a_broken_file_and_goes_on(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"Infogempa": ')
    good = SAMPLES / "bmkg-tews" / "autogempa_2024-01-10_sumedang_aldii.json"
    assert main(["events", "--format", "json", str(bad), str(good)]) == 1
    out = capsys.readouterr()
    assert "bad.json" in out.err and "invalid JSON" in out.err
    assert len(out.out.splitlines()) == 1


# The moment each recorded family was current (CAP alerts expire; gauge series are read as of
# the clock); everything else is read at today's date.
AT = {
    "nowcast-cap": "2026-02-16T16:00:00Z",
    "ipaws": "2019-04-19T18:00:00Z",
    "ntwc": "2013-01-05T10:00:00Z",
    "nws-cap11": "2021-12-27T12:00:00Z",
    "nws-atom": "2018-08-15T22:57:00Z",
    "meteoalarm": "2023-04-27T13:00:00Z",
}
ALL_SAMPLES = sorted(
    p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix in (".xml", ".json", ".geojson", ".txt", ".csv", ".gz")
)
EXPECTED_FORMAT = {
    "bmkg-tews": "bmkg-tews",
    "bmkg-nowcast": "cap",
    "cap-other": "cap",
    "usgs-geojson": "usgs-geojson",
    "gdacs-rss": "gdacs",
}


def test_every_family_is_in_the_samples():
    assert {p.parent.name for p in ALL_SAMPLES} == {
        "bmkg-tews",
        "bmkg-inatews",
        "bmkg-nowcast",
        "cap-other",
        "gauges",
        "usgs-geojson",
        "gdacs-rss",
    }


@pytest.mark.parametrize("path", ALL_SAMPLES, ids=lambda p: p.name)
def test_warnd_events_reads_every_recorded_document(path, capsys):
    args = ["events", "--format", "json", str(path)]
    at = next((v for k, v in AT.items() if path.name.startswith(k)), None)
    if at:
        args[1:1] = ["--at", at]
    assert main(args) == 0
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]
    if path.name.startswith("nowcast-rss"):
        assert not events and captured.err.count("links to https://www.bmkg.go.id/alerts/nowcast/") == 3
        return
    assert events, captured.err
    expected = EXPECTED_FORMAT.get(path.parent.name)
    if expected:
        assert {e["feed_format"] for e in events} == {expected}
    for e in events:
        assert e["time"].endswith("Z")


def test_warnd_events_names_an_unreadable_document(tmp_path, capsys):
    bad = tmp_path / "truncated.json"
    bad.write_bytes(b'{"Infogempa": {"gempa": {"Tanggal": "05 Okt')
    assert main(["events", str(bad)]) == 1
    assert "truncated.json" in capsys.readouterr().err
