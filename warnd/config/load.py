"""Load the main config, the feed catalogue and the rule files; report every problem at once.

The result is a `Config` whose parts still know the file and line they came from, so later
checks (unknown region code, template error, unknown feed format) can point at the right line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from warnd.config import yamlsrc
from warnd.config.schema import SUBSCRIBER_PREFIX, ConfigFile, FeedSpec, Rule, RulesFile
from warnd.config.yamlsrc import Doc, PathKey
from warnd.errors import ConfigError, Problem

M = TypeVar("M", bound=BaseModel)

_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
}


@dataclass(frozen=True)
class Located:
    """Where a piece of config was written, for error messages about it."""

    doc: Doc
    path: PathKey

    def problem(self, message: str, *sub: str | int) -> Problem:
        return self.doc.problem((*self.path, *sub), message)


@dataclass(frozen=True)
class LoadedRule:
    rule: Rule
    at: Located


@dataclass(frozen=True)
class LoadedFeed:
    spec: FeedSpec
    at: Located


@dataclass(frozen=True)
class Config:
    path: Path
    file: ConfigFile
    at: Located
    feeds: tuple[LoadedFeed, ...]
    rules: tuple[LoadedRule, ...]
    rule_files: tuple[Path, ...] = field(default_factory=tuple)
    # Every entry of the feed catalogue, polled or not: a recorded document replayed under a
    # catalogue id (`warnd simulate --feed`) is credited as that feed would be.
    catalogue: tuple[LoadedFeed, ...] = field(default_factory=tuple)
    # Set when this set was read from a saved copy of the file system (the last good set, see
    # warnd/config/snapshot.py) rather than from the files themselves.
    mirror: Path | None = None

    def feed_spec(self, feed_id: str) -> FeedSpec | None:
        """A feed as configured, else as the catalogue has it."""
        for f in (*self.feeds, *self.catalogue):
            if f.spec.id == feed_id:
                return f.spec
        return None

    @property
    def base(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        p = Path(relative).expanduser()
        return p if p.is_absolute() else (self.base / p)

    def input(self, relative: str) -> Path:
        """A file the configuration reads (regions, templates): from the mirror when there is
        one. What warnd writes (`resolve`) always goes where the configuration says."""
        return mirrored(self.mirror, self.resolve(relative))

    @property
    def state_dir(self) -> Path:
        return self.resolve(self.file.state_dir)


def mirrored(mirror: Path | None, path: Path) -> Path:
    """`path` as found under `mirror` (a copy of the files at their absolute paths), or itself."""
    if mirror is None:
        return path
    return mirror / os.path.normpath(path.absolute()).lstrip("/")


def validate_model(doc: Doc, model: type[M], data: Any, prefix: PathKey = ()) -> tuple[M | None, list[Problem]]:
    try:
        return model.model_validate(data), []
    except ValidationError as e:
        return None, [_problem(doc, data, prefix, err) for err in e.errors()]


def _problem(doc: Doc, data: Any, prefix: PathKey, err: Any) -> Problem:
    # Walk the error location through the real data: parts that are not in the data are
    # pydantic's own (union tags such as 'file' in accounts.x.file.path) and are left out,
    # except a last part naming a missing key.
    loc = tuple(err["loc"])
    path: list[str | int] = list(prefix)
    node = data
    for i, part in enumerate(loc):
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            path.append(part)
            node = node[part]
        elif i == len(loc) - 1 and isinstance(part, str) and err["type"] in ("missing", "extra_forbidden"):
            path.append(part)
    message = _MESSAGES.get(err["type"], err["msg"])
    if err["type"] == "extra_forbidden":
        return Problem(doc.file, doc.line(tuple(path)), yamlsrc.dotted(tuple(path)), message)
    return doc.problem(tuple(path), message)


def load(path: Path, *, mirror: Path | None = None) -> Config:
    """The whole configuration, or ConfigError listing every problem found in every file.

    `mirror`: read `path` and every file it names from this copy of the file system instead
    (a saved last good set); paths of what warnd writes still resolve against `path`."""
    problems: list[Problem] = []
    if mirror is not None:
        path = Path(os.path.normpath(path.absolute()))
    doc, found = yamlsrc.load(mirrored(mirror, path))
    problems += found
    if doc is None:
        raise ConfigError(problems)
    if not isinstance(doc.data, dict):
        raise ConfigError([*problems, doc.problem((), "the config must be a mapping of keys")])
    cfg, found = validate_model(doc, ConfigFile, doc.data)
    problems += found
    if cfg is None:
        raise ConfigError(problems)

    base = path.parent
    catalogue, found = _load_catalogue(base, cfg, mirror)
    problems += found
    feeds, found = _resolve_feeds(doc, cfg, catalogue)
    problems += found
    rules, rule_files, found = _load_rules(base, doc, cfg, mirror)
    problems += found
    problems += _check_references(doc, cfg, feeds, rules)
    if problems:
        raise ConfigError(problems)
    return Config(
        path=path,
        file=cfg,
        at=Located(doc, ()),
        feeds=tuple(feeds),
        rules=tuple(rules),
        rule_files=tuple(rule_files),
        catalogue=tuple(catalogue.values()),
        mirror=mirror,
    )


def _load_catalogue(base: Path, cfg: ConfigFile, mirror: Path | None) -> tuple[dict[str, LoadedFeed], list[Problem]]:
    out: dict[str, LoadedFeed] = {}
    problems: list[Problem] = []
    if cfg.feed_catalogue is None:
        return out, problems
    folder = (base / cfg.feed_catalogue) if not Path(cfg.feed_catalogue).is_absolute() else Path(cfg.feed_catalogue)
    folder = mirrored(mirror, folder)
    for file in sorted(folder.glob("*.yaml")):
        doc, found = yamlsrc.load(file)
        problems += found
        if doc is None:
            continue
        spec, found = validate_model(doc, FeedSpec, doc.data)
        problems += found
        if spec is None:
            continue
        if spec.id in out:
            problems.append(doc.problem(("id",), f"feed id {spec.id!r} is also defined in {out[spec.id].at.doc.file}"))
            continue
        out[spec.id] = LoadedFeed(spec, Located(doc, ()))
    return out, problems


def _resolve_feeds(
    doc: Doc, cfg: ConfigFile, catalogue: dict[str, LoadedFeed]
) -> tuple[list[LoadedFeed], list[Problem]]:
    feeds: list[LoadedFeed] = []
    problems: list[Problem] = []
    for i, entry in enumerate(cfg.feeds):
        at = Located(doc, ("feeds", i))
        overrides = entry.model_dump(exclude_none=True, exclude={"use"})
        if entry.use is not None:
            base = catalogue.get(entry.use)
            if base is None:
                known = ", ".join(sorted(catalogue)) or "none (is feed_catalogue set?)"
                problems.append(at.problem(f"no feed {entry.use!r} in the catalogue (known: {known})", "use"))
                continue
            inherited = base.spec.model_dump(exclude_none=True)
            if "url" in overrides or "url_credential" in overrides:
                # Where the feed is read from is one thing: a new url or url_credential replaces both.
                inherited = {k: v for k, v in inherited.items() if k not in ("url", "url_credential")}
            merged = {**inherited, **overrides}
        else:
            merged = overrides
        spec, found = validate_model(doc, FeedSpec, merged, ("feeds", i))
        problems += found
        if spec is not None:
            feeds.append(LoadedFeed(spec, at))
    seen: dict[str, LoadedFeed] = {}
    for f in feeds:
        if f.spec.id in seen:
            problems.append(f.at.problem(f"feed {f.spec.id!r} is listed twice"))
        seen[f.spec.id] = f
    return feeds, problems


def _load_rules(
    base: Path, doc: Doc, cfg: ConfigFile, mirror: Path | None
) -> tuple[list[LoadedRule], list[Path], list[Problem]]:
    rules: list[LoadedRule] = []
    files: list[Path] = []
    problems: list[Problem] = []
    for i, pattern in enumerate(cfg.rules):
        matched = (
            sorted(mirrored(mirror, base).glob(pattern))
            if not Path(pattern).is_absolute()
            else sorted(mirrored(mirror, Path("/")).glob(pattern.lstrip("/")))
        )
        if not matched:
            problems.append(doc.problem(("rules", i), f"no rule file matches {pattern!r}"))
        files.extend(m for m in matched if m not in files)
    for file in files:
        rdoc, found = yamlsrc.load(file)
        problems += found
        if rdoc is None:
            continue
        if rdoc.data is None:
            continue  # an empty rules file is allowed: it is a file with no rules yet
        # Rules are validated one by one, so that one broken rule does not hide the
        # problems of the others (their references are checked too).
        items = rdoc.data.get("rules") if isinstance(rdoc.data, dict) else None
        shell = {**rdoc.data, "rules": []} if isinstance(rdoc.data, dict) and isinstance(items, list) else rdoc.data
        _, found = validate_model(rdoc, RulesFile, shell)
        problems += found
        for j, item in enumerate(items if isinstance(items, list) else []):
            rule, found = validate_model(rdoc, Rule, item, ("rules", j))
            problems += found
            if rule is not None:
                rules.append(LoadedRule(rule, Located(rdoc, ("rules", j))))
    seen: dict[str, LoadedRule] = {}
    for r in rules:
        if r.rule.id in seen:
            other = seen[r.rule.id].at
            problems.append(
                r.at.problem(
                    f"rule id {r.rule.id!r} is also used at {other.doc.file}:{other.doc.line(other.path)}", "id"
                )
            )
        seen[r.rule.id] = r
    return rules, files, problems


def _check_references(doc: Doc, cfg: ConfigFile, feeds: list[LoadedFeed], rules: list[LoadedRule]) -> list[Problem]:
    problems: list[Problem] = []
    accounts = set(cfg.accounts)
    feed_ids = {f.spec.id for f in feeds}
    for r in rules:
        for k, name in enumerate(r.rule.then.accounts):
            if name not in accounts and name != "*":
                problems.append(
                    r.at.problem(
                        f"unknown account {name!r} (known: {', '.join(sorted(accounts))})", "then", "accounts", k
                    )
                )
        for k, fid in enumerate(r.rule.match.feeds or []):
            if fid not in feed_ids:
                problems.append(
                    r.at.problem(f"unknown feed {fid!r} (known: {', '.join(sorted(feed_ids))})", "match", "feeds", k)
                )
    for pname, partner in cfg.partners.items():
        if pname.startswith(SUBSCRIBER_PREFIX):
            problems.append(
                doc.problem(
                    ("partners", pname),
                    f"partner {pname!r}: names starting with {SUBSCRIBER_PREFIX!r} are partners' own subscriptions'"
                    " (warnd subscription list); give this partner another name",
                )
            )
        for k, name in enumerate(partner.accounts):
            if name not in accounts:
                problems.append(doc.problem(("partners", pname, "accounts", k), f"unknown account {name!r}"))
    return problems
