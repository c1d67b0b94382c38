"""An approved operator's bulletin as warnings (pipeline.bulletin): whom it goes to, in which
language, marked as an exercise, at which priority, what its CAP alert credits, and how a
correction and a cancel follow the first post as an automatic correction does."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from tests.conftest import TEMPLATES
from warnd.channels.x import split
from warnd.config.schema import Partner
from warnd.model import (
    Bulletin,
    BulletinKind,
    BulletinState,
    Hazard,
    MsgType,
    Priority,
    Region,
    Status,
    Target,
    Warning,
    WarningKind,
)
from warnd.pipeline.bulletin import event_of, issue_bulletin, recipients
from warnd.pipeline.issue import AccountView, Desk
from warnd.pipeline.render import Renderer

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
NS = "{urn:oasis:names:tc:emergency:cap:1.2}"
KNOWN = {
    "52": Region("52", "Nusa Tenggara Barat", "province"),
    "53": Region("53", "Nusa Tenggara Timur", "province"),
    "53.10": Region("53.10", "Kabupaten Nagekeo", "regency", "53"),
    "53.09": Region("53.09", "Kabupaten Ngada", "regency", "53"),
    "52.01": Region("52.01", "Kabupaten Lombok Barat", "regency", "52"),
}
ACCOUNTS = {
    "ntt": AccountView("ntt", "id", ("53",), area=("Nusa Tenggara Timur",)),
    "ntb": AccountView("ntb", "en", ("52",), area=("Nusa Tenggara Barat",)),
    "nasional": AccountView("nasional", "id", ()),
}


def _desk(partners: dict[str, Partner] | None = None) -> Desk:
    return Desk(
        renderer=Renderer(TEMPLATES),
        accounts=ACCOUNTS,
        partners=partners or {},
        cap_sender="warnd@bmkg.example",
        cap_sender_name="BMKG",
        outlines=None,
        attribution=lambda feed: None,
    )


def _bulletin(**kw: object) -> Bulletin:
    b = Bulletin(
        id="b-20261130030000-ab12",
        series="b-20261130030000-ab12",
        kind=BulletinKind.NEW,
        state=BulletinState.APPROVED,
        author="ani",
        hazard=Hazard.FLOOD,
        level="siaga",
        status=Status.ACTUAL,
        accounts=(),
        regions=("53.10",),
        headline="Banjir di Nagekeo",
        text_id="Banjir setinggi 1 m di Mbay. Warga diminta mengungsi.",
        text_en="Flooding 1 m deep in Mbay. Residents are asked to evacuate.",
        created_at=NOW - timedelta(minutes=3),
        approver="budi",
        approved_at=NOW,
    )
    return replace(b, **kw)  # type: ignore[arg-type]


def _issue(b: Bulletin, past: list[Warning] = (), desk: Desk | None = None):  # type: ignore[assignment]
    return issue_bulletin(
        b,
        desk or _desk(),
        KNOWN,
        lambda account: [w for w in past if w.account == account],
        lambda account, target: any(w.account == account for w in past),
    )


def test_regions_pick_the_accounts_whose_area_covers_them_and_each_post_names_its_own():
    out = _issue(_bulletin())
    # NTT's area covers Nagekeo, and the national account covers everything; NTB's does not.
    assert [o.warning.account for o in out] == ["ntt", "nasional"]
    ntt = out[0].warning
    assert ntt.kind is WarningKind.NEW and ntt.rule == "bulletin" and ntt.event_id == _bulletin().series
    assert [r.code for r in ntt.regions] == ["53.10"]
    assert ntt.text.startswith("Banjir setinggi 1 m di Mbay.")
    assert "Wilayah: Kabupaten Nagekeo." in ntt.text and ntt.text.endswith("#NusaTenggaraTimur")
    # Two accounts never post the same words (X refuses duplicate content).
    assert out[1].warning.text.endswith("#Indonesia") and out[1].warning.text != ntt.text
    assert ntt.created_at == NOW and ntt.status is Status.ACTUAL and ntt.level == "siaga"


def test_an_account_named_alone_posts_for_its_area_in_its_own_language():
    out = _issue(_bulletin(accounts=("ntb",), regions=()))
    (o,) = out
    w = o.warning
    assert w.account == "ntb" and w.lang == "en"
    assert w.text.startswith("Flooding 1 m deep") and "Areas:" not in w.text
    assert [r.code for r in w.regions] == ["52"]
    # Without an English text, an English account gets the Indonesian one.
    (o,) = _issue(_bulletin(accounts=("ntb",), regions=(), text_en=None))
    assert o.warning.lang == "id" and o.warning.text.startswith("Banjir setinggi")
    assert recipients(["ntb"], ["53.10"], ACCOUNTS) == ["ntt", "ntb", "nasional"]


def test_an_exercise_is_marked_as_the_templates_mark_one():
    out = _issue(_bulletin(status=Status.EXERCISE, accounts=("ntb", "ntt"), regions=()))
    texts = {o.warning.account: o.warning.text for o in out}
    assert texts["ntt"].startswith("LATIHAN - Banjir") and texts["ntb"].startswith("EXERCISE - Flooding")
    assert all(o.warning.status is Status.EXERCISE and o.event.status is Status.EXERCISE for o in out)
    doc = etree.fromstring(out[0].cap.encode())
    assert doc.findtext(f"{NS}status") == "Exercise" and doc.findtext(f"{NS}note") == "LATIHAN / EXERCISE"


@pytest.mark.parametrize(
    ("hazard", "level", "life"),
    [
        (Hazard.TSUNAMI, None, True),
        (Hazard.OTHER, "awas", True),
        (Hazard.FLOOD, "siaga1", True),
        (Hazard.FLOOD, "siaga", False),
        (Hazard.WEATHER, None, False),
    ],
)
def test_priority_follows_the_one_definition_of_life_safety(hazard, level, life):
    (o, *_) = _issue(_bulletin(hazard=hazard, level=level))
    assert (o.warning.priority is Priority.LIFE_SAFETY) is life
    assert o.warning.priority in (Priority.LIFE_SAFETY, Priority.HIGH)


def test_the_event_targets_and_cap_credit_who_wrote_and_who_approved():
    radio = Partner(name="Radio", url="https://radio.example/hook", secret="radio", accounts=["ntt"])
    out = _issue(_bulletin(), desk=_desk({"radio": radio}))
    o = out[0]
    assert o.targets == (Target.account("ntt"), Target.feed("ntt"), Target.partner("radio"))
    assert o.attribution == "BMKG (operator bulletin, written by ani, approved by budi)"
    ev = o.event
    assert (ev.id, ev.feed, ev.feed_format, ev.msg_type) == (_bulletin().series, "bulletin", "bulletin", MsgType.ALERT)
    assert ev.description == _bulletin().text_id and ev.headline == "Banjir di Nagekeo" and ev.time == NOW
    doc = etree.fromstring(o.cap.encode())
    assert doc.findtext(f"{NS}msgType") == "Alert"
    assert doc.findtext(f"{NS}identifier") == o.warning.cap_identifier
    params = {p.findtext(f"{NS}valueName"): p.findtext(f"{NS}value") for p in doc.findall(f"{NS}info/{NS}parameter")}
    assert params["attribution"] == o.attribution
    (info_id, info_en) = doc.findall(f"{NS}info")
    assert info_id.findtext(f"{NS}description") == o.warning.text
    # The English block carries the bulletin's English text, as the English accounts post it.
    assert info_en.findtext(f"{NS}description").startswith("Flooding 1 m deep in Mbay.")
    assert info_en.findtext(f"{NS}headline").startswith("Flooding 1 m deep in Mbay.")
    # Without one, the short text made from the event.
    (o,) = issue_bulletin(_bulletin(text_en=None), _desk(), KNOWN, lambda a: [], lambda a, t: False)[:1]
    assert etree.fromstring(o.cap.encode()).findall(f"{NS}info")[1].findtext(f"{NS}description").startswith("Flood")


def test_a_correction_updates_and_a_cancel_closes_the_posts_of_the_series():
    first = _issue(_bulletin())
    past = [o.warning for o in first]
    fix = _bulletin(id="b-20261130031000-cd34", kind=BulletinKind.CORRECTION, text_id="Ralat: banjir 2 m.")
    out = _issue(fix, past)
    assert [(o.warning.account, o.warning.kind) for o in out] == [
        ("ntt", WarningKind.UPDATE),
        ("nasional", WarningKind.UPDATE),
    ]
    w = out[0].warning
    # The same event (so X answers the first post in its thread), a warning of its own.
    assert w.event_id == past[0].event_id and w.id != past[0].id and w.revision == fix.id
    assert w.thread_label == "info ke-2" and out[0].event.msg_type is MsgType.UPDATE
    # A partner given the first gets the rest whatever its filters say.
    radio = Partner(name="Radio", url="https://r.example/h", secret="r", accounts=["ntt"], hazards=["tsunami"])
    assert Target.partner("radio") in _issue(fix, past, _desk({"radio": radio}))[0].targets
    doc = etree.fromstring(out[0].cap.encode())
    assert doc.findtext(f"{NS}msgType") == "Update" and past[0].cap_identifier in doc.findtext(f"{NS}references")

    # A cancel goes to every account that posted the series, and only to those.
    stop = _bulletin(id="b-20261130032000-ef56", kind=BulletinKind.CANCEL, why="Air sudah surut.", accounts=("ntb",))
    out = _issue(stop, past[:1])
    assert [(o.warning.account, o.warning.kind) for o in out] == [("ntt", WarningKind.CANCEL)]
    assert out[0].warning.text.startswith("PEMBATALAN: Banjir di Nagekeo. Air sudah surut.")
    assert out[0].event.msg_type is MsgType.CANCEL


def test_a_long_bulletin_goes_to_x_as_a_thread_by_the_channel():
    long = " ".join(["Warga di bantaran sungai diminta segera mengungsi ke tempat yang lebih tinggi."] * 12)
    (o, _) = _issue(_bulletin(text_id=long))
    parts = split(o.warning.text, lang=o.warning.lang, label=o.warning.thread_label)
    assert len(parts) > 1


def test_an_unapproved_bulletin_issues_nothing():
    with pytest.raises(ValueError, match="not approved"):
        _issue(_bulletin(state=BulletinState.PENDING, approver=None, approved_at=None))
    assert event_of(_bulletin(), NOW).agency == "bulletin"


def test_an_exercise_bulletins_map_carries_the_watermark_through_the_map_code(index):
    from tests.unit.test_maps import decode, watermark_pixels
    from warnd.maps import render_map

    known = {c: index.by_code[c] for c in ("53.10", "53")}
    drill, real = (
        issue_bulletin(
            _bulletin(status=status, accounts=("ntt",), regions=("53.10",)),
            _desk(),
            known,
            lambda account: [],
            lambda account, target: False,
        )[0]
        for status in (Status.EXERCISE, Status.ACTUAL)
    )
    assert watermark_pixels(decode(render_map(drill.event, drill.warning, index, credit="BMKG"))) > 2000
    assert watermark_pixels(decode(render_map(real.event, real.warning, index, credit="BMKG"))) == 0
