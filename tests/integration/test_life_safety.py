"""One definition of life safety (model.life_safety) for muting, cooldowns, delivery order and
posting budgets, seen on the Jakarta gates at 01:30 WIB on 26 April 2019: P.A. Jembatan Merah at
Siaga 1 (2000 mm), Marina Ancol and Pasar Ikan at Siaga 2, P.A. Hek at Siaga 3."""

import asyncio
import shutil
from datetime import datetime, timedelta

import pytest

from tests.conftest import ROOT
from warnd.channels.base import Budget, Job, Sent
from warnd.clock import FixedClock
from warnd.config.schema import DispatchSettings
from warnd.model import Delivery, Hazard, HazardEvent, MsgType, Status, urgency_rank
from warnd.runtime.dispatcher import Dispatcher
from warnd.runtime.simulate import Document, Run, simulate
from warnd.store.db import connect
from warnd.store.outbox import Outbox
from warnd.store.targets import RateLog

APRIL = ROOT / "feeds/samples/gauges/jakarta-opendata_tinggi-muka-air_2019-04_commonlabs.csv"
AT = datetime.fromisoformat("2019-04-26T01:30:00+07:00")
FLOOD = HazardEvent("gauge-1", "jakarta-csv", "jakarta-csv", Hazard.FLOOD, MsgType.ALERT, Status.ACTUAL, AT)


def config(tmp_path, *, silences: str = "", cooldown: str = ""):
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "config", folder, ignore=shutil.ignore_patterns("regions"))
    (folder / "regions").symlink_to(ROOT / "config" / "regions")
    cfg = folder / "warnd.yaml"
    text = cfg.read_text().replace("feed_catalogue: ../feeds", f"feed_catalogue: {ROOT / 'feeds'}")
    cfg.write_text(text + (f"\nsilences:\n{silences}" if silences else ""))
    if cooldown:
        rules = folder / "rules" / "banjir.yaml"
        rule = rules.read_text().replace("all_clear_after: 1h", f"all_clear_after: 1h\n      cooldown: {cooldown}")
        rules.write_text(rule)
    return cfg


def run(cfg) -> Run:
    return simulate(cfg, [Document(str(APRIL), APRIL.read_bytes(), "drill-jakarta-2019-04")], [AT])


def jakarta(r: Run) -> dict[str, str]:
    """Gate -> level posted to the Jakarta account."""
    return {w.event_id: w.level or "" for w in r.warnings if w.account == "gempa-jakarta"}


def held(r: Run, reason: str) -> set[str]:
    return {
        s["event_id"]
        for s in r.trace
        for rule in s["rules"]
        for h in rule.get("held", [])
        if h["account"] == "gempa-jakarta" and h["reason"] == reason
    }


@pytest.fixture(scope="module")
def plain():
    return run(ROOT / "config" / "warnd.yaml")


def test_the_moment_has_siaga_1_and_lower_gates(plain):
    levels = jakarta(plain)
    assert levels["gauge-jakarta-p-a-jembatan-merah"] == "siaga1"
    assert sorted(levels.values()).count("siaga2") >= 2


@pytest.mark.parametrize(
    "silence",
    [
        "  - {rule: pintu-air-jakarta, until: '2030-01-01T00:00:00+07:00', reason: uji coba}\n",
        "  - {account: gempa-jakarta, until: '2030-01-01T00:00:00+07:00', reason: uji coba}\n",
    ],
)
def test_a_silence_mutes_siaga_2_and_3_but_never_siaga_1(tmp_path, plain, silence):
    muted = run(config(tmp_path, silences=silence))
    levels = jakarta(plain)
    assert jakarta(muted) == {g: lv for g, lv in levels.items() if lv == "siaga1"}
    assert held(muted, "silenced") == {g for g, lv in levels.items() if lv != "siaga1"}


def test_a_cooldown_holds_siaga_2_and_3_but_never_siaga_1(tmp_path, plain):
    cooled = run(config(tmp_path, cooldown="2h"))
    levels = jakarta(plain)
    posted = jakarta(cooled)
    # One post opens the cooldown; after it only Siaga 1 still goes.
    assert levels["gauge-jakarta-p-a-jembatan-merah"] == posted["gauge-jakarta-p-a-jembatan-merah"] == "siaga1"
    others = [g for g, lv in posted.items() if lv != "siaga1"]
    assert len(others) <= 1
    assert held(cooled, "cooldown") == {g for g, lv in levels.items() if lv != "siaga1"} - set(others)
    assert held(cooled, "cooldown")


def test_siaga_1_heads_its_lane_though_issued_after_siaga_2(tmp_path, plain):
    ws = [w for w in plain.warnings if w.account == "gempa-jakarta"]
    siaga1 = next(w for w in ws if w.level == "siaga1")
    assert ws.index(siaga1) > 0 and all(w.priority.value == "high" for w in ws)  # the rule says high
    conn = connect(tmp_path / "w.db")
    box = Outbox(conn)
    with conn.transaction():
        for i, w in enumerate(ws):
            box.enqueue(w, ["account:gempa-jakarta"], AT + timedelta(seconds=i), event=FLOOD)
    head = box.head("account:gempa-jakarta")
    assert head is not None and head.warning.id == siaga1.id
    assert urgency_rank(siaga1, "flood") < min(urgency_rank(w, "flood") for w in ws if w is not siaga1)


class Counted:
    """A channel with a posting budget, recording what it was given."""

    channel = "x"
    replies = False
    batch = 1
    hold_keys: tuple[str, ...] = ()

    def __init__(self, target: str, budget: Budget) -> None:
        self.target = target
        self.budgets = (budget,)
        self.sent: list[Delivery] = []

    def cost(self, job: Job) -> int:
        return 1

    async def send(self, job: Job) -> Sent:
        self.sent.append(job.delivery)
        return Sent(remote_id=str(len(self.sent)))

    async def aclose(self) -> None:
        return None


def test_only_life_safety_spends_the_budget_reserve(tmp_path, plain):
    ws = [w for w in plain.warnings if w.account == "gempa-jakarta"]
    siaga1 = next(w for w in ws if w.level == "siaga1")
    siaga2 = next(w for w in ws if w.level == "siaga2")
    conn = connect(tmp_path / "w.db")
    box = Outbox(conn)
    with conn.transaction():
        box.enqueue(siaga2, ["account:a"], AT, event=FLOOD)
        box.enqueue(siaga1, ["account:b"], AT, event=FLOOD)
    # Both accounts share the app's budget; ordinary posts have used all of it but the reserve.
    budget = Budget("x:app", posts=10, window=900.0, reserve=2)
    RateLog(conn).add(["x:app"], AT - timedelta(minutes=1), 8)
    senders = {t: Counted(t, budget) for t in ("account:a", "account:b")}
    dispatcher = Dispatcher(conn, FixedClock(AT), lambda: senders, lambda: DispatchSettings())

    async def step(target: str) -> float | None:
        return await dispatcher._step(target)

    assert asyncio.run(step("account:a")) == pytest.approx(840.0)  # waits for the window
    assert not senders["account:a"].sent
    assert asyncio.run(step("account:b")) == 0.0
    assert [d.warning.id for d in senders["account:b"].sent] == [siaga1.id]
