"""`warnd run` fed a BMKG document that disagrees with itself between two good ones: the daemon
posts the first, rejects the contradicting one (logged with feed, item, field and reason, the
stored quake left as it was, nothing posted), keeps running and posts BMKG's real revision that
follows.

The documents: the real autogempa.json of 5 Oct 2021 (M4.5 near Dompu); that file with the
magnitude raised to 6.5 and DateTime an hour off Tanggal+Jam; that file with the magnitude
revised to 4.8."""

from __future__ import annotations

import json

import pytest

from tests.acceptance.test_daemon_end_to_end import Daemon, fast_feed, log_lines, posts, wait_for
from tests.conftest import RULES_ANY_QUAKE, sample, write_config

pytestmark = pytest.mark.acceptance


def dompu(**changes: str) -> bytes:
    doc = json.loads(sample("bmkg-tews/autogempa_2021-10-05_dompu_arraysyams.json"))
    doc["Infogempa"]["gempa"].update(changes)
    return json.dumps(doc).encode()


def test_a_self_contradicting_document_is_rejected_and_the_daemon_goes_on(tmp_path, feed_server):
    url = feed_server.serve("/autogempa.json", dompu())
    cfg = write_config(tmp_path, feeds=fast_feed(url), rules=RULES_ANY_QUAKE, replay=True)
    log = tmp_path / "daemon.log"
    d = Daemon(cfg, log)
    try:
        (first,) = wait_for(lambda: posts(tmp_path), what="the first warning")
        assert (first["account"], first["kind"]) == ("ntb", "new") and "M4.5" in first["text"]

        feed_server.serve("/autogempa.json", dompu(Magnitude="6.5", DateTime="2021-10-05T12:00:27+00:00"))
        (line,) = wait_for(
            lambda: [ln for ln in log_lines(log) if ln["event"] == "item.rejected"], what="the rejection"
        )
        assert (line["feed"], line["item"], line["field"], line["reason"]) == (
            "autogempa",
            "gempa[0]",
            "DateTime",
            "inconsistent",
        )
        assert line["level"] == "warning" and "+3600 s" in line["detail"]
        # Polled again and again, rejected each time the document changes, never posted.
        wait_for(lambda: len(feed_server.hits("/autogempa.json")) >= 8, what="more polls")
        assert d.proc.poll() is None and len(posts(tmp_path)) == 1

        feed_server.serve("/autogempa.json", dompu(Magnitude="4.8"))
        (update,) = wait_for(lambda: posts(tmp_path)[1:], what="the revision")
        assert update["kind"] == "update" and update["text"].startswith("RALAT") and "M4.8" in update["text"]
        assert "6.5" not in update["text"]
        assert d.proc.poll() is None
    finally:
        assert d.stop() == 0
