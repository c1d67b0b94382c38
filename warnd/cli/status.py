"""`warnd status`: from the running daemon, or from the state it left when it does not answer."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warnd.cli.exits import EXIT_CONFIG, EXIT_FAILURE, EXIT_NOT_RUNNING, EXIT_OK
from warnd.cli.state import raw_state_dir
from warnd.errors import ConfigError

if TYPE_CHECKING:
    from warnd.config.schema import StoreSettings


def show(args: argparse.Namespace) -> int:
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
        raw_dir = raw_state_dir(args.config)
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
        snap = from_database(state_dir, feed_ids, args.clock.now(), store) | {"source": "state database", "note": note}
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
        _print_problems(
            f"CONFIG ON DISK REFUSED at {refused['at']}: running the last good set {last['digest']}"
            f" (saved {last['taken_at']}); fix these, then `warnd reload`:",
            refused["problems"],
        )
    reload = snap.get("last_reload")
    if reload:
        verdict = "applied" if reload["ok"] else "REJECTED, the previous set runs"
        _print_problems(f"last reload {reload['at']}: {verdict}", reload["problems"])
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
    _print_hosts(snap.get("hosts") or [])
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


def _print_hosts(hosts: list[dict[str, Any]]) -> None:
    if hosts:
        print("hosts (requests in the last minute / budget):")
    for h in hosts:
        budget = h["budget_per_minute"] or "no limit"
        line = (
            f"  {h['host']:<45} {h['requests_last_minute']:>4} / {budget:<8} most {h['most_in_a_minute']:<4}"
            f" deferred {h['deferred']} ({h['deferred_s']:g} s)  waiting {h['waiting']}"
        )
        if "conditional" in h:
            line += f"  conditional GET: {h['conditional']}, cache in front: {h['cache']}"
        print(line)
        if h.get("note"):
            print(f"    {h['note']}")


def _print_problems(heading: str, problems: list[str]) -> None:
    print(heading)
    for p in problems:
        print(f"  {p}")


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
