"""The `warnd` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warnd import __version__
from warnd.errors import ConfigError, FeedError, StoreError, StoreUnavailable
from warnd.model import Delivery, DeliveryState, HazardEvent, Source, iso_utc

if TYPE_CHECKING:
    from warnd.config.load import Config
    from warnd.config.schema import StoreSettings
    from warnd.config.secrets import Credentials
    from warnd.config.snapshot import Snapshot
    from warnd.store.backend import Database

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
# `warnd status` when the daemon does not answer (as `systemctl status` says of a stopped unit).
EXIT_NOT_RUNNING = 3
# The state database is damaged: the unit does not restart into it (RestartPreventExitStatus).
EXIT_STORE = 4

DEFAULT_CONFIG = "config/demo.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_CONFIG
    try:
        result: int = args.func(args)
    except BrokenPipeError:
        # `warnd status | head`: the reader has what it wanted.
        sys.stderr.close()
        return EXIT_OK
    except StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILURE if isinstance(e, StoreUnavailable) else EXIT_STORE
    return result


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="warnd", description="Disaster early-warning broadcast daemon.")
    p.add_argument("--version", action="version", version=f"warnd {__version__}")
    sub = p.add_subparsers(dest="command")

    def config_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "-c",
            "--config",
            type=Path,
            default=Path(os.environ.get("WARND_CONFIG", DEFAULT_CONFIG)),
            help=f"config file (default: $WARND_CONFIG or {DEFAULT_CONFIG})",
        )

    run = sub.add_parser("run", help="run the daemon")
    config_arg(run)
    run.add_argument("--log-level", default=os.environ.get("WARND_LOG_LEVEL", "info"))
    run.add_argument("--log-format", choices=["auto", "json", "console"], default="auto")
    run.set_defaults(func=_run)

    check = sub.add_parser("check", help="validate config, feeds, rules, regions and templates")
    config_arg(check)
    check.add_argument(
        "--secrets", action="store_true", help="also check that every credential is present (as the daemon does)"
    )
    check.add_argument(
        "--credentials",
        type=Path,
        metavar="DIR",
        help="with --secrets: the folder of credential files, one per credential named plainly (default:"
        " $CREDENTIALS_DIRECTORY, else the credentials folder beside the config file, as installed:"
        " /etc/warnd/credentials); the environment's WARND_SECRET_* are read too",
    )
    check.set_defaults(func=_check)

    history = sub.add_parser("history", help="warnings issued and where each one went")
    config_arg(history)
    history.add_argument("--event", help="only this event id")
    history.add_argument("--account", help="only this account")
    history.add_argument("--limit", type=int, default=20)
    history.add_argument("--format", choices=["table", "json"], default="table")
    history.set_defaults(func=_history)

    outbox = sub.add_parser("outbox", help="the deliveries waiting, failed or dead; retry or drop them")
    osub = outbox.add_subparsers(dest="action", required=True)
    olist = osub.add_parser("list", help="deliveries (default: everything not yet sent)")
    config_arg(olist)
    olist.add_argument("--state", action="append", choices=[s.value for s in DeliveryState])
    olist.add_argument("--target", help="e.g. account:gempa-aceh, partner:contoh-radio")
    olist.add_argument("--limit", type=int, default=50)
    olist.add_argument("--format", choices=["table", "json"], default="table")
    oretry = osub.add_parser("retry", help="try dead or waiting deliveries again now; re-enable a disabled target")
    config_arg(oretry)
    oretry.add_argument("ids", nargs="*", type=int)
    oretry.add_argument("--dead", action="store_true", help="every dead delivery")
    oretry.add_argument("--target", help="every open delivery of this target, and lift its hold or disable")
    odrop = osub.add_parser("drop", help="give up on deliveries (they are kept, marked dropped)")
    config_arg(odrop)
    odrop.add_argument("ids", nargs="+", type=int)
    odrop.add_argument("--reason", required=True)
    outbox.set_defaults(func=_outbox)

    status = sub.add_parser(
        "status", help="health, feeds, queues, notices and recent warnings: from the daemon, or the state it left"
    )
    config_arg(status)
    status.add_argument("--format", choices=["table", "json"], default="table")
    status.set_defaults(func=_status)

    sim = sub.add_parser("simulate", help="run recorded documents through rules and render; post nothing")
    config_arg(sim)
    sim.add_argument("sources", nargs="+", metavar="FILE", help="feed documents, taken in this order")
    sim.add_argument("--format", choices=["table", "json"], default="table")
    sim.add_argument("--explain", action="store_true", help="say why each rule fired or did not")
    sim.add_argument("--against", type=Path, metavar="OTHER_CONFIG", help="show what OTHER_CONFIG posts differently")
    sim.add_argument("--feed", help="feed id the documents come from (for rules with match.feeds)")
    sim.add_argument("--feed-format", help="skip detection and read as this format")
    sim.add_argument(
        "--at",
        type=_when,
        help="the clock, against which events are judged too old (default: each document's own newest"
        " time, every document current)",
    )
    sim.add_argument("--every", type=_duration, help="step the clock by this (e.g. 10m) ...")
    sim.add_argument("--until", type=_when, help="... until this time, reading every document at each step")
    sim.set_defaults(func=_simulate)

    silence = sub.add_parser("silence", help="mute a rule, an account or a region for a while (never life safety)")
    ssub = silence.add_subparsers(dest="action", required=True)
    add = ssub.add_parser("add", help="add a silence")
    config_arg(add)
    add.add_argument("--rule")
    add.add_argument("--account")
    add.add_argument("--region", help="a region code; covers the regions inside it")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--for", dest="duration", type=_duration, help="e.g. 2h")
    when.add_argument("--until", type=_when)
    add.add_argument("--reason", required=True)
    lst = ssub.add_parser("list", help="active silences")
    config_arg(lst)
    exp = ssub.add_parser("expire", help="end a silence now")
    config_arg(exp)
    exp.add_argument("id")
    silence.set_defaults(func=_silence)

    reload = sub.add_parser(
        "reload",
        help="ask the running daemon to reload its configuration (SIGHUP) and wait for its verdict:"
        " exit 0 applied, 2 refused (the running set stays)",
    )
    config_arg(reload)
    reload.add_argument(
        "--pid", type=int, help="the daemon's pid (systemd's $MAINPID); default: from the state directory"
    )
    reload.add_argument(
        "--wait", type=float, default=60.0, metavar="SECONDS", help="how long to wait for the verdict; 0: do not wait"
    )
    reload.set_defaults(func=_reload)

    schema = sub.add_parser("schema", help="JSON Schema of the config and rule files, for editors")
    schema.add_argument("which", choices=["config", "rules"], nargs="?", default="rules")
    schema.set_defaults(func=_schema)

    points = sub.add_parser(
        "points", help="one representative point per region of a layer (code,name,lat,lon), for district_points"
    )
    points.add_argument("layer", type=Path, help="a region layer (GeoJSON), e.g. regions/districts.geojson")
    points.set_defaults(func=_points)

    events = sub.add_parser("events", help="parse feed documents and print normalized events")
    events.add_argument("sources", nargs="+", metavar="SOURCE", help="file path or http(s) URL")
    events.add_argument("--format", choices=["table", "json"], default="table")
    events.add_argument("--feed-format", help="skip detection and read as this format")
    events.add_argument(
        "--at",
        type=_when,
        help="read as if the clock showed this ISO time (expiry; replaying a gauge series); default now",
    )
    events.set_defaults(func=_events)
    return p


def _load_config(path: Path) -> Config | None:
    """The loaded config, or None after printing every problem."""
    from warnd.config.load import load

    try:
        return load(path)
    except ConfigError as e:
        _print_problems(e)
        return None


@contextlib.contextmanager
def _state_db(cfg: Config) -> Iterator[Database]:
    """The daemon's state database (SQLite in WAL, or PostgreSQL: safe to use while it runs)."""
    from warnd.store import db

    conn = db.open_store(cfg.file.store, cfg.state_dir)
    try:
        yield conn
    finally:
        conn.close()
        if not db.shared(cfg.file.store):
            _keep_owner(cfg.state_dir / "warnd.db")


def _keep_owner(path: Path) -> None:
    """An operator running this as root beside a daemon of its own user (systemd's DynamicUser)
    must not leave a root-owned write-ahead log behind: the daemon could no longer open it."""
    if os.geteuid() != 0:
        return
    with contextlib.suppress(OSError):
        owner = path.stat()
        for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if f.exists() and (f.stat().st_uid, f.stat().st_gid) != (owner.st_uid, owner.st_gid):
                os.chown(f, owner.st_uid, owner.st_gid)


def _print_problems(e: ConfigError, outcome: str = "nothing was started") -> None:
    for problem in e.problems:
        print(problem, file=sys.stderr)
    print(f"{len(e.problems)} problem(s); {outcome}", file=sys.stderr)


def _refused_at_start(e: ConfigError, json_lines: bool, outcome: str) -> None:
    if not json_lines:
        _print_problems(e, outcome)
        return
    from warnd.obs import get_logger

    # Under systemd the journal reads this: one JSON line like every other, at error level.
    get_logger("warnd").error(
        "config.rejected", problems=[str(p) for p in e.problems], detail=f"{len(e.problems)} problem(s); {outcome}"
    )


def _check(args: argparse.Namespace) -> int:
    from warnd.runtime.build import build

    credentials = _credentials(args.config, args.credentials) if args.secrets else None
    try:
        b = build(args.config, with_senders=False, check_secrets=args.secrets, credentials=credentials)
    except ConfigError as e:
        _print_problems(e)
        return EXIT_CONFIG
    cfg = b.config
    print(
        f"{args.config}: OK: {len(cfg.feeds)} feeds, {len(b.ruleset.rules)} rules in {len(cfg.rule_files)} files, "
        f"{len(b.accounts)} accounts, {len(b.regions.regions)} regions, {len(b.renderer.names())} templates"
    )
    return EXIT_OK


def _credentials(config: Path, given: Path | None) -> Credentials:
    """Where `warnd check --secrets` reads credentials: the folder given, systemd's (inside the
    service), else the folder the installer made beside the config, which the unit hands to
    the daemon (root reads it; the daemon itself never does)."""
    from warnd.config.secrets import Credentials

    folder = given
    if folder is None and os.environ.get("CREDENTIALS_DIRECTORY"):
        folder = Path(os.environ["CREDENTIALS_DIRECTORY"])
    if folder is None and (config.parent / "credentials").is_dir():
        folder = config.parent / "credentials"
    if folder is not None and not folder.is_dir():
        print(f"warning: {folder} is no folder; only the environment was read", file=sys.stderr)
        folder = None
    elif folder is not None and not os.access(folder, os.R_OK | os.X_OK):
        print(
            f"warning: cannot read the credentials folder {folder} (run as root to check the files in it);"
            " only the environment was read",
            file=sys.stderr,
        )
        folder = None
    return Credentials(folder)


def _status(args: argparse.Namespace) -> int:
    from warnd.config.load import load
    from warnd.runtime.status import from_database

    try:
        cfg = load(args.config)
        state_dir: Path = cfg.state_dir
        feed_ids: list[str] | None = [f.spec.id for f in cfg.feeds]
        listen = cfg.file.listen
        token_name = cfg.file.operator_token
        store: StoreSettings | None = cfg.file.store
    except ConfigError as e:
        # Status matters most when something is wrong: read the state directory anyway.
        for problem in e.problems:
            print(problem, file=sys.stderr)
        print("the configuration on disk has problems; the daemon keeps its last good set", file=sys.stderr)
        raw_dir = _raw_state_dir(args.config)
        if raw_dir is None:
            return EXIT_CONFIG
        state_dir, feed_ids, listen, store = raw_dir, None, "", None
        token_name = _raw_token_name(args.config)
    address = _daemon_address(state_dir, listen)
    snap, refused = _ask_daemon(address, _operator_token(token_name)) if address else (None, None)
    if snap is None:
        note = (
            f"warnd answers on {address} but refused /status ({refused}): this is the state in its database"
            if refused
            else f"warnd is not answering on {address or 'its listen address'}: this is the state it left"
        )
        snap = from_database(state_dir, feed_ids, store) | {"source": "state database", "note": note}
    if args.format == "json":
        print(json.dumps(snap, ensure_ascii=False))
    else:
        _print_status(snap)
    if snap["source"] != "daemon":
        return EXIT_NOT_RUNNING
    return EXIT_OK if snap["health"]["status"] == "ok" else EXIT_FAILURE


def _daemon_address(state_dir: Path, listen: str) -> str | None:
    """Where the running daemon listens: what it wrote at start, else the configured address."""
    with contextlib.suppress(OSError):
        return (state_dir / "listen").read_text().strip() or None
    host, _, port = listen.rpartition(":")
    return listen if host and port not in ("", "0") else None


def _operator_token(name: str | None) -> str | None:
    from warnd.config import secrets

    token = secrets.read(name) if name else None
    return token.reveal() if token is not None else None


def _raw_token_name(config: Path) -> str | None:
    """operator_token from a configuration that does not load, for status to still ask."""
    import yaml

    try:
        raw = yaml.safe_load(config.read_text())
        name = raw.get("operator_token")
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    return name if isinstance(name, str) else None


def _ask_daemon(address: str, token: str | None = None) -> tuple[dict[str, Any] | None, str | None]:
    """(the daemon's status, None), or (None, why it refused: a token missing or wrong)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        # trust_env=False: the daemon is on this machine; an HTTP_PROXY meant for the outside
        # world would carry the question (and the token) elsewhere and report a live daemon dead.
        with httpx.Client(trust_env=False, timeout=3.0) as client:
            r = client.get(f"http://{address}/status", headers=headers)
        doc = r.json()
    except (httpx.HTTPError, ValueError):
        return None, None
    if r.status_code in (401, 503) and isinstance(doc, dict) and "error" in doc:
        return None, f"HTTP {r.status_code}: {doc['error']}"
    ok = r.status_code == 200 and isinstance(doc, dict) and doc.get("source") == "daemon"
    return (doc if ok else None), None


def _print_status(snap: dict[str, Any]) -> None:
    if snap.get("error"):
        print(f"warnd pid {snap['pid']}: FAILING: {snap['error']}")
        return
    if snap["source"] == "daemon":
        h = snap["health"]
        print(
            f"warnd pid {snap['pid']}, up {snap['uptime_s']:.0f} s, config generation {snap['generation']}:"
            f" {h['status'].upper()}"
        )
        for r in h["reasons"]:
            print(f"  {r['severity']}: {r['kind']} {r['subject']}: {r['message']}")
    else:
        print(f"NOT RUNNING: {snap['note']}")
    print(f"state: {snap['state_db']}  events known: {snap['events']}  outbox: {snap['outbox']}")
    _print_cluster(snap.get("cluster") or {}, snap.get("node"))
    refused = snap.get("config_refused")
    if refused:
        last = refused["snapshot"]
        print(
            f"CONFIG ON DISK REFUSED at {refused['at']}: running the last good set {last['digest']}"
            f" (saved {last['taken_at']}); fix these, then `warnd reload`:"
        )
        for p in refused["problems"]:
            print(f"  {p}")
    reload = snap.get("last_reload")
    if reload:
        print(f"last reload {reload['at']}: {'applied' if reload['ok'] else 'REJECTED, the previous set runs'}")
        for p in reload["problems"]:
            print(f"  {p}")
    print("feeds:")
    for f in snap["feeds"]:
        age = f"{f['age_s']:.0f} s ago" if f.get("age_s") is not None else "never"
        line = f"  {f['feed']:<32} {f['health']:<15} last ok {age:<12} changed {f['last_change'] or '-'}"
        if f["failures"]:
            since = f" since {f['failing_since']}" if f.get("failing_since") else ""
            line += f"  failures {f['failures']}{since}, backing off until {f['next_poll_at']}: {f['last_error']}"
        print(line)
        if f["notice"]:
            print(f"    NOTICE since {f['stale_since']}: {f['notice']}")
    busy = {t: q for t, q in snap["queues"].items() if q["waiting"] or q["dead"]}
    print("queues:" + ("" if busy else " nothing waiting"))
    for t, q in busy.items():
        print(f"  {t:<40} waiting {q['waiting']:<5} dead {q['dead']:<5} oldest {q['oldest_waiting'] or '-'}")
    for t in snap["targets"]:
        what = "DISABLED" if t["disabled"] else f"held until {t['hold_until']}"
        print(f"NOTICE {t['target']}: {what} ({t['reason']}: {t['detail']})")
    for d in snap["dead"]:
        print(f"NOTICE dead delivery #{d['id']} to {d['target']} ({d['event_id']}): {d['reason']}: {d['error']}")
    for n in snap["notices"]:
        print(f"notice since {n['since']}: {n['kind']} {n['subject']}: {n['message']}")
    for x in snap["silences"]:
        what = " ".join(f"{k}={x[k]}" for k in ("rule", "account", "region") if x[k])
        print(f"silence {x['id']}: {what} until {x['until']} ({x['reason']})")
    if snap["recent_warnings"]:
        print("recent warnings:")
    for w in snap["recent_warnings"]:
        went = ", ".join(f"{t}={state}" for t, state in w["deliveries"].items())
        print(f"  {w['created_at']} {w['account']} {w['kind']} {w['event_id']}: {w['headline'][:60]}  [{went}]")


def _print_cluster(c: dict[str, Any], me: str | None) -> None:
    nodes = c.get("nodes") or []
    if not nodes:
        return
    lead = c.get("leader")
    if lead:
        print(
            f"leader: {lead['node']} (epoch {lead['epoch']}, for {lead['since_s']:.0f} s, lease"
            f" {lead['lease_left_s']:.1f} s left)"
        )
    else:
        print("leader: NONE (no node holds the lease: nothing is polled until one does)")
    print("nodes:")
    for n in nodes:
        mark = " (this node)" if n["node"] == me else ""
        print(
            f"  {n['node']:<20} {n['role']:<8} heartbeat {n['heartbeat_age_s']:>6.1f} s ago"
            f"  {n['host']} pid {n['pid']} {n['listen'] or '-'} v{n['version']}{mark}"
        )


def _duration(text: str) -> timedelta:
    from warnd.config.schema import parse_duration

    try:
        return timedelta(seconds=float(parse_duration(text)))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _simulate(args: argparse.Namespace) -> int:
    from warnd.obs import setup_logging
    from warnd.runtime.simulate import Document, diff, simulate, ticks

    setup_logging("error", json=False)
    docs = []
    for source in args.sources:
        try:
            data = _read_source(source)
        except (FeedError, OSError) as e:
            print(f"{source}: {e}", file=sys.stderr)
            return EXIT_FAILURE
        docs.append(Document(source, data, args.feed or Path(source).name, args.feed_format))
    times = ticks(args.at or datetime.now(UTC), args.every, args.until)
    try:
        follow = args.at is None
        run = simulate(args.config, docs, times, follow=follow)
        other = simulate(args.against, docs, times, follow=follow) if args.against else None
    except ConfigError as e:
        _print_problems(e)
        return EXIT_CONFIG
    except FeedError as e:
        print(e, file=sys.stderr)
        return EXIT_FAILURE
    for line in run.rejected:
        print(line, file=sys.stderr)
    if other is not None:
        changes = diff(run, other)
        for c in changes:
            if args.format == "json":
                print(json.dumps(c, ensure_ascii=False))
            else:
                print(f"{c['change'].upper():<8} {c['account']} {c['kind']} ({c['rule']}, {c['event_id']})")
                print("  " + c["text"].replace("\n", "\n  "))
        if args.format != "json":
            print(f"# {len(changes)} difference(s) between {args.config} and {args.against}")
        return EXIT_OK
    if args.format == "json":
        for w in run.warnings:
            print(json.dumps(w.to_json(), ensure_ascii=False))
        if args.explain:
            for step in run.trace:
                print(json.dumps({"explain": step}, ensure_ascii=False))
        return EXIT_OK
    if args.explain:
        for step in run.trace:
            print(f"# {step['document']} at {step['at']}: {step['event_id']} {step['change']}")
            if step.get("joined"):
                print(f"#   {step['joined']}: another agency's report of this quake, kept as an alias, not posted")
            if step.get("too_old"):
                old = step["too_old"]
                print(f"#   too old to post ({old['reason']}): {old['detail']}; recorded, never posted")
            for r in step["rules"]:
                if r["fired"]:
                    held = "; ".join(f"{h['account']}: {h['reason']} ({h['detail']})" for h in r["held"])
                    print(
                        f"#   {r['rule']}: fired for {len(r['regions'])} region(s),"
                        f" posts to {', '.join(r['posts']) or 'nobody'}" + (f"; held: {held}" if held else "")
                    )
                else:
                    print(f"#   {r['rule']}: not fired: {r['reason']}: {r['detail']}")
    for w in run.warnings:
        print(f"--- {w.account} | {w.kind.value} | {w.rule} | {w.event_id} | {w.created_at.isoformat()}")
        print(w.text)
    print(f"# {len(run.warnings)} warning(s)")
    return EXIT_OK


def _silence(args: argparse.Namespace) -> int:
    from warnd.store.silences import Silences

    cfg = _load_config(args.config)
    if cfg is None:
        return EXIT_CONFIG
    now = datetime.now(UTC)
    with _state_db(cfg) as conn:
        store = Silences(conn)
        if args.action == "add":
            if not (args.rule or args.account or args.region):
                print("name at least one of --rule, --account, --region", file=sys.stderr)
                return EXIT_CONFIG
            known = {"rule": {r.rule.id for r in cfg.rules}, "account": set(cfg.file.accounts)}
            for kind, value in (("rule", args.rule), ("account", args.account)):
                if value is not None and value not in known[kind]:
                    print(f"unknown {kind} {value!r} (known: {', '.join(sorted(known[kind]))})", file=sys.stderr)
                    return EXIT_CONFIG
            until = args.until or now + args.duration
            sid = store.add(
                rule=args.rule, account=args.account, region=args.region, until=until, reason=args.reason, now=now
            )
            print(f"silence {sid} until {iso_utc(until)} (life-safety posts are never muted)")
        elif args.action == "list":
            for s in store.active(now):
                print(s.describe())
        else:
            if not store.expire(args.id, now):
                print(f"no active silence {args.id}", file=sys.stderr)
                return EXIT_FAILURE
            print(f"silence {args.id} expired")
    return EXIT_OK


def _history(args: argparse.Namespace) -> int:
    from warnd.store.outbox import Outbox

    cfg = _load_config(args.config)
    if cfg is None:
        return EXIT_CONFIG
    with _state_db(cfg) as conn:
        rows = Outbox(conn).history(args.event, args.account, args.limit)
    if args.format == "json":
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return EXIT_OK
    for r in rows:
        print(f"{r['created_at']}  {r['id']}  {r['kind']:<9} {r['account']}  event {r['event_id']}  rule {r['rule']}")
        for d in r["deliveries"]:
            tail = d["remote_id"] or ""
            if d["state"] != "sent" and d["last_error"]:
                tail = f"{d['reason']}: {d['last_error']}"
            print(f"    #{d['id']:<6} {d['target']:<32} {d['state']:<9} attempts {d['attempts']}  {tail}")
        print("    " + r["text"].replace("\n", "\n    "))
    if not rows:
        print("no warnings issued yet")
    return EXIT_OK


def _outbox(args: argparse.Namespace) -> int:
    from warnd.store.outbox import Outbox
    from warnd.store.targets import Targets

    cfg = _load_config(args.config)
    if cfg is None:
        return EXIT_CONFIG
    now = datetime.now(UTC)
    with _state_db(cfg) as conn:
        box = Outbox(conn)
        if args.action == "list":
            states = args.state or ["pending", "in_flight", "retry", "dead"]
            rows = box.listing(states, args.target, args.limit)
            for d in rows:
                if args.format == "json":
                    print(json.dumps(_delivery_json(d), ensure_ascii=False))
                else:
                    err = f"{d.reason}: {d.last_error}" if d.last_error else ""
                    print(
                        f"#{d.id:<6} {d.state.value:<9} {d.target:<32} attempts {d.attempts:<3}"
                        f" next {iso_utc(d.next_attempt_at)}  {d.warning.kind.value} {d.warning.event_id}  {err}"
                    )
            if args.format == "table":
                for t in Targets(conn).all():
                    if t.disabled_at or (t.hold_until and t.hold_until > now):
                        what = "DISABLED" if t.disabled_at else f"held until {iso_utc(t.hold_until or now)}"
                        print(f"{t.target}: {what} ({t.reason}: {t.detail})")
                if not rows:
                    print("nothing waiting")
            return EXIT_OK
        if args.action == "retry":
            ids = list(args.ids)
            if args.dead:
                ids += box.ids(["dead"])
            if args.target:
                ids += box.ids(["pending", "retry", "dead"], args.target)
                if Targets(conn).enable(args.target):
                    print(f"{args.target}: hold or disable lifted")
            n = box.retry_now(sorted(set(ids)), now)
            print(f"{n} deliveries queued to go now")
            _wake_daemon(cfg.state_dir)
            return EXIT_OK
        n = box.drop(args.ids, args.reason, now)
        print(f"{n} deliveries dropped")
        return EXIT_OK if n else EXIT_FAILURE


def _delivery_json(d: Delivery) -> dict[str, object]:
    return {
        "id": d.id,
        "target": d.target,
        "state": d.state.value,
        "attempts": d.attempts,
        "reason": d.reason,
        "last_error": d.last_error,
        "next_attempt_at": iso_utc(d.next_attempt_at),
        "created_at": iso_utc(d.created_at),
        "remote_id": d.remote_id,
        "warning_id": d.warning.id,
        "event_id": d.warning.event_id,
        "kind": d.warning.kind.value,
        "idempotency_key": d.idempotency_key,
    }


def _wake_daemon(state_dir: Path) -> None:
    """SIGUSR1: the running daemon looks at the outbox now rather than at its next round."""
    import signal

    try:
        pid = int((state_dir / "warnd.lock").read_text().split()[0])
        os.kill(pid, signal.SIGUSR1)
    except (OSError, ValueError, IndexError):
        pass


def _raw_state_dir(config: Path) -> Path | None:
    import yaml

    try:
        raw = yaml.safe_load(config.read_text())
        return (config.parent / str(raw["state_dir"])).resolve()
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None


def _reload(args: argparse.Namespace) -> int:
    """Signal the daemon and wait for its verdict: the daemon judges the files (and records a
    refusal where an operator looks), this only reports it, so `systemctl reload` fails too."""
    import signal
    import time

    from warnd.app import RELOAD_VERDICT

    dirs = _state_dirs(args.config)
    pid = args.pid
    state_dir = dirs[0] if dirs else None
    if pid is None:
        for d in dirs:
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = int((d / "warnd.lock").read_text().split()[0])
                state_dir = d
                break
    if pid is None or state_dir is None:
        print(f"no running warnd found for {args.config}", file=sys.stderr)
        return EXIT_FAILURE
    verdict = state_dir / RELOAD_VERDICT

    def read() -> str:
        try:
            return verdict.read_text()
        except OSError:
            return ""

    before = read()
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as e:
        print(f"cannot signal warnd pid {pid}: {e.strerror}", file=sys.stderr)
        return EXIT_FAILURE
    if args.wait <= 0:
        print(f"reload requested from warnd pid {pid}; `warnd status` shows the outcome")
        return EXIT_OK
    deadline = time.monotonic() + args.wait
    while (now := read()) == before or not now:
        if time.monotonic() > deadline:
            print(f"warnd pid {pid} gave no verdict within {args.wait:.0f} s; see `warnd status`", file=sys.stderr)
            return EXIT_FAILURE
        time.sleep(0.1)
    outcome = json.loads(now)
    if outcome.get("ok"):
        print(f"reload applied by warnd pid {pid}: configuration generation {outcome.get('generation')}")
        return EXIT_OK
    for problem in outcome.get("problems") or []:
        print(problem, file=sys.stderr)
    print(f"reload refused by warnd pid {pid}; the running set stays", file=sys.stderr)
    return EXIT_CONFIG


def _schema(args: argparse.Namespace) -> int:
    from warnd.config.schema import ConfigFile, RulesFile

    model = ConfigFile if args.which == "config" else RulesFile
    print(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False))
    return EXIT_OK


def _points(args: argparse.Namespace) -> int:
    from warnd.geo import RegionError, points_from_layer, write_points

    try:
        rows = points_from_layer(args.layer)
    except RegionError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    write_points(rows, sys.stdout)
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from warnd.app import AlreadyRunning, Daemon
    from warnd.obs import get_logger, setup_logging
    from warnd.runtime.build import build

    json_lines = setup_logging(args.log_level, json=None if args.log_format == "auto" else args.log_format == "json")
    refused: ConfigError | None = None
    snap: Snapshot | None = None
    try:
        bundle = build(args.config, with_senders=True)
    except ConfigError as e:
        # A broken edit must not keep warnings from going out after a crash or a reboot: start
        # from the last set that ran, and say so everywhere an operator looks.
        snap = _last_good(args.config)
        if snap is None:
            _refused_at_start(e, json_lines, "nothing was started")
            return EXIT_CONFIG
        if not json_lines:
            _print_problems(e, f"starting from the last good set ({snap.digest}, saved {snap.taken_at})")
        try:
            bundle = build(args.config, with_senders=True, mirror=snap.mirror)
        except ConfigError as again:
            _refused_at_start(again, json_lines, "the last good set does not load either; nothing was started")
            return EXIT_CONFIG
        refused = e
    try:
        daemon = Daemon(args.config, bundle, refused=refused, snapshot=snap)
    except AlreadyRunning as e:
        get_logger("warnd").error("daemon.refused", error=str(e))
        return EXIT_FAILURE
    except StoreUnavailable as e:
        # The database server is down or refuses: systemd restarts the unit until it answers.
        get_logger("warnd").error("store.unavailable", error=str(e))
        return EXIT_FAILURE
    except StoreError as e:
        get_logger("warnd").error("store.refused", error=str(e))
        return EXIT_STORE
    # X posts go out from worker threads (tweepy blocks) while the event loop delivers to the
    # other targets: a thread waiting for the GIL should get it within 1 ms, not Python's 5 ms.
    sys.setswitchinterval(0.001)
    asyncio.run(daemon.run())
    return EXIT_OK


def _state_dirs(config: Path) -> list[Path]:
    """Where the state directory of a config may be, found even when the config no longer
    loads: through what of it still parses, then systemd's $STATE_DIRECTORY."""
    from warnd.config.load import load

    candidates: list[Path] = []
    with contextlib.suppress(ConfigError):
        candidates.append(load(config).state_dir)
    raw = _raw_state_dir(config)
    if raw is not None:
        candidates.append(raw)
    if os.environ.get("STATE_DIRECTORY"):
        candidates.append(Path(os.environ["STATE_DIRECTORY"].split(":")[0]))
    return list(dict.fromkeys(candidates))


def _last_good(config: Path) -> Snapshot | None:
    """The snapshot of this config in its state directory, if one was saved."""
    from warnd.config import snapshot

    for state_dir in _state_dirs(config):
        snap = snapshot.current(state_dir, config)
        if snap is not None:
            return snap
    return None


def _events(args: argparse.Namespace) -> int:
    from warnd.pollers.registry import FORMATS, detect

    now = args.at or datetime.now(UTC)
    status = EXIT_OK
    for source in args.sources:
        try:
            data = _read_source(source)
            if args.feed_format:
                parse = FORMATS.get(args.feed_format)
                if parse is None:
                    print(f"unknown format {args.feed_format!r} (known: {', '.join(sorted(FORMATS))})", file=sys.stderr)
                    return EXIT_CONFIG
                result = parse(data, Source(source, now, source))
            else:
                _, result = detect(data, Source(source, now, source))
        except (FeedError, OSError) as e:
            print(f"{source}: {e}", file=sys.stderr)
            status = EXIT_FAILURE
            continue
        for r in result.rejected:
            print(f"{source}: {r.item}: {r.field}: {r.reason.value}: {r.message}", file=sys.stderr)
        for link in result.links:
            print(f"{source}: links to {link} (pass it as a SOURCE to read it)", file=sys.stderr)
        if args.format == "json":
            for ev in result.events:
                print(json.dumps(ev.to_json(), ensure_ascii=False))
        else:
            _table(source, result.events)
    return status


def _read_source(source: str) -> bytes:
    if source.startswith(("http://", "https://")):
        from warnd.config.outbound import Outbound
        from warnd.config.schema import HttpSettings
        from warnd.pollers.fetch import Fetcher, Validators

        async def get() -> bytes:
            # No config here: the defaults of the `http:` section (the environment's proxies,
            # the system's CA store).
            f = Fetcher("warnd-events/" + __version__, Path.cwd(), Outbound.of(HttpSettings()))
            try:
                out = await f.fetch(source, source, timeout=20, max_bytes=20_000_000, validators=Validators())
            finally:
                await f.aclose()
            return out.body

        return asyncio.run(get())
    from warnd.pollers.document import GZIP_MAGIC, gunzip_capped

    data = Path(source).read_bytes()
    return gunzip_capped(data, source, 200_000_000) if data.startswith(GZIP_MAGIC) else data


def _when(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _table(source: str, events: Sequence[HazardEvent]) -> None:
    from warnd.clock import WIB

    print(f"# {source}: {len(events)} event(s)")
    print(f"{'id':<34} {'status':<8} {'time (UTC)':<20} {'WIB':<19} {'lat':>7} {'lon':>8}  what / where")
    for e in events:
        print(
            f"{e.id[:34]:<34} {e.status.value:<8} {iso_utc(e.time):<20} {e.time.astimezone(WIB):%Y-%m-%d %H:%M:%S} "
            f"{_n(e.lat, 7, 2)} {_n(e.lon, 8, 2)}  {_what(e)}"
        )


def _what(e: HazardEvent) -> str:
    parts: list[str] = []
    if e.magnitude is not None:
        parts.append(f"M{e.magnitude:.1f}" + (f" {e.depth_km:.0f} km" if e.depth_km is not None else ""))
    if e.tsunami is not None and e.hazard.value == "earthquake":
        parts.append("tsunami potential" if e.tsunami else "no tsunami")
    if e.stage:
        parts.append(
            e.stage + (f" {e.level.upper()}" if e.level else "") + (f" {len(e.zones)} zones" if e.zones else "")
        )
    if e.observations:
        top = max((o.height_m or 0.0) for o in e.observations)
        parts.append(f"observed at {len(e.observations)} gauges, max {top:.2f} m")
    if e.value is not None:
        parts.append(f"{e.value:g} {e.unit or ''}".strip() + (f" {e.level}" if e.level else ""))
    elif e.level and not e.stage:
        parts.append(e.level)
    if e.severity:
        parts.append(e.severity)
    if e.msg_type.value != "alert":
        parts.append(e.msg_type.value.upper())
    if e.ended:
        parts.append("ENDED")
    if e.flags:
        parts.append("[" + ",".join(e.flags) + "]")
    where = e.place or e.headline or e.event_name or ""
    felt = "; ".join(f"{f.mmi} {f.place}" for f in e.felt)
    return " ".join(parts) + (f" | {where}" if where else "") + (f" | {felt}" if felt else "")


def _n(v: float | None, width: int, decimals: int) -> str:
    return f"{v:>{width}.{decimals}f}" if v is not None else f"{'-':>{width}}"


if __name__ == "__main__":
    sys.exit(main())
