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

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

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
from warnd.pipeline.wording import ZONE_ORDER, agency_name, context, squash, thread_label, warning_id, worst_level


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
                        context(_SAMPLE, wkind, _SAMPLE_REGIONS, earlier, "id", last_post=earlier, area=_SAMPLE_AREA)
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
                    squash(template.render(context(_SAMPLE, wkind, _SAMPLE_REGIONS, None, "id", **v))) for v in variants
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
        # it. A text over X's 280 weighted characters goes out as a thread (channels.x.split).
        text = squash(
            tpl.render(
                context(
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
            or tuple(ZonePart(r.code, notes[r.code]) for r in regions if notes.get(r.code) in ZONE_ORDER)
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
            level=worst_level(event.level, [notes.get(r.code) for r in regions]),
            agency=event.agency,
            thread_label=thread_label(event, earlier, target.lang),
            zone_parts=named,
        )


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
