"""The decision record of a document of many changes (a gauge storm, a catalogue's backlog): the
record keeps the document's last changes, with every rule of the event's hazard that did not fire
and why, the same as a trace that explains every change; the changes it does not keep do not
hold their reasons until the commit. The rules are judged a slice of the document at a time, and
the warnings are those of one judgement of the whole."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import sample, write_config
from warnd.clock import FixedClock
from warnd.model import HazardEvent, ParseResult, Source
from warnd.obs import setup_logging
from warnd.pollers import bmkg
from warnd.runtime import ingest as ingest_mod
from warnd.runtime.build import build
from warnd.runtime.ingest import Ingest, IngestReport
from warnd.store.db import connect
from warnd.store.decisions import PER_DOCUMENT, Decisions

NOW = datetime(2024, 1, 10, 14, 0, tzinfo=UTC)
FEED = "  - id: gempa\n    format: bmkg-tews\n    url: http://127.0.0.1:9/gempa.json\n    interval: 60\n"
# Only quake rules: a trace that explains every rule then says what the daemon's record says.
RULES = """rules:
  - id: gempa-jabar
    match: {hazard: earthquake, magnitude: ">= 4"}
    where: {within_km: 80, regions: ["32"]}
    then: {accounts: ["*"]}
  - id: gempa-ntb
    match: {hazard: earthquake, magnitude: ">= 4"}
    where: {within_km: 80, regions: ["52"]}
    then: {accounts: ["*"]}
  - id: gempa-besar
    match: {hazard: earthquake, magnitude: ">= 6.5"}
    where: {within_km: 300}
    then: {accounts: ["*"]}
"""
MANY = PER_DOCUMENT + 31


def _quakes() -> tuple[HazardEvent, ...]:
    """Sumedang's real quake of 10 January 2024, moved along Java a minute apart, some strong."""
    doc = sample("bmkg-tews/autogempa_2024-01-10_sumedang_aldii.json")
    (base,) = bmkg.parse(doc, Source("gempa", NOW)).events
    assert base.lat is not None and base.lon is not None
    return tuple(
        replace(
            base,
            id=f"q{i}",
            lon=base.lon + (i % 9) * 0.4 - 1.6,
            magnitude=7.0 if i % 11 == 0 else 4.5,
            time=base.time + timedelta(minutes=i),
        )
        for i in range(MANY)
    )


def _ingest(folder: Path, *, explain: bool) -> tuple[IngestReport, list[dict[str, Any]]]:
    cfg = write_config(folder, feeds=FEED, rules=RULES, extra="replay: true\n")
    bundle = build(cfg, with_senders=False)
    conn = connect(folder / "state.db")
    try:
        ingest = Ingest(conn, FixedClock(NOW), lambda: bundle, explain=explain, decisions=True, defer_cap=True)
        report = ingest.handle("gempa", ParseResult(_quakes()))
        return report, Decisions(conn).latest(2 * MANY)
    finally:
        conn.close()


def test_the_record_of_a_long_document_keeps_every_reason_of_its_last_changes(tmp_path, monkeypatch):
    # At the daemon's level: a debug log would want every reason (the fixture puts it back).
    setup_logging("info", json=True)
    explained, told = _ingest(tmp_path / "explained", explain=True)
    # Several slices, one of them cut short.
    monkeypatch.setattr(ingest_mod, "JUDGED_AT_ONCE", 7)
    daemon, recorded = _ingest(tmp_path / "daemon", explain=False)

    assert len(recorded) == PER_DOCUMENT == len(told)
    assert recorded == told
    assert [d["event_id"] for d in recorded] == [f"q{i}" for i in reversed(range(MANY - PER_DOCUMENT, MANY))]
    for step in recorded:
        rules = {r["rule"]: r for r in step["rules"]}
        assert set(rules) == {"gempa-jabar", "gempa-ntb", "gempa-besar"}, step
        for r in rules.values():
            assert r["fired"] or (r["reason"] and r["detail"]), r
    said = [r for step in recorded for r in step["rules"]]
    assert {r["reason"] for r in said if not r["fired"]} == {"outside_region", "below_threshold"}
    assert any(r["fired"] for r in said)

    # The same warnings, judged whole or in slices.
    def posts(report: IngestReport) -> list[tuple[str, str, str, tuple[str, ...]]]:
        return [(w.event_id, w.account, w.text, w.regions) for w in report.warnings]

    assert posts(daemon) == posts(explained) and len(daemon.warnings) > MANY // 4

    # The changes the record does not keep did not keep their reasons either.
    unfired = [sum(not r["fired"] for r in step["rules"]) for step in daemon.trace]
    assert sum(unfired[:-PER_DOCUMENT]) == 0 < sum(unfired[-PER_DOCUMENT:])


@pytest.mark.parametrize("at_once", [1, 256])
def test_slices_of_any_size_issue_the_same_warnings(tmp_path, monkeypatch, at_once):
    whole, _ = _ingest(tmp_path / "whole", explain=False)
    monkeypatch.setattr(ingest_mod, "JUDGED_AT_ONCE", at_once)
    sliced, _ = _ingest(tmp_path / "sliced", explain=False)
    assert [w.text for w in sliced.warnings] == [w.text for w in whole.warnings]
