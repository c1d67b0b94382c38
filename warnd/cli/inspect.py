"""Commands that read without changing anything: `warnd history` (warnings issued and where each
went), `warnd events` (feed documents as normalized events), `warnd simulate` (documents through
rules and render, nothing posted)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from warnd import __version__
from warnd.cli.exits import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from warnd.cli.state import load_config, print_problems, state_db
from warnd.errors import ConfigError, FeedError
from warnd.model import HazardEvent, Source, Warning, iso_utc

if TYPE_CHECKING:
    from warnd.runtime.simulate import Run


def history(args: argparse.Namespace) -> int:
    from warnd.store.bulletins import RULE, Bulletins
    from warnd.store.issued import IssuedWarnings

    cfg = load_config(args.config)
    if cfg is None:
        return EXIT_CONFIG
    with state_db(cfg) as conn:
        rows = IssuedWarnings(conn).history(args.event, args.account, args.limit)
        # A bulletin's warning is of the revision its bulletin's id names: who wrote it and who
        # approved it go with it.
        bulletins = Bulletins(conn).by_ids(sorted({r["revision"] for r in rows if r["rule"] == RULE}))
    for r in rows:
        b = bulletins.get(r["revision"]) if r["rule"] == RULE else None
        r["bulletin"] = {"id": b.id, "author": b.author, "approver": b.approver} if b is not None else None
    if args.format == "json":
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return EXIT_OK
    for r in rows:
        print(f"{r['created_at']}  {r['id']}  {r['kind']:<9} {r['account']}  event {r['event_id']}  rule {r['rule']}")
        if r["bulletin"] is not None:
            b = r["bulletin"]
            print(f"    operator bulletin {b['id']}: written by {b['author']}, approved by {b['approver']}")
        for d in r["deliveries"]:
            tail = d["remote_id"] or ""
            if d["state"] != "sent" and d["last_error"]:
                tail = f"{d['reason']}: {d['last_error']}"
            print(f"    #{d['id']:<6} {d['target']:<32} {d['state']:<9} attempts {d['attempts']}  {tail}")
        print("    " + r["text"].replace("\n", "\n    "))
    if not rows:
        print("no warnings issued yet")
    return EXIT_OK


def events(args: argparse.Namespace) -> int:
    from warnd.pollers.registry import FORMATS, detect

    now = args.at or args.clock.now()
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


def simulate(args: argparse.Namespace) -> int:
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
    times = ticks(args.at or args.clock.now(), args.every, args.until)
    try:
        follow = args.at is None
        run = simulate(args.config, docs, times, follow=follow)
        other = simulate(args.against, docs, times, follow=follow) if args.against else None
    except ConfigError as e:
        print_problems(e)
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
            row = w.to_json()
            if args.parts:
                row["parts"] = {t: _channel_parts(w, run.channels[t]) for t in _accounts_of(w, run)}
            print(json.dumps(row, ensure_ascii=False))
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
        if args.parts:
            _print_parts(w, run.targets.get(w.id, []), run.channels)
    print(f"# {len(run.warnings)} warning(s)")
    return EXIT_OK


def _accounts_of(w: Warning, run: Run) -> list[str]:
    return [t for t in run.targets.get(w.id, []) if t in run.channels]


def _channel_parts(w: Warning, channel: str) -> list[str]:
    from warnd.channels.fitting import parts

    return parts(channel, w)


def _print_parts(w: Warning, targets: list[str], channels: dict[str, str]) -> None:
    """Each of the account's channels, and the parts it would post: a thread cut where the
    channel's limit cuts it, or one message."""
    for t in targets:
        channel = channels.get(t)
        if channel is None:
            continue
        cut = _channel_parts(w, channel)
        print(f"  [{t} ({channel}): {len(cut)} part{'s' if len(cut) != 1 else ''}]")
        for i, part in enumerate(cut, 1):
            print(f"  {i}| " + part.replace("\n", f"\n  {i}| "))
