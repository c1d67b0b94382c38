"""The performance and reliability pages are what their commands write, never edited by hand."""

import json

from bench import performance_doc
from tests.conftest import ROOT
from tests.reliability import campaign
from tests.reliability.__main__ import page

INFO = {"python": "CPython 3.11.7", "platform": "x86_64 linux 6.1", "cpu": "AMD EPYC", "cores": 2}


def test_the_performance_page_is_the_stored_run_as_the_benchmark_writes_it() -> None:
    results = json.loads((ROOT / "bench" / "results.json").read_text())
    assert (ROOT / "docs" / "performance.md").read_text() == performance_doc.render(
        results, ".venv/bin/python bench/run.py"
    )


def test_the_performance_page_names_its_run_and_marks_each_goal() -> None:
    results = {
        "machine": {**INFO, "commit": "abc1234", "when": "2026-11-30T01:02:03+00:00"},
        "seconds": {"parse": 2.0, "detection": 60.4},
        "rows": [
            {"what": "parse one document", "result": "958 documents/s", "goal": None, "met": None},
            {"what": "exec to READY=1", "result": "1.44 s", "goal": "<= 2 s", "met": True},
            {"what": "peak memory", "result": "163 MB", "goal": "<= 150 MB", "met": False},
        ],
    }
    text = performance_doc.render(results, "bench/run.py")
    for needed in (
        "| date | 2026-11-30T01:02:03+00:00 |",
        "| commit | `abc1234` |",
        "AMD EPYC, 2 cores",
        "| sections | parse, detection (62 s) |",
        "| parse one document | 958 documents/s |  |",
        "| exec to READY=1 | 1.44 s | <= 2 s (met) |",
        "| peak memory | 163 MB | <= 150 MB (**missed**) |",
    ):
        assert needed in text, needed


def test_the_reliability_page_names_its_run_and_keeps_the_table_as_printed() -> None:
    table = [f"| {' | '.join(campaign.HEADER)} |", "| kill -9 mid-replay | 10 kills | 720/720 | 0 | 0 | 0 | 38 s | |"]
    info = {**INFO, "commit": "abc1234", "when": "2026-11-30T01:02:03+00:00"}
    text = page(info, table, "python -m tests.reliability", "CI", failed=False)
    for needed in (
        "| started | 2026-11-30T01:02:03+00:00 |",
        "| commit | `abc1234` |",
        "| sizes | CI ",
        "`python -m tests.reliability`",
        "| verdict | passed",
        *table,
    ):
        assert needed in text, needed
    assert "**failed**" in page(info, table, "python -m tests.reliability", "CI", failed=True)


def test_the_reliability_page_is_a_written_run() -> None:
    text = (ROOT / "docs" / "reliability.md").read_text()
    assert text.startswith("# Reliability\n\n<!-- Written by `python -m tests.reliability`")
    for field in ("| started |", "| commit |", "| machine |", "| sizes |", f"| {' | '.join(campaign.HEADER)} |"):
        assert field in text, field
