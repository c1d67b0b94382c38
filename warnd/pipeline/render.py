"""Turning a match into the text an account posts.

Templates are operator-edited, so they run in Jinja's immutable sandbox with StrictUndefined:
a template can read the event, never call into warnd, and a misspelt variable is an error at
load time (a trial render) rather than an empty hole in a live warning.

Layout: <templates>/<name>/<kind>.<lang>.j2, e.g. templates/earthquake/new.id.j2. A kind with no
template of its own falls back to `new`.

A post names the agency whose values it shows (`agency`: BMKG, USGS, GDACS). When the account's
last post about the event showed another agency's values (a USGS report first, BMKG's after it),
`source_changed` is true and `previous_agency` names the other one: an update template says that
this is the new agency's word on the quake, not a correction.

Every text names the area of the account that posts it (`area`, `area_tags`): a national account
beside the provincial ones names the same regencies as one of them, and X refuses identical text
from two accounts as duplicate content. `ignores_area` finds the templates that would not.

Every text credits its source (`credit`: the feed catalogue's `credit`, "BMKG",
"PetaBencana.id (CC BY 4.0)"); `omits_credit` finds the templates that do not.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from warnd.geo import ZONES, zone_name
from warnd.model import (
    Felt,
    Hazard,
    HazardEvent,
    MsgType,
    Priority,
    Region,
    Status,
    Warning,
    WarningKind,
    ZonePart,
)

_BULAN = ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"]
_MONTH = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


class TemplateProblem(Exception):
    def __init__(self, file: str, line: int | None, message: str) -> None:
        self.file, self.line = file, line
        super().__init__(message)


class Target(Protocol):
    """What render needs to know about the account it writes for."""

    @property
    def name(self) -> str: ...
    @property
    def lang(self) -> str: ...
    @property
    def area(self) -> tuple[str, ...]: ...


class Renderer:
    def __init__(self, folder: Path, credits: Mapping[str, str] | None = None) -> None:
        """`credits`: by feed id, how a post credits the source (the catalogue's `credit`)."""
        self.folder = folder
        self.credits = dict(credits or {})
        self.env = ImmutableSandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(folder)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
        )
        self.env.filters["mmi"] = lambda f: f"{f.mmi} {f.place}"
        self._cache: dict[str, jinja2.Template] = {}
        self._names: frozenset[str] | None = None

    def names(self) -> list[str]:
        return sorted(self.env.list_templates(extensions=["j2"]))

    def check(self) -> list[TemplateProblem]:
        """Compile every template and render each with a sample event, as a first post and as
        one following another agency's post, so that a syntax error or an unknown variable is
        found at load time in either branch."""
        problems = []
        for name in self.names():
            try:
                template = self.env.get_template(name)
                kind = name.split("/")[-1].split(".")[0]
                wkind = WarningKind(kind) if kind in WarningKind._value2member_map_ else WarningKind.NEW
                for earlier in (None, _SAMPLE_EARLIER):
                    template.render(
                        _context(_SAMPLE, wkind, _SAMPLE_REGIONS, earlier, "id", last_post=earlier, area=_SAMPLE_AREA)
                    )
            except jinja2.TemplateSyntaxError as e:
                problems.append(TemplateProblem(str(self.folder / name), e.lineno, e.message or "syntax error"))
            except jinja2.TemplateError as e:
                problems.append(TemplateProblem(str(self.folder / name), None, str(e)))
        return problems

    def ignores_area(self) -> list[str]:
        """Templates whose text is the same whichever account's area it is for: two accounts
        whose areas overlap would post it word for word. Templates that do not render at all are
        `check`'s to report."""
        return self._unchanged_by([{"area": _SAMPLE_AREA}, {"area": ()}])

    def credit(self, event: HazardEvent) -> str:
        """Whom a post about the event credits: its feed's `credit`, else the agency's name."""
        return self.credits.get(event.feed) or agency_name(event.agency)

    def omits_credit(self) -> list[str]:
        """Templates whose text is the same whatever source it credits: their posts would not
        credit the source, which the terms of some (CC BY) require."""
        return self._unchanged_by(
            [{"area": _SAMPLE_AREA, "credit": "BMKG"}, {"area": _SAMPLE_AREA, "credit": "Sumber Lain (CC BY 4.0)"}]
        )

    def _unchanged_by(self, variants: Sequence[Mapping[str, Any]]) -> list[str]:
        """Templates whose sample text is the same under every variant of the render context."""
        blind = []
        for name in self.names():
            kind = name.split("/")[-1].split(".")[0]
            wkind = WarningKind(kind) if kind in WarningKind._value2member_map_ else WarningKind.NEW
            try:
                template = self.env.get_template(name)
                texts = {
                    _squash(template.render(_context(_SAMPLE, wkind, _SAMPLE_REGIONS, None, "id", **v)))
                    for v in variants
                }
            except jinja2.TemplateError:
                continue
            if len(texts) == 1:
                blind.append(name)
        return blind

    def has(self, template: str, lang: str) -> bool:
        # The folder is listed once: build() asks this for every rule and account.
        if self._names is None:
            self._names = frozenset(self.names())
        return f"{template}/new.{lang}.j2" in self._names

    def _template(self, template: str, kind: WarningKind, lang: str) -> jinja2.Template:
        for candidate in (f"{template}/{kind.value}.{lang}.j2", f"{template}/new.{lang}.j2"):
            if candidate in self._cache:
                return self._cache[candidate]
            try:
                t = self.env.get_template(candidate)
            except jinja2.TemplateNotFound:
                continue
            self._cache[candidate] = t
            return t
        raise jinja2.TemplateNotFound(f"{template}/{kind.value}.{lang}.j2")

    def render(
        self,
        *,
        event: HazardEvent,
        kind: WarningKind,
        rule: str,
        template: str,
        priority: Priority,
        target: Target,
        regions: Sequence[Region],
        first_post: Warning | None,
        now: datetime,
        notes: Mapping[str, str] | None = None,
        parts: Sequence[ZonePart] = (),
        last_post: Warning | None = None,
        earlier: Sequence[Warning] = (),
        changed: Sequence[ZonePart] = (),
    ) -> Warning:
        """`first_post` and `last_post`: the account's first and latest warnings about the
        event, if any; `earlier`: all of them, oldest first (for the thread label). `parts`: the
        tsunami warning zones one by one (worst first), to name the part of each region a zone
        covers and the zones only a province stands in for. `changed`: the zones a tsunami
        escalation raised or a de-escalation lowered, at their new level."""
        tpl = self._template(template, kind, target.lang)
        notes = notes or {}
        url = getattr(target, "include_url", False)
        # Every region is named, however long the text: someone looks for their own regency in
        # it. A text over X's 280 weighted characters goes out as a thread (channels.thread).
        text = _squash(
            tpl.render(
                _context(
                    event,
                    kind,
                    regions,
                    first_post,
                    target.lang,
                    notes,
                    url,
                    parts,
                    last_post,
                    target.area,
                    self.credit(event),
                    changed,
                )
            )
        )
        codes = {r.code for r in regions}
        # A post to regions the message no longer names records them as changed ("" when no
        # longer warned), so the next message does not find them lowered again.
        named = (
            tuple(p for p in parts if p.code in codes)
            or tuple(ZonePart(r.code, notes[r.code]) for r in regions if notes.get(r.code) in _ZONE_ORDER)
            or tuple(changed)
        )
        return Warning(
            id=warning_id(event.id, event.revision, rule, target.name, kind),
            event_id=event.id,
            revision=event.revision,
            rule=rule,
            account=target.name,
            kind=kind,
            severity=event.severity,
            priority=priority,
            regions=tuple(regions),
            lang=target.lang,
            text=text,
            status=event.status,
            created_at=now,
            level=_worst(event.level, [notes.get(r.code) for r in regions]),
            agency=event.agency,
            thread_label=thread_label(event, earlier, target.lang),
            zone_parts=named,
        )


_ORDINAL = {"id": "info ke-{n}", "en": "notice {n}"}
# A stage longer than this (a feed's free text) is not a label a reader can use.
_STAGE_MAX = 12


def thread_label(event: HazardEvent, earlier: Sequence[Warning], lang: str) -> str | None:
    """What every part of the warning's thread carries of its own post, so that no part is
    word for word a part of another post of the account: successive updates of one tsunami
    warning list the same regencies, and X refuses a repeated text.

    BMKG's stage of the warning (PD-3.3) when the source gives one; otherwise, or when an
    earlier post of the account about the event already had that label, the post's place among
    them ("info ke-4"), which no other post of the account about the event has. The first post
    about an event with no stage needs none: every later post about it has one, and a post about
    another event has that event's time in its first line."""
    used = {w.thread_label for w in earlier}
    n = len(earlier) + 1
    ordinal = _ORDINAL.get(lang, _ORDINAL["en"]).format(n=n)
    stage = (event.stage or "").strip()
    if stage and len(stage) <= _STAGE_MAX:
        return stage if stage not in used else f"{stage}, {ordinal}"
    return ordinal if n > 1 else None


def warning_id(event_id: str, revision: str, rule: str, account: str, kind: WarningKind) -> str:
    key = "\x1f".join((event_id, revision, rule, account, kind.value))
    return "w-" + hashlib.sha256(key.encode()).hexdigest()[:24]


_ZONE_ORDER = ("awas", "siaga", "waspada")


def _worst(level: str | None, notes: Sequence[str | None]) -> str | None:
    for z in _ZONE_ORDER:
        if z in notes:
            return z
    return level


def _context(
    event: HazardEvent,
    kind: WarningKind,
    regions: Sequence[Region],
    first_post: Warning | None,
    lang: str,
    notes: Mapping[str, str] | None = None,
    include_url: bool = False,
    parts: Sequence[ZonePart] = (),
    last_post: Warning | None = None,
    area: Sequence[str] = (),
    credit: str = "BMKG",
    changed: Sequence[ZonePart] = (),
) -> dict[str, Any]:
    local = event.time.astimezone(ZONES[zone_name(regions[0].code) if regions else "WIB"])
    notes = notes or {}
    by_code = {r.code: r for r in regions}
    mine = [p for p in parts if p.code in by_code]
    # Regions grouped by what is said of them (tsunami zone level, predicted MMI), worst first.
    by_note: dict[str, list[str]] = {}
    if mine:
        # Tsunami zones: a region is named in each level a zone of it has, with the parts the
        # zones of that level cover ("Kabupaten Ende bagian utara" at Siaga, "Kabupaten Ende
        # (Pulau Ende)" at Waspada).
        per_level: dict[str, dict[str, list[ZonePart]]] = {}
        for p in mine:
            per_level.setdefault(p.level, {}).setdefault(p.code, []).append(p)
        for level, codes in per_level.items():
            by_note[level] = [zone_label(by_code[c].name, ps, lang) for c, ps in codes.items()]
        per_region: dict[str, list[ZonePart]] = {}
        for p in mine:
            per_region.setdefault(p.code, []).append(p)
        names = [zone_label(by_code[c].name, ps, lang) for c, ps in per_region.items()]
        names += [r.name for r in regions if r.code not in per_region]
    else:
        for r in regions:
            by_note.setdefault(notes.get(r.code, ""), []).append(r.name)
        names = [r.name for r in regions]
    # An escalation leads with the zones raised, by their new level, then says where the rest
    # stand (`others`); a de-escalation likewise with the zones lowered ("" level: no longer
    # warned).
    changed_groups: dict[str, dict[str, list[ZonePart]]] = {}
    for p in changed:
        if p.code in by_code:
            changed_groups.setdefault(p.level, {}).setdefault(p.code, []).append(p)
    moved = {p.key for p in changed}
    other_groups: dict[str, dict[str, list[ZonePart]]] = {}
    current = mine or [ZonePart(r.code, notes[r.code]) for r in regions if notes.get(r.code) in _ZONE_ORDER]
    for p in current:
        if p.key not in moved:
            other_groups.setdefault(p.level, {}).setdefault(p.code, []).append(p)

    def grouped(groups: dict[str, dict[str, list[ZonePart]]]) -> list[dict[str, str]]:
        ordered = sorted(groups.items(), key=lambda kv: _ZONE_ORDER.index(kv[0]) if kv[0] in _ZONE_ORDER else 9)
        return [
            {"note": level, "names": ", ".join(zone_label(by_code[c].name, ps, lang) for c, ps in codes.items())}
            for level, codes in ordered
        ]

    joiner = " dan " if lang == "id" else " and "
    region_names = ", ".join(names[:-1]) + joiner + names[-1] if len(names) > 1 else "".join(names)
    groups = sorted(by_note.items(), key=lambda kv: _ZONE_ORDER.index(kv[0]) if kv[0] in _ZONE_ORDER else 9)
    heights = sorted((o for o in event.observations if o.height_m is not None), key=lambda o: -(o.height_m or 0.0))
    zone = zone_name(regions[0].code) if regions else "WIB"
    tz = ZONES[zone]
    previous = last_post.agency if last_post is not None else None
    places = list(area) or [COUNTRY]
    return {
        "event": event,
        "kind": kind.value,
        "region_groups": [{"note": k, "names": ", ".join(v)} for k, v in groups],
        "changed": grouped(changed_groups),
        "others": grouped(other_groups),
        "observed": [
            {
                "place": o.place.title(),
                "height": f"{o.height_m:.2f}",
                "time": o.time.astimezone(tz).strftime("%H:%M") if o.time else "?",
            }
            for o in heights
        ],
        "expires": _fmt_time(event.expires.astimezone(tz), zone, lang) if event.expires else None,
        "level": (event.level or "").upper(),
        "value": f"{event.value:g}" if event.value is not None else "?",
        "url": include_url,
        "exercise": event.status is not Status.ACTUAL,
        "regions": list(regions),
        "region_names": region_names,
        # The account's own area, in words ("Aceh", "Indonesia") and as hashtags ("#Aceh").
        "area": ", ".join(places[:-1]) + joiner + places[-1] if len(places) > 1 else places[0],
        "area_tags": " ".join(hashtag(p) for p in places),
        # Every region is named now; kept at 0 for templates written when long lists were cut.
        "more_regions": 0,
        "zone": zone,
        "time": _fmt_time(local, zone, lang),
        "magnitude": f"{event.magnitude:.1f}" if event.magnitude is not None else "?",
        "depth": f"{event.depth_km:g}" if event.depth_km is not None else "?",
        "felt": ", ".join(f"{f.mmi} {f.place}" for f in event.felt),
        "agency": agency_name(event.agency),
        # The source as its terms ask a post to credit it (the feed catalogue's `credit`).
        "credit": credit,
        "previous_agency": agency_name(previous) if previous else None,
        "source_changed": previous is not None and previous != event.agency,
        "first_post": first_post,
        "first_post_time": _fmt_time(first_post.created_at.astimezone(ZONES[zone]), zone, lang) if first_post else None,
    }


_SIDES_EN = {
    "UTARA": "north",
    "SELATAN": "south",
    "TIMUR": "east",
    "BARAT": "west",
    "TENGAH": "central",
    "TIMUR LAUT": "northeast",
    "BARAT LAUT": "northwest",
    "TENGGARA": "southeast",
    "BARAT DAYA": "southwest",
}


def zone_label(name: str, parts: Sequence[ZonePart], lang: str) -> str:
    """A region as the zones in it describe it, in readable words rather than BMKG's capitals:
    "Kabupaten Ngada bagian utara", "Kabupaten Nias Selatan (Pulau Tanabala)", "Kabupaten Luwu
    (bagian timur dan utara)"; a province standing in for zones it quotes: 'Papua Barat (zona
    "FOO BAGIAN UTARA")'. A zone that covers the whole region makes its parts moot."""
    if any(not p.part and not p.quoted for p in parts):
        return name
    sides: list[str] = []
    extras: list[str] = []
    for p in parts:
        if p.quoted:
            extras.append(("zona" if lang == "id" else "zone") + f' "{p.quoted}"')
        elif p.part.startswith("BAGIAN "):
            side = p.part[len("BAGIAN ") :]
            sides.append(side.lower() if lang == "id" else _SIDES_EN.get(side, side.lower()))
        else:
            extras.append(_title(p.part))
    sides = list(dict.fromkeys(sides))
    extras = list(dict.fromkeys(extras))
    if lang == "id":
        if len(sides) == 1:
            name += " bagian " + sides[0]
            sides = []
        # Several sides go in the brackets: their "dan" must not read as the end of the list of
        # regions ("Kabupaten Luwu (bagian timur dan utara) dan Kota Palopo").
        inside = "; ".join(x for x in ("bagian " + " dan ".join(sides) if sides else "", ", ".join(extras)) if x)
        return f"{name} ({inside})" if inside else name
    inside = "; ".join(x for x in (", ".join(sides), ", ".join(extras)) if x)
    return f"{name} ({inside})" if inside else name


def _title(text: str) -> str:
    """BMKG's capitals as a place name: "PULAU NUSA-PENIDA" -> "Pulau Nusa-Penida"."""
    return re.sub(r"[A-Za-z]+", lambda m: m.group(0).capitalize(), text)


# The area of an account with no home regions: it posts about all of them.
COUNTRY = "Indonesia"


def hashtag(name: str) -> str:
    """A place name as a hashtag: "Nusa Tenggara Timur" -> "#NusaTenggaraTimur",
    "Kota Bau-Bau" -> "#KotaBauBau"."""
    return "#" + "".join(w[:1].upper() + w[1:] for w in re.split(r"[^0-9A-Za-z]+", name))


_AGENCY_NAMES = {"bmkg": "BMKG", "usgs": "USGS", "gdacs": "GDACS"}


def agency_name(agency: str) -> str:
    """How a post names an agency (a hashtag): "bmkg" -> "BMKG"."""
    return _AGENCY_NAMES.get(agency, agency.upper())


def _fmt_time(t: datetime, zone: str, lang: str) -> str:
    months = _BULAN if lang == "id" else _MONTH
    return f"{t.day:02d} {months[t.month - 1]} {t.year} {t:%H:%M:%S} {zone}"


def _squash(text: str) -> str:
    return re.sub(r"[ \t]*\n[ \t\n]*", "\n", re.sub(r"[ \t]+", " ", text)).strip()


_SAMPLE = HazardEvent(
    id="bmkg-eq-20240110T131726Z",
    feed="sample",
    feed_format="bmkg-tews",
    hazard=Hazard.EARTHQUAKE,
    msg_type=MsgType.ALERT,
    status=Status.ACTUAL,
    time=datetime(2024, 1, 10, 13, 17, 26, tzinfo=UTC),
    lat=-6.83,
    lon=107.95,
    magnitude=4.8,
    depth_km=6.0,
    tsunami=False,
    felt=(Felt("III", 3, 3, "Sumedang Utara"),),
    place="Pusat gempa berada di darat 4 Km Timur Laut Kab.Sumedang",
)
_SAMPLE_REGIONS = (Region("32.11", "Kabupaten Sumedang", "regency", "32"),)
_SAMPLE_AREA = ("Jawa Barat",)
# An earlier post of the sample quake from another agency's report.
_SAMPLE_EARLIER = Warning(
    id="w-sample",
    event_id=_SAMPLE.id,
    revision="sample",
    rule="sample",
    account="sample",
    kind=WarningKind.NEW,
    severity=None,
    priority=Priority.NORMAL,
    regions=_SAMPLE_REGIONS,
    lang="id",
    text="sample",
    status=Status.ACTUAL,
    created_at=datetime(2024, 1, 10, 13, 19, tzinfo=UTC),
    agency="usgs",
)
