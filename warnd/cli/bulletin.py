"""`warnd bulletin`: an operator's bulletin from the command line, through the same desk the
console uses (runtime.bulletins.BulletinDesk): write, approve, reject, correct, cancel, list,
show. An approval wakes the running daemon, as `warnd outbox retry` does, so its posts go now."""

from __future__ import annotations

import argparse
import functools
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from warnd.cli.exits import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from warnd.cli.operate import wake_daemon
from warnd.cli.state import operator_state, print_problems
from warnd.errors import ConfigError, OperatorError


def add_parser(sub: Any, config_arg: Any) -> None:
    """`warnd bulletin ...` in the command's parser."""
    bulletin = sub.add_parser(
        "bulletin", help="an operator's bulletin: write it, have another operator approve it, correct or cancel it"
    )
    bsub = bulletin.add_subparsers(dest="action", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        config_arg(sp)
        sp.add_argument("--by", default=None, metavar="NAME", help="the operator acting (default: the login name)")
        sp.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the acting operator's password from the first line of standard input (else the terminal)",
        )
        sp.add_argument("--format", choices=["table", "json"], default="table")

    def texts(sp: argparse.ArgumentParser) -> None:
        tid = sp.add_mutually_exclusive_group(required=True)
        tid.add_argument("--text-id", help="the Indonesian text")
        tid.add_argument("--text-id-file", type=Path, metavar="FILE", help="the Indonesian text, from a file")
        ten = sp.add_mutually_exclusive_group()
        ten.add_argument("--text-en", help="the English text (English accounts get the Indonesian without it)")
        ten.add_argument("--text-en-file", type=Path, metavar="FILE", help="the English text, from a file")

    write = bsub.add_parser("write", help="write a bulletin (it waits for approval)")
    common(write)
    write.add_argument("--account", action="append", default=[], help="an account it is for (repeat for more)")
    write.add_argument(
        "--region", action="append", default=[], help="a region code it is for: the accounts covering it post it"
    )
    write.add_argument("--hazard", required=True, help="earthquake, tsunami, flood, weather or other")
    write.add_argument("--level", help='a level of the hazard\'s scale: "awas", "siaga", "waspada", "siaga1" ...')
    write.add_argument("--status", required=True, choices=["actual", "exercise"])
    write.add_argument("--headline", required=True)
    texts(write)

    approve = bsub.add_parser("approve", help="approve a bulletin: its posts are queued at once")
    common(approve)
    approve.add_argument("id")

    reject = bsub.add_parser("reject", help="reject a bulletin (nothing is sent)")
    common(reject)
    reject.add_argument("id")
    reject.add_argument("--why", required=True)

    correct = bsub.add_parser("correct", help="write a correction of a sent bulletin (it too waits for approval)")
    common(correct)
    correct.add_argument("id", help="any bulletin of the series")
    correct.add_argument("--headline")
    correct.add_argument("--level", help='the level now ("" for none); default: unchanged')
    texts(correct)

    cancel = bsub.add_parser("cancel", help="write a cancel of a sent bulletin (it too waits for approval)")
    common(cancel)
    cancel.add_argument("id", help="any bulletin of the series")
    cancel.add_argument("--why", required=True, help="what the cancel posts say")

    lst = bsub.add_parser("list", help="bulletins, newest first")
    common(lst)
    lst.add_argument("--limit", type=int, default=20)

    show = bsub.add_parser("show", help="one bulletin, with the warnings it issued")
    common(show)
    show.add_argument("id")
    bulletin.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from warnd.obs import setup_logging
    from warnd.runtime.build import build
    from warnd.runtime.bulletins import BulletinDesk

    # Who wrote, approved or was refused what is logged, on standard error, as the daemon logs.
    setup_logging(os.environ.get("WARND_LOG_LEVEL", "info"), json=None)

    with operator_state(args.config, args.clock) as st:
        if st is None:
            return EXIT_CONFIG

        @functools.cache
        def bundle() -> Any:
            return build(args.config, with_senders=False, clock=args.clock)

        desk = BulletinDesk(st.conn, bundle, args.clock)
        try:
            if args.action == "list":
                _listing(desk.listing(args.limit), args.format)
                return EXIT_OK
            if args.action == "show":
                _show(desk.show(args.id), args.format)
                return EXIT_OK
            shared = _text_on_stdin(args) if args.password_stdin else None
            if shared is not None:
                print(
                    f"{shared}: is standard input, which --password-stdin reads the password from:"
                    " give the text in a file of its own (nothing was done)",
                    file=sys.stderr,
                )
                return EXIT_CONFIG
            body = _body(args)
            who = args.by or getpass.getuser()
            if desk.two_person() and not _proven(st.conn, who, args.password_stdin):
                return EXIT_FAILURE
            answer = desk.actions()[f"bulletin/{args.action}"](who, body)
        except ConfigError as e:
            print_problems(e, "nothing was done")
            return EXIT_CONFIG
        except OperatorError as e:
            print(e.message, file=sys.stderr)
            return EXIT_CONFIG if e.status == 400 else EXIT_FAILURE
        except OSError as e:
            print(f"{e.filename}: {e.strerror}", file=sys.stderr)
            return EXIT_CONFIG
        if args.format == "json":
            print(json.dumps(answer, ensure_ascii=False))
        else:
            print(answer["message"])
        if args.action == "approve":
            wake_daemon(st.cfg.state_dir)
    return EXIT_OK


def _proven(conn: Any, name: str, from_stdin: bool) -> bool:
    """Under the two-person rule a name is worth only what proves it: the acting operator must
    be one registered with `warnd operator add` and give their password, as at the console's
    login, or anyone at the shell could write as one operator and approve as another."""
    from warnd.obs import get_logger
    from warnd.runtime.console_auth import verify
    from warnd.store.operators import Operators

    log = get_logger("warnd.cli.bulletin")
    op = Operators(conn).get(name)
    # A disabled operator is told apart from an unknown one no more than at the console's login.
    if op is not None and op.disabled:
        op = None
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        try:
            password = getpass.getpass(f"password of operator {name}: ")
        except (EOFError, KeyboardInterrupt):
            print("\nno password given; nothing done", file=sys.stderr)
            return False
    else:
        print(
            "the two-person rule needs the acting operator's password: no terminal, use --password-stdin",
            file=sys.stderr,
        )
        return False
    # An unknown name costs the same as a wrong password (verify), and is told apart only here.
    if not verify(op.hash if op is not None else None, password) or op is None:
        print(
            f"operator {name!r}: no such operator with that password (operators are added with"
            " `warnd operator add`; --by names the one acting)",
            file=sys.stderr,
        )
        log.warning("bulletin.refused", by=name, why="operator not proven")
        return False
    return True


def _body(args: argparse.Namespace) -> dict[str, Any]:
    """The action's body, as the console would send it."""
    if args.action == "write":
        return {
            "accounts": args.account,
            "regions": args.region,
            "hazard": args.hazard,
            "level": args.level,
            "status": args.status,
            "headline": args.headline,
            "text_id": _read(args.text_id, args.text_id_file),
            "text_en": _read(args.text_en, args.text_en_file),
        }
    if args.action == "correct":
        body: dict[str, Any] = {
            "id": args.id,
            "text_id": _read(args.text_id, args.text_id_file),
            "text_en": _read(args.text_en, args.text_en_file),
            "headline": args.headline,
        }
        if args.level is not None:
            body["level"] = args.level
        return body
    if args.action in ("reject", "cancel"):
        return {"id": args.id, "why": args.why}
    return {"id": args.id}


def _text_on_stdin(args: argparse.Namespace) -> Path | None:
    """A text file given that is standard input (`/dev/stdin`, `/dev/fd/0`): read whole as the
    text, it would take the password's line too."""
    if sys.stdin is None:  # descriptor 0 closed: no standard input to share
        return None
    try:
        stdin = os.fstat(sys.stdin.fileno())
    except (OSError, ValueError):
        return None
    for path in (getattr(args, "text_id_file", None), getattr(args, "text_en_file", None)):
        try:
            if path is not None and os.path.samestat(path.stat(), stdin):
                return Path(path)
        except OSError:
            continue
    return None


def _read(text: str | None, path: Path | None) -> str | None:
    return path.read_text(encoding="utf-8") if path is not None else text


def _listing(rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return
    for r in rows:
        print(_line(r))
    if not rows:
        print("no bulletins yet")


def _line(r: dict[str, Any]) -> str:
    who = f"by {r['author']}"
    if r["approver"]:
        who += f", approved by {r['approver']}"
    if r["rejected_by"]:
        who += f", rejected by {r['rejected_by']}: {r['rejected_why']}"
    series = "" if r["series"] == r["id"] else f" of {r['series']}"
    what = f"{r['hazard']}{' ' + r['level'] if r['level'] else ''} {r['status']}"
    return f"{r['created_at']}  {r['id']}  {r['state']:<9} {r['kind']}{series}  {what}  {who}  {r['headline']}"


def _show(r: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(r, ensure_ascii=False))
        return
    print(_line(r))
    where = ", ".join([*r["accounts"], *r["regions"]])
    print(f"  for: {where}")
    print("  id: " + r["text_id"].replace("\n", "\n      "))
    if r["text_en"]:
        print("  en: " + r["text_en"].replace("\n", "\n      "))
    for account, wid in r["warnings"].items():
        print(f"  warning {wid} to {account} (`warnd history --event {r['series']}`)")
