"""`warnd subscription list|approve|resume|revoke`: the partners who subscribed themselves over
HTTP (docs/partners.md). Each command acts on the store, as every node of a cluster reads it: a
running daemon (every node) picks the change up within seconds. The signing secret is never
shown here: the partner was given it once, when it subscribed."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import unicodedata

from warnd.cli.exits import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from warnd.cli.state import operator_state


def shown(text: str) -> str:
    """Control and format characters (Unicode Cc, Cf) written as escapes: what a stranger typed
    into a subscription request must not move the cursor or recolour an operator's terminal.
    Requests carrying them are refused; this covers rows stored before that."""
    return "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in text)


def subscription(args: argparse.Namespace) -> int:
    from warnd.errors import OperatorError
    from warnd.runtime.operations import approve_subscription, revoke_subscription
    from warnd.store.subscriptions import STATES, Subscriptions

    with operator_state(args.config, args.clock) as st:
        if st is None:
            return EXIT_CONFIG
        if args.action == "list":
            states = tuple(args.state or [s for s in STATES if s != "revoked"])
            subs = Subscriptions(st.conn).listing(states)
            for s in subs:
                if args.format == "json":
                    # Still JSON: inside its strings an escape reads as the character.
                    print(shown(json.dumps(s.to_json(), ensure_ascii=False)))
                    continue
                filters = f"hazards {','.join(s.hazards) if s.hazards else 'all'}, min level {s.min_level or 'any'}"
                print(
                    f"{s.id}  {s.state:<8} {shown(s.partner):<28} accounts {','.join(s.accounts)}; {filters};"
                    f" {s.format}; {shown(s.url)}; contact {shown(s.contact)};"
                    f" asked {s.requested_at} from {shown(s.requested_from)}"
                )
                if s.state == "paused":
                    print(f"    paused {s.paused_at}: {shown(s.paused_reason or '')}")
            if not subs and args.format == "table":
                print("no subscriptions")
            return EXIT_OK
        who = f"cli:{getpass.getuser()}"
        try:
            if args.action in ("approve", "resume"):
                s = approve_subscription(st.conn, args.id, who, st.now)
                print(f"subscription {s.id} ({s.partner}) is active: warnings of {', '.join(s.accounts)} go to it")
            else:
                dropped = revoke_subscription(st.conn, args.id, who, st.now)
                print(f"subscription {args.id} revoked; {dropped} waiting delivery(ies) dropped")
        except OperatorError as e:
            print(str(e), file=sys.stderr)
            return EXIT_FAILURE
        return EXIT_OK
