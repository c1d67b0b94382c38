"""The bulletin desk (runtime.bulletins) on a real SQLite store and a real configuration: each
refusal names the field and answers with its status; an approval and the warnings it queues
commit together or not at all; a queued warning is never touched; the listing shows the
warnings each approval issued."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from warnd.clock import FixedClock
from warnd.errors import OperatorError
from warnd.runtime.build import Bundle, build
from warnd.runtime.bulletins import BulletinDesk
from warnd.runtime.maps import Drawing
from warnd.store.db import connect
from warnd.store.outbox import Outbox

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
RULES = "rules:\n  - id: banjir\n    match: {hazard: flood}\n    then: {accounts: ['*'], template: flood}\n"
FEEDS = "  - id: gauge\n    format: bmkg-tews\n    url: http://127.0.0.1:9/none\n"
WRITE = {
    "regions": ["53.16"],
    "hazard": "tsunami",
    "level": "awas",
    "status": "actual",
    "headline": "Peringatan tsunami Nagekeo",
    "text_id": "Segera menjauh dari pantai.",
}


class Desk:
    def __init__(self, tmp_path: Path, extra: str = "") -> None:
        accounts = f"""
  ntt: {{channel: file, path: {tmp_path}/posts.jsonl, name: "NTT", regions: ["53"]}}
  ntb: {{channel: file, path: {tmp_path}/posts.jsonl, name: "NTB", lang: en, regions: ["52"]}}
"""
        cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES, accounts=accounts, extra=extra)
        self.bundle: Bundle = build(cfg, with_senders=False)
        self.conn = connect(tmp_path / "state.db")
        self.clock = FixedClock(NOW)
        self.drawn: list[Drawing] = []
        self.desk = BulletinDesk(self.conn, lambda: self.bundle, self.clock, on_drawings=self.drawn.extend)
        self.actions = self.desk.actions()

    def act(self, name: str, user: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.actions[f"bulletin/{name}"](user, body)

    def refused(self, name: str, user: str, body: dict[str, Any]) -> OperatorError:
        with pytest.raises(OperatorError) as e:
            self.act(name, user, body)
        return e.value

    def queued(self) -> list[tuple[str, str, str]]:
        rows = self.conn.execute(
            "SELECT w.account, w.kind, d.target FROM warnings w JOIN deliveries d ON d.warning_id = w.id ORDER BY d.id"
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return Desk(tmp_path)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"accounts": ["nope"]}, "accounts", "unknown account 'nope'"),
        ({"regions": ["99.99"]}, "regions", "unknown region code '99.99'"),
        ({"regions": ["32.04"], "accounts": ["ntt"]}, "regions", "32.04 is outside the area of every account named"),
        ({"regions": ["32.04"]}, "regions", "no account covers 32.04"),
        ({"regions": []}, "accounts, regions", "name at least one"),
        ({"text_id": "  "}, "text_id", "empty"),
        ({"text_id": "x" * 2001}, "text_id", "2001 characters, more than the 2000"),
        ({"hazard": "volcano"}, "hazard", "'volcano' is not one of earthquake"),
        ({"status": "test"}, "status", "not one of actual, exercise"),
        ({"level": "sangat tinggi"}, "level", "a word of a scale"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
def test_a_malformed_bulletin_is_refused_naming_the_field(desk: Desk, change, field, words):
    e = desk.refused("write", "ani", {**WRITE, **change})
    assert e.status == 400 and e.message.startswith(f"{field}: ") and words in e.message
    assert desk.desk.listing() == []


def test_an_approval_queues_its_warnings_in_its_own_transaction_and_touches_nothing_queued(desk: Desk):
    written = desk.act("write", "ani", WRITE)["bulletin"]
    # Another warning already in the outbox stays as it is.
    other = desk.act("write", "citra", {**WRITE, "regions": ["52.01"], "hazard": "flood", "level": None})
    desk.act("approve", "ani", {"id": other["bulletin"]["id"]})
    before = desk.queued()
    assert before == [("ntb", "new", "account:ntb"), ("ntb", "new", "feed:ntb")]

    own = desk.refused("approve", "ani", {"id": written["id"]})
    assert own.status == 403 and "two-person" in own.message
    assert desk.refused("approve", "budi", {"id": "b-nope"}).status == 404

    # The configuration lost the account meanwhile: the approval fails whole, nothing is queued
    # and the bulletin is still pending.
    kept = desk.bundle
    desk.bundle = dataclasses.replace(kept, accounts={"ntb": kept.accounts["ntb"]})
    gone = desk.refused("approve", "budi", {"id": written["id"]})
    assert gone.status == 409 and "nothing to send" in gone.message
    assert desk.queued() == before and desk.desk.listing()[1]["state"] == "pending"
    desk.bundle = kept

    answer = desk.act("approve", "budi", {"id": written["id"]})
    assert answer["ok"] and "1 warning(s) queued" in answer["message"]
    assert desk.queued() == [*before, ("ntt", "new", "account:ntt"), ("ntt", "new", "feed:ntt")]
    (wid,) = answer["bulletin"]["warnings"].values()
    row = desk.conn.execute("SELECT priority, data FROM warnings WHERE id = ?", (wid,)).fetchone()
    # A tsunami bulletin is life safety, and goes first in its lane.
    assert row[0] == "life_safety" and json.loads(row[1])["regions"][0]["code"] == "53.16"
    assert [d.warning.id for d in desk.drawn][-1] == wid
    assert desk.refused("approve", "citra", {"id": written["id"]}).status == 409
    listing = desk.desk.listing()
    # Newest first: the one written last, then this one.
    assert [(b["id"], b["state"], b["warnings"]) for b in listing][1] == (written["id"], "approved", {"ntt": wid})


def test_a_correction_or_cancel_needs_something_sent_and_not_cancelled(desk: Desk):
    b = desk.act("write", "ani", WRITE)["bulletin"]
    early = desk.refused("correct", "budi", {"id": b["id"], "text_id": "ralat"})
    assert early.status == 409 and "nothing of the series" in early.message
    assert desk.refused("cancel", "budi", {"id": "b-nope", "why": "x"}).status == 404
    assert desk.refused("cancel", "budi", {"id": b["id"]}).message.startswith("why: ")
    desk.act("approve", "budi", {"id": b["id"]})

    fix = desk.act("correct", "budi", {"id": b["id"], "text_id": "Ralat: menjauh dari pantai.", "level": "siaga"})
    assert (fix["bulletin"]["series"], fix["bulletin"]["level"]) == (b["id"], "siaga")
    stop = desk.act("cancel", "budi", {"id": fix["bulletin"]["id"], "why": "Peringatan diakhiri."})["bulletin"]
    # The cancel is approved first: the pending correction is withdrawn with its series.
    desk.act("approve", "ani", {"id": stop["id"]})
    states = {x["id"]: x["state"] for x in desk.desk.listing()}
    assert states == {b["id"]: "approved", fix["bulletin"]["id"]: "withdrawn", stop["id"]: "approved"}
    assert [k for _, k, t in desk.queued() if t == "account:ntt"] == ["new", "cancel"]
    late = desk.refused("correct", "budi", {"id": b["id"], "text_id": "lagi"})
    assert late.status == 409 and "cancelled" in late.message
    # What was rejected or withdrawn cannot be approved.
    assert desk.refused("approve", "ani", {"id": fix["bulletin"]["id"]}).status == 409
    assert Outbox(desk.conn).counts()["pending"] == 4


def test_without_the_two_person_rule_the_author_approves(tmp_path: Path):
    desk = Desk(tmp_path, extra="bulletins:\n  two_person: false\n")
    b = desk.act("write", "ani", WRITE)
    assert "approve it to send it" in b["message"]
    assert desk.act("approve", "ani", {"id": b["bulletin"]["id"]})["bulletin"]["approver"] == "ani"


def test_the_config_refuses_an_unknown_key_of_bulletins(tmp_path: Path):
    from warnd.errors import ConfigError

    with pytest.raises(ConfigError, match=r"bulletins\.two_persons"):
        Desk(tmp_path, extra="bulletins:\n  two_persons: false\n")


def test_an_approval_that_rolls_back_logs_no_warning_queued(desk: Desk, logs, monkeypatch):
    """`warning.queued` is what log-based alerting counts: it is said after the commit only."""
    written = desk.act("write", "ani", {**WRITE, "regions": ["53.16", "52.01"]})["bulletin"]
    real = Outbox.enqueue
    calls = 0

    def second_fails(self: Outbox, *args: Any, **kwargs: Any) -> bool:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the store went away mid-approval")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Outbox, "enqueue", second_fails)
    with pytest.raises(RuntimeError):
        desk.act("approve", "budi", {"id": written["id"]})
    monkeypatch.undo()
    assert calls == 2 and desk.queued() == []
    assert not [e for e in logs if e["event"] == "warning.queued"]
    answer = desk.act("approve", "budi", {"id": written["id"]})
    queued = [e for e in logs if e["event"] == "warning.queued"]
    assert sorted(e["warning_id"] for e in queued) == sorted(answer["bulletin"]["warnings"].values())
    assert all(e["event_id"] == answer["bulletin"]["series"] for e in queued)
