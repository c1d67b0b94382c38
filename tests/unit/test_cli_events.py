import json

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
