"""`warnd websub list|resume|remove`: the WebSub subscriptions to the accounts' CAP feeds.

A listing shows each subscription's id, feed, state, callback (its secret-looking parts masked)
and lease; whether pushes are signed, never the secret."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from warnd.cli.exits import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from warnd.cli.operate import wake_daemon
from warnd.cli.state import operator_state
from warnd.model import Subscription, iso_utc
from warnd.redact import redact_url


def websub(args: argparse.Namespace) -> int:
    from warnd.model import SubscriptionState
    from warnd.runtime.websub_pushes import remove, resume
    from warnd.store.websub import Subscriptions

    with operator_state(args.config, args.clock) as st:
        if st is None:
            return EXIT_CONFIG
        if args.action == "list":
            states = [SubscriptionState(s) for s in args.state or ("active", "paused")]
            subs = Subscriptions(st.conn).listing(states)
            for s in subs:
                if args.format == "json":
                    print(json.dumps(_json(s), ensure_ascii=False))
                else:
                    print(_line(s))
            if not subs and args.format == "table":
                print("no subscriptions")
            return EXIT_OK
        if args.action == "resume":
            if not resume(st.conn, args.id, st.now):
                print(f"no paused subscription {args.id!r} (warnd websub list)", file=sys.stderr)
                return EXIT_FAILURE
            print(f"subscription {args.id} resumed: its waiting pushes go now")
            wake_daemon(st.cfg.state_dir)
            return EXIT_OK
        dropped = remove(st.conn, args.id, st.now)
        if dropped is None:
            print(f"no subscription {args.id!r} (warnd websub list)", file=sys.stderr)
            return EXIT_FAILURE
        print(f"subscription {args.id} removed; {dropped} waiting push(es) dropped")
        return EXIT_OK


def _json(s: Subscription) -> dict[str, object]:
    return {
        "id": s.id,
        "account": s.account,
        "topic": s.topic,
        "callback": redact_url(s.callback),
        "state": s.state.value,
        "signed": s.secret is not None,
        "lease_seconds": s.lease_seconds,
        "created_at": iso_utc(s.created_at),
        "verified_at": iso_utc(s.verified_at),
        "expires_at": iso_utc(s.expires_at),
        "paused_at": iso_utc(s.paused_at) if s.paused_at else None,
        "paused_reason": s.paused_reason,
    }


def _line(s: Subscription) -> str:
    line = (
        f"{s.id}  {s.account:<20} {s.state.value:<8} until {iso_utc(s.expires_at)}"
        f"  {'signed' if s.secret else 'unsigned':<8} {redact_url(s.callback)}"
    )
    if s.paused_reason:
        line += f"\n    paused {iso_utc(s.paused_at) if s.paused_at else ''}: {s.paused_reason}"
    return line


def add_parser(sub: Any, config_arg: Any) -> None:
    """`warnd websub ...` in the command's parser."""
    ws = sub.add_parser("websub", help="the WebSub subscriptions to the CAP feeds: list, resume, remove")
    wsub = ws.add_subparsers(dest="action", required=True)
    wl = wsub.add_parser("list", help="subscriptions (default: active and paused)")
    config_arg(wl)
    wl.add_argument("--state", action="append", choices=["active", "paused", "expired", "removed"])
    wl.add_argument("--format", choices=["table", "json"], default="table")
    wr = wsub.add_parser("resume", help="push to a paused subscription again")
    config_arg(wr)
    wr.add_argument("id", metavar="ID")
    wd = wsub.add_parser("remove", help="end a subscription; its waiting pushes are dropped")
    config_arg(wd)
    wd.add_argument("id", metavar="ID")
    ws.set_defaults(func=websub)
