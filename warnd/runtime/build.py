"""Build everything a configuration describes, checking it all, before anything is swapped in.

`warnd check`, start-up and reload all go through `build`: a set that has any problem is
refused whole, with every problem listed, and a running daemon keeps the set it had.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from warnd.channels.base import Sender
from warnd.channels.ops import OpsSender, make_ops
from warnd.channels.registry import make_senders
from warnd.clock import Clock
from warnd.config import secrets
from warnd.config.load import Config, load
from warnd.config.outbound import Outbound, ProxyConfigError
from warnd.config.schema import FeedSpec, XAccount, outlets
from warnd.errors import ConfigError, FetchError, Problem
from warnd.geo import (
    PlaceAlias,
    Points,
    RegionError,
    RegionIndex,
    covers,
    load_layers,
    read_place_aliases,
    read_points,
)
from warnd.pipeline.issue import AccountView
from warnd.pipeline.render import Renderer
from warnd.pollers.registry import FORMATS, Parser
from warnd.rules.compiled import RuleSet, compile_rules
from warnd.rules.gazetteer import gazetteer


@dataclass
class Bundle:
    config: Config
    regions: RegionIndex
    ruleset: RuleSet
    renderer: Renderer
    accounts: dict[str, AccountView]
    parsers: dict[str, Parser]
    senders: dict[str, Sender] = field(default_factory=dict)
    # Targets left without a sender because a credential is missing, and why (never the value).
    missing: dict[str, str] = field(default_factory=dict)
    ops: dict[str, OpsSender] = field(default_factory=dict)
    # Ops channels left without a sender, and why.
    ops_missing: dict[str, str] = field(default_factory=dict)
    # How every outbound request reaches the network (the `http:` section and the environment);
    # build always sets it.
    outbound: Outbound = field(default_factory=lambda: Outbound(proxy="none"))
    # The URL of each feed whose URL is a credential (`url_credential`), read at this build.
    feed_urls: dict[str, secrets.Secret] = field(default_factory=dict)
    # Feeds whose URL credential is missing or unfit, and why: polled, they fail with this.
    feeds_missing: dict[str, str] = field(default_factory=dict)

    def feed_url(self, spec: FeedSpec) -> str:
        """Where to read the feed: its url, or the URL its credential holds. FetchError (the
        feed fails, with a notice, like an unreachable one) when that credential is missing."""
        if spec.url is not None:
            return spec.url
        url = self.feed_urls.get(spec.id)
        if url is None:
            raise FetchError(spec.id, self.feeds_missing.get(spec.id, "its URL credential is missing"))
        return url.reveal()

    def attribution(self, feed_id: str) -> str | None:
        """The feed catalogue's `attribution` of a feed: the full credit its source asks for."""
        spec = self.config.feed_spec(feed_id)
        return spec.attribution if spec is not None else None


def build(
    path: Path,
    *,
    with_senders: bool,
    check_secrets: bool = False,
    mirror: Path | None = None,
    credentials: secrets.Credentials | None = None,
    clock: Clock | None = None,
    region_cache: bool = False,
) -> Bundle:
    """`region_cache`: keep the region layers read in the state folder (`cache/regions`) and
    read them from there while their files are unchanged (the daemon's start and reloads).
    `check_secrets`: a missing credential is a problem. Without it (the daemon), the target
    is left without a sender and listed in `missing`: one region's lost token must not keep
    every other region silent. `mirror`: read the files from a saved copy (see load).
    `credentials`: where credentials are read (default: systemd's folder and the environment).
    `clock`: the daemon's, for the senders (default: the system's steady time)."""
    cfg = load(path, mirror=mirror)
    creds = credentials or secrets.Credentials.from_environment()
    problems: list[Problem] = []
    at = cfg.at

    points: Points | None = None
    if cfg.file.district_points:
        try:
            points = read_points(cfg.input(cfg.file.district_points))
        except RegionError as e:
            problems.append(at.problem(str(e), "district_points"))
    aliases: tuple[PlaceAlias, ...] = ()
    if cfg.file.place_aliases:
        try:
            aliases = read_place_aliases(cfg.input(cfg.file.place_aliases))
        except RegionError as e:
            problems.append(at.problem(str(e), "place_aliases"))
    regions: RegionIndex | None = None
    try:
        cache = cfg.state_dir / "cache" / "regions" if region_cache else None
        regions = load_layers((cfg.input(layer.path) for layer in cfg.file.regions), points, aliases, cache)
    except RegionError as e:
        problems.append(at.problem(str(e), "regions"))
    if regions is not None:
        problems.extend(_alias_problems(regions, aliases))

    parsers: dict[str, Parser] = {}
    for feed in cfg.feeds:
        parser = FORMATS.get(feed.spec.format)
        if parser is None:
            problems.append(
                feed.at.problem(
                    f"unknown feed format {feed.spec.format!r} (known: {', '.join(sorted(FORMATS))})", "format"
                )
            )
        else:
            parsers[feed.spec.id] = parser

    feed_urls: dict[str, secrets.Secret] = {}
    feeds_missing: dict[str, str] = {}
    for feed in cfg.feeds:
        if feed.spec.url_credential is None:
            continue
        try:
            feed_urls[feed.spec.id] = creds.url(feed.spec.url_credential)
        except secrets.CredentialError as e:
            feeds_missing[feed.spec.id] = str(e)
            if check_secrets:
                problems.append(feed.at.problem(str(e), "url_credential"))

    problems.extend(_politeness(cfg, feed_urls))

    credits = {f.spec.id: f.spec.credit for f in (*cfg.catalogue, *cfg.feeds) if f.spec.credit}
    renderer = Renderer(cfg.input(cfg.file.templates), credits)
    if not renderer.folder.is_dir():
        problems.append(at.problem(f"templates folder {renderer.folder} does not exist", "templates"))
    else:
        for tp in renderer.check():
            problems.append(Problem(tp.file, tp.line, "", str(tp)))
        for template in renderer.omits_credit():
            problems.append(
                Problem(
                    str(renderer.folder / template),
                    None,
                    "",
                    "the text does not credit its source ({{ credit }}); some sources' terms require it",
                )
            )

    if regions is not None:
        for name, account in cfg.file.accounts.items():
            for k, code in enumerate(account.regions):
                if not _known(regions, code):
                    problems.append(at.problem(f"unknown region code {code!r}", "accounts", name, "regions", k))
        for group, codes in cfg.file.region_groups.items():
            for k, code in enumerate(codes):
                if not _known(regions, code):
                    problems.append(at.problem(f"unknown region code {code!r}", "region_groups", group, k))
        for lr in cfg.rules:
            for k, code in enumerate(lr.rule.where.regions):
                if not _known(regions, code):
                    problems.append(lr.at.problem(f"unknown region code {code!r}", "where", "regions", k))
            for k, group in enumerate(lr.rule.where.groups):
                if group not in cfg.file.region_groups:
                    known = ", ".join(sorted(cfg.file.region_groups)) or "none defined"
                    problems.append(
                        lr.at.problem(f"unknown region group {group!r} (known: {known})", "where", "groups", k)
                    )
            if lr.rule.where.level not in regions.levels:
                problems.append(
                    lr.at.problem(
                        f"no {lr.rule.where.level} layer is loaded (loaded: {', '.join(regions.levels)})",
                        "where",
                        "level",
                    )
                )
    if renderer.folder.is_dir():
        for lr in cfg.rules:
            names = list(cfg.file.accounts) if "*" in lr.rule.then.accounts else lr.rule.then.accounts
            for name in names:
                acct = cfg.file.accounts.get(name)
                if acct is not None and not renderer.has(lr.rule.then.template, acct.lang):
                    problems.append(
                        lr.at.problem(
                            f"no template {lr.rule.then.template}/new.{acct.lang}.j2 in {renderer.folder}"
                            f" (account {name!r} posts in {acct.lang!r})",
                            "then",
                            "template",
                        )
                    )

    if renderer.folder.is_dir():
        problems.extend(_same_text(cfg, renderer))

    accounts = {
        name: AccountView(
            name,
            a.lang,
            tuple(a.regions),
            include_url=any(isinstance(o, XAccount) and o.include_url for _, o in outlets(name, a)),
            area=tuple(_region_name(regions, code) for code in a.regions),
            channels=tuple(c for c, _ in outlets(name, a)),
        )
        for name, a in cfg.file.accounts.items()
    }
    try:
        outbound = Outbound.of(cfg.file.http)
    except ProxyConfigError as e:
        problems.append(at.problem(str(e), "http", "proxy"))
        outbound = Outbound("none", cfg.file.http.ca)
    senders: dict[str, Sender] = {}
    missing: dict[str, str] = {}
    if with_senders or check_secrets:
        built = make_senders(cfg.file, cfg.resolve, cfg.state_dir, outbound, creds, clock)
        if check_secrets:
            problems.extend(at.problem(message, *where) for where, message in built.problems)
        senders = built.senders if with_senders else {}
        missing = built.missing
    ops = make_ops(cfg.file.ops, cfg.resolve, cfg.file.user_agent, outbound, build=with_senders, credentials=creds)
    if check_secrets:
        problems.extend(at.problem(why, *where) for where, why in ops.problems)
        token = cfg.file.operator_token
        if token and creds.read(token) is None:
            problems.append(at.problem(secrets.missing(token), "operator_token"))
        proxy_secret = cfg.file.console.proxy_secret
        if proxy_secret and creds.read(proxy_secret) is None:
            problems.append(at.problem(secrets.missing(proxy_secret), "console", "proxy_secret"))

    if problems or regions is None:
        raise ConfigError(problems)
    # Built here, once per load, rather than by the first quake that needs it (tens of ms).
    gazetteer(regions)
    return Bundle(
        cfg,
        regions,
        compile_rules(
            [lr.rule for lr in cfg.rules],
            cfg.file.region_tolerance_km,
            list(cfg.file.accounts),
            cfg.file.region_groups,
        ),
        renderer,
        accounts,
        parsers,
        senders,
        missing,
        ops.senders,
        ops.missing,
        outbound,
        feed_urls,
        feeds_missing,
    )


def _alias_problems(regions: RegionIndex, aliases: tuple[PlaceAlias, ...]) -> list[Problem]:
    """An alias must name a loaded regency or a kecamatan of the district points: a town mapped to
    a code nobody knows would be a felt place silently lost."""
    if not aliases:
        return []
    districts = {c for c in regions.points.codes if c.count(".") == 2}
    problems = []
    for a in aliases:
        if a.code not in regions.by_code and a.code not in districts:
            problems.append(
                Problem(a.path, a.line, "", f"{a.name!r}: code {a.code!r} is no loaded regency nor kecamatan")
            )
        elif regions.region_at(a.code, "regency") is None:
            problems.append(Problem(a.path, a.line, "", f"{a.name!r}: the regency of {a.code!r} is not loaded"))
    return problems


def _region_name(regions: RegionIndex | None, code: str) -> str:
    region = regions.by_code.get(code) if regions is not None else None
    return region.name if region is not None else code


def _overlap(a: list[str], b: list[str]) -> bool:
    """Whether two accounts' home regions share a place (no regions: everywhere)."""
    return not a or not b or any(covers(x, b) for x in a) or any(covers(y, a) for y in b)


def _same_text(cfg: Config, renderer: Renderer) -> list[Problem]:
    """Two accounts of one channel and language that could post word for word the same text: X
    refuses the second as duplicate content (and counts it as spam). Their texts differ by the
    account's area, which every template names, so two such accounts need areas of their own,
    and, when their areas overlap (a national account beside the provincial ones), templates that
    name the area."""
    problems: list[Problem] = []
    blind = renderer.ignores_area()
    items = list(cfg.file.accounts.items())
    for i, (name, a) in enumerate(items):
        for other, b in items[i + 1 :]:
            shared = sorted({o.channel for _, o in outlets(name, a)} & {o.channel for _, o in outlets(other, b)})
            if not shared or a.lang != b.lang or not _overlap(a.regions, b.regions):
                continue
            pair = f"accounts {name!r} and {other!r} (channel {'+'.join(shared)}, language {a.lang})"
            if sorted(a.regions) == sorted(b.regions):
                problems.append(
                    cfg.at.problem(
                        f"{pair} have the same regions: they would post identical text, which X refuses"
                        " as duplicate content; give each an area of its own",
                        "accounts",
                        other,
                        "regions",
                    )
                )
                continue
            for template in blind:
                if template.split(".")[-2] == a.lang:
                    problems.append(
                        Problem(
                            str(renderer.folder / template),
                            None,
                            "",
                            f"the text does not name the account's area ({{{{ area }}}} or {{{{ area_tags }}}});"
                            f" {pair} cover the same places, so they would post identical text",
                        )
                    )
            # Each template is named once, with the first pair it would fail.
            blind = [t for t in blind if t.split(".")[-2] != a.lang]
    return problems


def _known(regions: RegionIndex, code: str) -> bool:
    return code in regions.by_code or any(covers(c, [code]) for c in regions.by_code)


# Hosts that ask for a request budget per client address, and that budget per minute.
RATE_LIMITS = {"bmkg": 60.0}
_BMKG_HOSTS = ("bmkg.go.id", "bmkg-content-inatews.storage.googleapis.com")


def requests_per_minute(cfg: Config, feed_urls: dict[str, secrets.Secret] | None = None) -> dict[str, float]:
    """Upper bound of requests per minute per rate-limited provider (jitter only delays)."""
    out: dict[str, float] = {}
    for f in cfg.feeds:
        url = f.spec.url if f.spec.url is not None else (feed_urls or {}).get(f.spec.id, secrets.Secret("")).reveal()
        host = urlparse(url).hostname or ""
        if host.endswith(_BMKG_HOSTS):
            out["bmkg"] = out.get("bmkg", 0.0) + 60.0 / f.spec.interval
    return out


def _politeness(cfg: Config, feed_urls: dict[str, secrets.Secret]) -> list[Problem]:
    problems = []
    for provider, rate in requests_per_minute(cfg, feed_urls).items():
        limit = RATE_LIMITS[provider]
        if rate > limit:
            problems.append(
                cfg.at.problem(
                    f"the feeds on {provider.upper()} hosts make up to {rate:.0f} requests per minute;"
                    f" {provider.upper()} allows about {limit:.0f} per address: lengthen some intervals",
                    "feeds",
                )
            )
    return problems
