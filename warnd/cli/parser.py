"""The command line: every command, its arguments and the function that runs it."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from warnd import __version__
from warnd.cli import bulletin, configure, inspect, operate, operators, serve, status, subscription, websub
from warnd.model import DeliveryState

DEFAULT_CONFIG = "config/demo.yaml"


def build() -> argparse.ArgumentParser:
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
    run.set_defaults(func=serve.run)

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
    check.set_defaults(func=configure.check)

    history = sub.add_parser("history", help="warnings issued and where each one went")
    config_arg(history)
    history.add_argument("--event", help="only this event id")
    history.add_argument("--account", help="only this account")
    history.add_argument("--limit", type=int, default=20)
    history.add_argument("--format", choices=["table", "json"], default="table")
    history.set_defaults(func=inspect.history)

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
    omove = osub.add_parser(
        "move", help="after an account went from channel: to channels:, give its old target's deliveries to a channel"
    )
    config_arg(omove)
    omove.add_argument("source", metavar="FROM", help="the old target, e.g. account:gempa-ntt")
    omove.add_argument("to", metavar="TO", help="the channel's target, e.g. account:gempa-ntt/x")
    outbox.set_defaults(func=operate.outbox)

    stat = sub.add_parser(
        "status", help="health, feeds, queues, notices and recent warnings: from the daemon, or the state it left"
    )
    config_arg(stat)
    stat.add_argument("--format", choices=["table", "json"], default="table")
    stat.set_defaults(func=status.show)

    sim = sub.add_parser("simulate", help="run recorded documents through rules and render; post nothing")
    config_arg(sim)
    sim.add_argument("sources", nargs="+", metavar="FILE", help="feed documents, taken in this order")
    sim.add_argument("--format", choices=["table", "json"], default="table")
    sim.add_argument("--explain", action="store_true", help="say why each rule fired or did not")
    sim.add_argument(
        "--parts", action="store_true", help="each channel's parts of every warning: its thread, or its one message"
    )
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
    sim.set_defaults(func=inspect.simulate)

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
    silence.set_defaults(func=operate.silence)

    bulletin.add_parser(sub, config_arg)
    websub.add_parser(sub, config_arg)

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
    reload.set_defaults(func=operate.reload)

    op = sub.add_parser("operator", help="the named operators who log in to the console (users mode)")
    opsub = op.add_subparsers(dest="action", required=True)
    for action, text in (
        ("add", "add an operator (the password is asked twice, never echoed)"),
        ("passwd", "set an operator's password (their sessions end)"),
        ("remove", "remove an operator (their sessions end)"),
        ("list", "the operators"),
    ):
        one = opsub.add_parser(action, help=text)
        config_arg(one)
        if action != "list":
            one.add_argument("name", metavar="NAME")
        if action in ("add", "passwd"):
            one.add_argument(
                "--password-stdin", action="store_true", help="read the password from the first line of stdin"
            )
    op.set_defaults(func=operators.operator)

    subs = sub.add_parser("subscription", help="partners who subscribed over HTTP: list, approve, resume, revoke")
    ssub = subs.add_subparsers(dest="action", required=True)
    slist = ssub.add_parser("list", help="subscriptions (default: pending, active and paused)")
    config_arg(slist)
    slist.add_argument("--state", action="append", choices=["pending", "active", "paused", "revoked"])
    slist.add_argument("--format", choices=["table", "json"], default="table")
    for action, text in (
        ("approve", "deliver to a pending subscription (or a paused one again)"),
        ("resume", "deliver to a paused subscription again"),
        ("revoke", "end a subscription: nothing more is sent, what waits for it is dropped"),
    ):
        one = ssub.add_parser(action, help=text)
        config_arg(one)
        one.add_argument("id", metavar="ID")
    subs.set_defaults(func=subscription.subscription)

    schema = sub.add_parser("schema", help="JSON Schema of the config and rule files, for editors")
    schema.add_argument("which", choices=["config", "rules"], nargs="?", default="rules")
    schema.set_defaults(func=configure.schema)

    points = sub.add_parser(
        "points", help="one representative point per region of a layer (code,name,lat,lon), for district_points"
    )
    points.add_argument("layer", type=Path, help="a region layer (GeoJSON), e.g. regions/districts.geojson")
    points.set_defaults(func=configure.points)

    events = sub.add_parser("events", help="parse feed documents and print normalized events")
    events.add_argument("sources", nargs="+", metavar="SOURCE", help="file path or http(s) URL")
    events.add_argument("--format", choices=["table", "json"], default="table")
    events.add_argument("--feed-format", help="skip detection and read as this format")
    events.add_argument(
        "--at",
        type=_when,
        help="read as if the clock showed this ISO time (expiry; replaying a gauge series); default now",
    )
    events.set_defaults(func=inspect.events)
    return p


def _when(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _duration(text: str) -> timedelta:
    from warnd.config.schema import parse_duration

    try:
        return timedelta(seconds=float(parse_duration(text)))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
