"""When an event is too old to be news (pipeline.age), on real recorded documents, and how the
per-account stage holds such an event back but still closes what an account already posted."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tests.conftest import ROOT, sample
from warnd.model import ChangeKind, Hazard, HazardEvent, Match, MsgType, Priority, Reason, Region, Source, WarningKind
from warnd.model import Warning as Post
from warnd.pipeline.age import MAX_AGE, Freshness, duration, too_old
from warnd.pipeline.issue import AccountView, plan
from warnd.pollers.registry import FORMATS

LIVE = Freshness()


def events(name: str, fmt: str, now: datetime) -> list[HazardEvent]:
    path = ROOT / "feeds" / name if name.startswith("demo/") else None
    data = path.read_bytes() if path else sample(name)
    result = FORMATS[fmt](data, Source("f", now, name))
    return list(result.events)


# gempaterkini of 12 Jul 2023: 15 M5+ quakes, the newest at 08:39:35 UTC.
TERKINI = "bmkg-tews/gempaterkini_2023-07-12_muhk01.json"
NEWEST = datetime(2023, 7, 12, 8, 39, 35, tzinfo=UTC)


def test_a_quake_two_minutes_old_is_news_and_one_of_2021_never():
    now = NEWEST + timedelta(minutes=2)
    quakes = events(TERKINI, "bmkg-tews", now)
    verdicts = {e.time: too_old(e, now, LIVE) for e in quakes}
    assert verdicts.pop(NEWEST) is None
    # The others (the next one is 2 days older) are all past the hour.
    assert len(verdicts) == 14
    assert all(v is not None and v[0] is Reason.STALE for v in verdicts.values())
    years = datetime(2026, 11, 29, tzinfo=UTC)
    flores = events("bmkg-tews/gempaterkini_2021-12-14_flores-m7.4_arraysyams.json", "bmkg-tews", NEWEST)
    assert all(too_old(e, years, LIVE) is not None for e in flores)
    (reason, detail) = too_old(flores[0], years, LIVE)  # type: ignore[misc]
    assert reason is Reason.STALE and "origin time 2021-" in detail and "past max_age 1h" in detail


def test_the_hour_is_measured_from_the_origin_time():
    quake = events(TERKINI, "bmkg-tews", NEWEST)[0]
    assert quake.time == NEWEST
    assert too_old(quake, NEWEST + timedelta(seconds=MAX_AGE[Hazard.EARTHQUAKE]), LIVE) is None
    assert too_old(quake, NEWEST + timedelta(seconds=MAX_AGE[Hazard.EARTHQUAKE] + 1), LIVE) is not None
    # A later message about the quake (an InaTEWS `sent`, a USGS `updated`) does not make it news.
    revised = replace(quake, sent=NEWEST + timedelta(days=3))
    assert too_old(revised, NEWEST + timedelta(days=3), LIVE) is not None


def test_the_first_poll_says_baseline_a_feed_max_age_overrides_and_replay_turns_it_off():
    quake = events(TERKINI, "bmkg-tews", NEWEST)[0]
    later = NEWEST + timedelta(hours=2)
    assert too_old(quake, later, Freshness(baseline=True)) == (
        Reason.BASELINE,
        "origin time 2023-07-12T08:39:35+00:00 is 2h old, past max_age 1h: already there at the feed's first poll",
    )
    assert too_old(quake, later, Freshness(max_age=3 * 3600.0)) is None
    assert too_old(quake, later, Freshness(max_age=3600.0)) is not None
    assert too_old(quake, datetime(2026, 11, 29, tzinfo=UTC), Freshness(baseline=True, replay=True)) is None


NAGEKEO = sorted((ROOT / "feeds" / "demo" / "nagekeo").iterdir())


def test_a_tsunami_warning_is_judged_by_its_latest_message_and_in_force_until_its_end():
    # PD-3.2 of Nagekeo was sent 1 h 30 min after the quake: in force, far past a quake's hour.
    (pd32,) = events(f"demo/nagekeo/{NAGEKEO[3].name}", "bmkg-inatews", datetime(2026, 8, 15, tzinfo=UTC))
    assert pd32.stage == "PD-3.2" and pd32.sent is not None and not pd32.ended
    at = pd32.sent + timedelta(minutes=20)
    assert (at - pd32.time) > timedelta(seconds=MAX_AGE[Hazard.EARTHQUAKE])
    assert too_old(pd32, at, LIVE) is None
    assert too_old(pd32, at, Freshness(baseline=True)) is None
    # A warning silent for longer than its max_age with no end seen is over, not in force.
    quiet = pd32.sent + timedelta(seconds=MAX_AGE[Hazard.TSUNAMI] + 60)
    verdict = too_old(pd32, quiet, LIVE)
    assert verdict is not None and verdict[0] is Reason.STALE and "latest message" in verdict[1]


def test_a_warning_with_an_expiry_is_news_while_in_force_whenever_it_was_issued():
    cap = "bmkg-nowcast/nowcast-cap_CBT20260216004_banten_2026-02-16_dhanyyudi.xml"
    (ev,) = events(cap, "cap", datetime(2026, 2, 16, 16, 5, tzinfo=UTC))
    assert ev.expires is not None and ev.sent is not None
    # Issued long enough ago to be stale by age alone, still in force.
    late = ev.expires - timedelta(minutes=1)
    assert (late - ev.sent).total_seconds() > 60
    assert too_old(ev, late, Freshness(max_age=60.0)) is None
    assert too_old(replace(ev, expires=None), late, Freshness(max_age=60.0)) is not None


def test_a_gauge_reading_is_judged_by_its_reading_time():
    gauges = events(
        "gauges/dsda-xmldata_2026-04-30T2350WIB_achmadnaufal.xml", "dsda-xml", datetime(2026, 5, 1, tzinfo=UTC)
    )
    g = gauges[0]
    assert g.hazard is Hazard.FLOOD
    assert too_old(g, g.time + timedelta(hours=2, minutes=59), LIVE) is None
    assert too_old(g, g.time + timedelta(hours=3, minutes=1), LIVE) is not None


def test_durations_read_as_an_operator_reads_them():
    assert [duration(s) for s in (45, 600, 3600, 5400, 7200, 9000, 86400 * 400)] == [
        "45s",
        "10m",
        "1h",
        "1h30m",
        "2h",
        "2h30m",
        "400d",
    ]


class _History:
    def __init__(self, past: list[Post]) -> None:
        self.past = past

    def warnings(self, event_id: str, account: str) -> list[Post]:
        return [w for w in self.past if w.event_id == event_id and w.account == account]

    def last_from_rule(self, rule: str, account: str) -> Post | None:
        return None

    def silenced(self, rule: str, account: str, regions: list[str]) -> str | None:
        return None

    def inhibitor(self, event: HazardEvent, account: str) -> str | None:
        return None


ACCOUNTS = {"ntt": AccountView("ntt", "id", ("53",))}
REGION = Region("53.10", "Kabupaten Nagekeo", "regency")


def _match(ev: HazardEvent, change: ChangeKind) -> Match:
    return Match("r", ev, change, (REGION,), ("ntt",), "earthquake", Priority.HIGH)


def test_plan_holds_an_old_event_back_with_its_reason_but_still_cancels_a_post_made():
    quake = events(TERKINI, "bmkg-tews", NEWEST)[0]
    years = datetime(2026, 11, 29, tzinfo=UTC)
    posts, drops = plan(_match(quake, ChangeKind.NEW), ACCOUNTS, _History([]), years, LIVE)
    assert not posts
    assert [(d.account, d.reason) for d in drops] == [("ntt", Reason.STALE)]
    posts, drops = plan(_match(quake, ChangeKind.NEW), ACCOUNTS, _History([]), years, Freshness(baseline=True))
    assert [d.reason for d in drops] == [Reason.BASELINE]
    # Fresh: posted.
    posts, drops = plan(_match(quake, ChangeKind.NEW), ACCOUNTS, _History([]), NEWEST, LIVE)
    assert [p.kind for p in posts] == [WarningKind.NEW] and not drops
    # A withdrawal of what the account posted is owed whatever the age.
    made = Post(
        "w1", quake.id, quake.revision, "r", "ntt", WarningKind.NEW, None, Priority.HIGH, (REGION,), "id", "t",
        quake.status, NEWEST,
    )  # fmt: skip
    cancel = replace(quake, msg_type=MsgType.CANCEL)
    posts, drops = plan(_match(cancel, ChangeKind.CANCELLED), ACCOUNTS, _History([made]), years, LIVE)
    assert [p.kind for p in posts] == [WarningKind.CANCEL] and not drops
    # A correction of it, that late, is not news.
    moved = replace(quake, magnitude=6.0)
    m = replace(_match(moved, ChangeKind.UPDATED), previous=quake)
    posts, drops = plan(m, ACCOUNTS, _History([made]), years, LIVE)
    assert not posts and [d.reason for d in drops] == [Reason.STALE]
