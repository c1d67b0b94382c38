"""Commands that change what a running daemon does: `warnd outbox` (retry, drop), `warnd silence`,
`warnd reload`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from warnd.cli.exits import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from warnd.cli.state import OperatorState, operator_state, state_dirs
from warnd.errors import OperatorError
from warnd.model import Delivery, iso_utc
from warnd.runtime.statedir import daemon_pid


def outbox(args: argparse.Namespace) -> int:
    from warnd.store.outbox import Outbox
    from warnd.store.targets import Targets

    with operator_state(args.config, args.clock) as st:
        if st is None:
            return EXIT_CONFIG
        cfg, conn, now = st.cfg, st.conn, st.now
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
            from warnd.runtime.operations import retry_many, retry_target

            ids = list(args.ids)
            if args.dead:
                ids += box.ids(["dead"])
            n = 0
            if args.target:
                done = retry_target(conn, args.target, now)
                n += done.queued
                if done.lifted:
                    print(f"{args.target}: hold or disable lifted")
            n += retry_many(conn, ids, now)
            print(f"{n} deliveries queued to go now")
            wake_daemon(cfg.state_dir)
            return EXIT_OK
        if args.action == "move":
            return _move(args, st)
        from warnd.runtime.operations import drop_delivery

        # One rule with the console's: a life-safety warning's delivery is dropped only once
        # dead; while it may still go out, a cancel or a correction is what takes it back.
        n = 0
        for delivery_id in args.ids:
            try:
                drop_delivery(conn, delivery_id, args.reason, now)
            except OperatorError as e:
                print(e.message, file=sys.stderr)
                continue
            n += 1
        print(f"{n} deliveries dropped")
        return EXIT_OK if n == len(args.ids) else EXIT_FAILURE


def _move(args: argparse.Namespace, st: OperatorState) -> int:
    """`warnd outbox move FROM TO`: after an account went from `channel:` to `channels:`, its
    old target's deliveries (waiting, and sent ones a correction answers) go to the channel
    they were for. Both must be targets of one account, FROM no longer configured, TO configured."""
    from warnd.config.schema import outlets
    from warnd.model import Target, TargetKind
    from warnd.store.outbox import Outbox
    from warnd.store.targets import Targets

    source, to = Target(args.source), Target(args.to)
    configured = {
        str(Target.account(name, channel))
        for name, declared in st.cfg.file.accounts.items()
        for channel, _ in outlets(name, declared)
    }
    problem = None
    if source.kind is not TargetKind.ACCOUNT or to.kind is not TargetKind.ACCOUNT or source.owner != to.owner:
        problem = f"{source} and {to} must be targets of one account (account:<name>, account:<name>/<channel>)"
    elif source in configured:
        problem = f"{source} is still in the configuration: its deliveries have a sender"
    elif to not in configured:
        known = ", ".join(sorted(t for t in configured if Target(t).owner == to.owner)) or "none"
        problem = f"{to} is not in the configuration (the account's targets: {known})"
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_FAILURE
    with st.conn.transaction():
        moved, left = Outbox(st.conn).move(source, to)
        if not left:
            Targets(st.conn).forget(source)
    print(
        f"{moved} deliveries moved from {source} to {to}"
        + (f"; {left} left (in flight, or {to} has them)" if left else "")
    )
    wake_daemon(st.cfg.state_dir)
    return EXIT_OK


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


def wake_daemon(state_dir: Path) -> None:
    """SIGUSR1: the running daemon looks at the outbox now rather than at its next round."""
    import signal

    pid = daemon_pid(state_dir)
    if pid is not None:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGUSR1)


def silence(args: argparse.Namespace) -> int:
    from warnd.errors import OperatorError
    from warnd.runtime.operations import add_silence, expire_silence
    from warnd.store.silences import Silences

    with operator_state(args.config, args.clock) as st:
        if st is None:
            return EXIT_CONFIG
        cfg, now = st.cfg, st.now
        store = Silences(st.conn)
        if args.action == "add":
            if not (args.rule or args.account or args.region):
                print("name at least one of --rule, --account, --region", file=sys.stderr)
                return EXIT_CONFIG
            until = args.until or now + args.duration
            try:
                sid = add_silence(
                    cfg,
                    st.conn,
                    rule=args.rule,
                    account=args.account,
                    region=args.region,
                    until=until,
                    reason=args.reason,
                    now=now,
                )
            except OperatorError as e:
                print(e.message, file=sys.stderr)
                return EXIT_CONFIG
            print(f"silence {sid} until {iso_utc(until)} (life-safety posts are never muted)")
        elif args.action == "list":
            for s in store.active(now):
                print(s.describe())
        else:
            try:
                expire_silence(st.conn, args.id, now)
            except OperatorError:
                print(f"no active silence {args.id}", file=sys.stderr)
                return EXIT_FAILURE
            print(f"silence {args.id} expired")
    return EXIT_OK


def reload(args: argparse.Namespace) -> int:
    """Signal the daemon and wait for its verdict: the daemon judges the files (and records a
    refusal where an operator looks), this only reports it, so `systemctl reload` fails too."""
    import signal
    import time

    from warnd.runtime.reload import RELOAD_VERDICT

    dirs = state_dirs(args.config)
    pid = args.pid
    state_dir = dirs[0] if dirs else None
    if pid is None:
        for d in dirs:
            pid = daemon_pid(d)
            if pid is not None:
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
