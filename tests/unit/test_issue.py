"""The one step that issues warnings after the rules (pipeline.issue), on a real recorded quake:
what it hands runtime to commit, and every post it does not make, with its Reason."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tests.conftest import TEMPLATES, sample
from warnd.config.schema import Partner
from warnd.model import ChangeKind, HazardEvent, Match, Priority, Reason, Region, Source, Warning, WarningKind
from warnd.pipeline.age import Freshness
from warnd.pipeline.issue import AccountView, Desk, Drop, Issued, issue
from warnd.pipeline.render import Renderer
from warnd.pollers import bmkg

NOW = datetime(2023, 7, 12, 8, 41, tzinfo=UTC)
REGION = Region("53.10", "Kabupaten Nagekeo", "regency")


class _History:
    """What the outbox holds, in memory: `past` warnings and the ids already issued."""

    def __init__(self, past: list[Warning] = (), issued: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.past = list(past)
        self.ids = set(issued)

    def warnings(self, event_id: str, account: str) -> list[Warning]:
        return [w for w in self.past if w.event_id == event_id and w.account == account]

    def last_from_rule(self, rule: str, account: str) -> Warning | None:
        return None

    def silenced(self, rule: str, account: str, regions: list[str]) -> str | None:
        return None

    def inhibitor(self, event: HazardEvent, account: str) -> str | None:
        return None

    def issued(self, warning_id: str) -> bool:
        return warning_id in self.ids

    def targeted(self, event_id: str, account: str, target: str) -> bool:
        return False


def _quake() -> HazardEvent:
    data = sample("bmkg-tews/gempaterkini_2023-07-12_muhk01.json")
    return max(bmkg.parse(data, Source("bmkg", NOW)).events, key=lambda e: e.time)


def _desk() -> Desk:
    newsroom = Partner(name="newsroom", url="https://news.example/hook", secret="news", accounts=["ntt"])
    return Desk(
        renderer=Renderer(TEMPLATES),
        accounts={"ntt": AccountView("ntt", "id", ("53",))},
        partners={"newsroom": newsroom},
        cap_sender="warnd@example.id",
        cap_sender_name="warnd",
        outlines=None,
        attribution=lambda feed: "Sumber: BMKG",
    )


def _match(ev: HazardEvent) -> Match:
    return Match("gempa", ev, ChangeKind.NEW, (REGION,), ("ntt",), "earthquake", Priority.HIGH)


def test_a_new_quake_is_issued_with_its_text_cap_document_and_every_target():
    ev = _quake()
    out = issue(_match(ev), _desk(), _History(), NOW, Freshness())
    (issued,) = out.issued
    assert isinstance(issued, Issued) and out.drops == []
    w = issued.warning
    assert w.kind is WarningKind.NEW and w.account == "ntt" and "Kabupaten Nagekeo" in w.text
    assert issued.targets == ("account:ntt", "feed:ntt", "partner:newsroom")
    assert f"<identifier>{w.cap_identifier}</identifier>" in issued.cap
    assert issued.event == ev and issued.attribution == "Sumber: BMKG"


def test_a_warning_already_in_the_outbox_is_a_drop_already_warned_naming_it():
    ev = _quake()
    first = issue(_match(ev), _desk(), _History(), NOW, Freshness()).issued[0].warning
    again = issue(_match(ev), _desk(), _History(issued={first.id}), NOW, Freshness())
    assert again.issued == []
    (drop,) = again.drops
    assert drop == Drop("gempa", "ntt", Reason.ALREADY_WARNED, "this warning is already issued", warning_id=first.id)


def test_an_update_saying_what_the_last_post_said_is_a_drop_same_text():
    ev = _quake()
    desk = _desk()
    first = issue(_match(ev), desk, _History(), NOW, Freshness()).issued[0].warning
    later = NOW + timedelta(minutes=5)
    update = issue(_match(ev), desk, _History([first]), later, Freshness()).issued[0].warning
    assert update.kind is WarningKind.UPDATE and update.text != first.text
    # The account's last post already says word for word what this update would say.
    said = replace(first, text=update.text)
    out = issue(_match(ev), desk, _History([said]), later, Freshness())
    assert out.issued == []
    assert [(d.account, d.reason) for d in out.drops] == [("ntt", Reason.SAME_TEXT)]
    assert isinstance(out.outcomes[0], Drop)


def test_a_published_map_gets_its_alt_text_at_issue_in_the_cap_document_too(index):
    ev = _quake()
    notes = (("53.10", "MMI 3.1"),)
    match = replace(_match(ev), region_notes=notes)
    desk = replace(_desk(), maps_url="https://warnd.example.org", regions=index)
    (issued,) = issue(match, desk, _History(), NOW, Freshness()).issued
    alt = issued.map_alt
    # What a screen reader says: the quake, the regency shaded by the rule's predicted intensity.
    assert alt is not None and alt.startswith(f"Peta Gempa bumi, M {ev.magnitude}") and "Kabupaten Nagekeo" in alt
    assert f"<resourceDesc>{alt}</resourceDesc>" in issued.cap
    assert "<resourceDesc>Warning map</resourceDesc>" in issued.cap
    # No published maps: no alt text, and the CAP document names no map.
    (plain,) = issue(match, replace(desk, maps_url=None), _History(), NOW, Freshness()).issued
    assert plain.map_alt is None and "<resource>" not in plain.cap
