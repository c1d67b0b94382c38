"""Operating the outbox from the command line, credentials by reference, partner routing, and a
rate-limit hold that outlives a restart."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.channels.base import Job, Sent
from warnd.cli import main
from warnd.config import secrets
from warnd.config.schema import Partner
from warnd.model import Priority, Region, Status, Warning, WarningKind
from warnd.pipeline.issue import targets
from warnd.runtime.build import build
from warnd.store.db import connect
from warnd.store.outbox import Outbox
from warnd.store.targets import Targets

FEEDS = """  - id: autogempa
    format: bmkg-tews
    url: https://data.bmkg.go.id/DataMKG/TEWS/autogempa.json
"""


def warning(i=0, account="jabar", kind=WarningKind.NEW, level=None, severity="moderate", code="32.04"):
    return Warning(
        id=f"w-{i}",
        event_id=f"e-{i}",
        revision="r",
        rule="gempa-test",
        account=account,
        kind=kind,
        severity=severity,
        priority=Priority.NORMAL,
        regions=(Region(code, "Kabupaten Bandung", "regency"),),
        lang="id",
        text=f"Gempa nomor {i}",
        status=Status.ACTUAL,
        created_at=datetime.now(UTC),
        level=level,
    )


def test_outbox_list_retry_drop_and_history(tmp_path, capsys):
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE)
    conn = connect(tmp_path / "state" / "warnd.db")
    box = Outbox(conn)
    now = datetime.now(UTC)
    with conn.transaction():
        for i in range(3):
            box.enqueue(warning(i), ["account:jabar", "partner:radio"], now)
    first = box.head("partner:radio")
    box.mark_dead(first.id, "bad_request", "partner radio: HTTP 410", now, attempted=True)
    Targets(conn).disable("partner:radio", now, "auth", "partner radio: HTTP 401")
    conn.close()

    assert main(["outbox", "list", "-c", str(cfg), "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 6 and {r["state"] for r in rows} == {"pending", "dead"}
    assert main(["outbox", "list", "-c", str(cfg), "--state", "dead"]) == 0
    out = capsys.readouterr().out
    assert f"#{first.id}" in out and "HTTP 410" in out and "partner:radio: DISABLED" in out

    # No daemon runs here: status reads the state database, says so, and exits 3.
    assert main(["status", "-c", str(cfg), "--format", "json"]) == 3
    snap = json.loads(capsys.readouterr().out)
    assert snap["source"] == "state database"
    assert snap["dead"][0]["target"] == "partner:radio" and snap["targets"][0]["disabled"]
    assert snap["queues"]["partner:radio"] == {
        "waiting": 2,
        "dead": 1,
        "oldest_waiting": snap["queues"]["partner:radio"]["oldest_waiting"],
    }

    assert main(["outbox", "retry", "-c", str(cfg), "--target", "partner:radio"]) == 0
    assert "3 deliveries queued" in capsys.readouterr().out
    conn = connect(tmp_path / "state" / "warnd.db")
    assert Targets(conn).get("partner:radio").disabled_at is None
    assert Outbox(conn).counts()["dead"] == 0
    conn.close()

    assert main(["outbox", "drop", "-c", str(cfg), str(first.id), "--reason", "sent by hand"]) == 0
    capsys.readouterr()
    assert main(["history", "-c", str(cfg), "--event", "e-0", "--format", "json"]) == 0
    (w,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    states = {d["target"]: (d["state"], d["last_error"]) for d in w["deliveries"]}
    assert states == {"account:jabar": ("pending", None), "partner:radio": ("dropped", "sent by hand")}


def test_the_command_line_drops_a_life_safety_delivery_only_once_dead_as_the_console_does(tmp_path, capsys):
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE)
    conn = connect(tmp_path / "state" / "warnd.db")
    box = Outbox(conn)
    now = datetime.now(UTC)
    vital = replace(warning(7, level="awas"), priority=Priority.LIFE_SAFETY)
    with conn.transaction():
        box.enqueue(vital, ["account:jabar", "partner:radio"], now)
        box.enqueue(warning(8), ["account:jabar"], now)
    waiting = box.head("account:jabar")
    dead = box.head("partner:radio")
    box.mark_dead(dead.id, "bad_request", "partner radio: HTTP 410", now, attempted=True)
    ordinary = next(d for d in box.listing(["pending"], limit=10) if d.warning.id == "w-8")
    conn.close()

    code = main(["outbox", "drop", "-c", str(cfg), str(waiting.id), str(dead.id), str(ordinary.id), "--reason", "x"])
    out = capsys.readouterr()
    assert code != 0 and "2 deliveries dropped" in out.out
    assert f"delivery {waiting.id} carries a life-safety warning and is pending" in out.err
    conn = connect(tmp_path / "state" / "warnd.db")
    states = {d.id: d.state.value for d in Outbox(conn).listing(["pending", "dead", "dropped"], limit=10)}
    conn.close()
    assert states == {waiting.id: "pending", dead.id: "dropped", ordinary.id: "dropped"}


def test_credentials_come_from_the_credentials_directory_or_the_environment(tmp_path, monkeypatch):
    folder = tmp_path / "creds"
    folder.mkdir()
    (folder / "x-app.consumer_key").write_text("from-file\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(folder))
    monkeypatch.setenv("WARND_SECRET_X_APP_CONSUMER_KEY", "from-env")
    monkeypatch.setenv("WARND_SECRET_X_APP_CONSUMER_SECRET", "env-only")
    assert secrets.read("x-app.consumer_key").reveal() == "from-file"
    assert secrets.read("x-app.consumer_secret").reveal() == "env-only"
    assert secrets.read("x-nowhere.access_token") is None
    assert "from-file" not in repr(secrets.read("x-app.consumer_key"))


def test_a_missing_credential_is_refused_naming_where_to_put_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    accounts = '\n  jabar: {channel: x, name: "Jawa Barat", regions: ["32"], credential: x-jabar}'
    extra = (
        'partners:\n  radio: {name: R, url: "https://radio.example/hook", secret: partner-radio, accounts: [jabar]}\n'
    )
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=accounts, extra=extra)
    assert main(["check", "-c", str(cfg)]) == 0
    capsys.readouterr()
    monkeypatch.setenv("WARND_SECRET_X_JABAR_ACCESS_TOKEN", "the-token-value")
    assert main(["check", "-c", str(cfg), "--secrets"]) == 2
    err = capsys.readouterr().err
    for name in (
        "WARND_SECRET_X_APP_CONSUMER_KEY",
        "WARND_SECRET_X_JABAR_ACCESS_TOKEN_SECRET",
        "WARND_SECRET_PARTNER_RADIO",
    ):
        assert name in err
    assert "WARND_SECRET_X_JABAR_ACCESS_TOKEN " not in err and "the-token-value" not in err
    for k, v in {
        "WARND_SECRET_X_APP_CONSUMER_KEY": "k",
        "WARND_SECRET_X_APP_CONSUMER_SECRET": "s",
        "WARND_SECRET_X_JABAR_ACCESS_TOKEN_SECRET": "t",
        "WARND_SECRET_PARTNER_RADIO": "p",
    }.items():
        monkeypatch.setenv(k, v)
    b = build(cfg, with_senders=True)
    assert set(b.senders) == {"account:jabar", "feed:jabar", "partner:radio"}


def test_a_malformed_whsec_partner_secret_is_refused_naming_it_never_showing_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    accounts = f'\n  jabar: {{channel: file, path: {tmp_path}/posts.jsonl, name: "Jawa Barat", regions: ["32"]}}'
    extra = (
        'partners:\n  radio: {name: R, url: "https://radio.example/hook", secret: partner-radio, accounts: [jabar]}\n'
    )
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=accounts, extra=extra)
    monkeypatch.setenv("WARND_SECRET_PARTNER_RADIO", "whsec_Kx8*Vd3*notbase64")
    assert main(["check", "-c", str(cfg), "--secrets"]) == 2
    err = capsys.readouterr().err
    assert "partner-radio" in err and "whsec_" in err and "WARND_SECRET_PARTNER_RADIO" in err
    assert "Kx8" not in err
    b = build(cfg, with_senders=True)
    assert "partner:radio" not in b.senders and "Kx8" not in repr(b.missing)
    # Two lines (a secret and the next one) are a valid rotation: a sender is built.
    monkeypatch.setenv("WARND_SECRET_PARTNER_RADIO", "plain-old-secret\nwhsec_" + "QUJDREVGR0g=")
    assert "partner:radio" in build(cfg, with_senders=True).senders


def test_partner_filters_and_follow_ups():
    p = Partner(name="R", url="https://r.example", secret="s", accounts=["jabar"], hazards=["flood"], levels=["siaga1"])
    none = lambda target: False  # noqa: E731
    assert targets(warning(level="siaga1"), "flood", {"radio": p}, none) == [
        "account:jabar",
        "feed:jabar",
        "partner:radio",
    ]
    assert "partner:radio" not in targets(warning(level="siaga3"), "flood", {"radio": p}, none)
    assert "partner:radio" not in targets(warning(level="siaga1"), "earthquake", {"radio": p}, none)
    assert "partner:radio" not in targets(warning(account="ntb", level="siaga1"), "flood", {"radio": p}, none)
    # The all-clear of an event the partner was told about reaches it whatever its filters say.
    clear = warning(kind=WarningKind.ALL_CLEAR, level="normal")
    assert "partner:radio" in targets(clear, "flood", {"radio": p}, lambda target: target == "partner:radio")
    by_region = Partner(name="R", url="https://r.example", secret="s", accounts=["jabar"], regions=["32"])
    assert "partner:radio" in targets(warning(code="32.04"), "earthquake", {"radio": by_region}, none)
    assert "partner:radio" not in targets(warning(code="31.71"), "earthquake", {"radio": by_region}, none)


class Recorder:
    target = "account:jabar"
    budgets = ()
    hold_keys = ()
    replies = False
    channel = "test"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def cost(self, job: Job) -> int:
        return 1

    async def send(self, job: Job) -> Sent:
        self.sent.append(job.delivery.warning.id)
        return Sent("ok")

    async def aclose(self) -> None:
        return None


def test_operator_commands_act_at_the_time_of_the_clock_they_are_given(tmp_path, capsys):
    from warnd.cli import main
    from warnd.clock import FixedClock

    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE)
    at = datetime(2031, 3, 4, 5, 0, tzinfo=UTC)

    def run(argv: list[str], when: datetime) -> int:
        return main(argv, clock=FixedClock(when))

    assert run(["silence", "add", "-c", str(cfg), "--region", "32", "--for", "2h", "--reason", "drill"], at) == 0
    assert "until 2031-03-04T07:00:00Z" in capsys.readouterr().out
    assert run(["silence", "list", "-c", str(cfg)], at.replace(hour=6)) == 0
    assert "region 32" in capsys.readouterr().out
    # Judged at the clock's time, not the system's: two hours on, the silence has run out.
    assert run(["silence", "list", "-c", str(cfg)], at.replace(hour=8)) == 0
    assert capsys.readouterr().out == ""

    conn = connect(tmp_path / "state" / "warnd.db")
    with conn.transaction():
        Outbox(conn).enqueue(warning(0), ["partner:radio"], at)
        Targets(conn).hold("partner:radio", at.replace(hour=7), "rate_limited", "partner radio: HTTP 429")
    conn.close()
    assert run(["outbox", "list", "-c", str(cfg)], at.replace(hour=6)) == 0
    assert "partner:radio: held until 2031-03-04T07:00:00Z" in capsys.readouterr().out
    assert run(["outbox", "list", "-c", str(cfg)], at.replace(hour=8)) == 0
    assert "held until" not in capsys.readouterr().out
