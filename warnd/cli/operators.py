"""`warnd operator add|passwd|remove|list`: the named operators who log in to the console.

A password is read from the terminal (twice, unechoed) or, with --password-stdin, from the
first line of standard input (scripts, provisioning); it is never an argument (which `ps` and
shell histories show), never printed and never logged. Only its argon2id hash is stored.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from warnd.cli.exits import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from warnd.cli.state import operator_state

MIN_PASSWORD = 10


def operator(args: argparse.Namespace) -> int:
    from warnd.runtime.console_auth import MAX_PASSWORD, hash_password, valid_name
    from warnd.store.operators import Operators

    name: str | None = getattr(args, "name", None)
    if name is not None and (problem := valid_name(name)) is not None:
        print(f"NAME: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    password_hash = None
    if args.action in ("add", "passwd"):
        password = _password(args.password_stdin)
        if password is None:
            return EXIT_CONFIG
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            print(f"the password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters", file=sys.stderr)
            return EXIT_CONFIG
        password_hash = hash_password(password)
    with operator_state(args.config, args.clock) as st:
        if st is None:
            return EXIT_CONFIG
        ops = Operators(st.conn)
        if args.action == "list":
            for o in ops.all():
                print(f"{o.name:<24} since {o.created_at}" + ("  DISABLED" if o.disabled else ""))
            return EXIT_OK
        assert name is not None
        if args.action == "add":
            assert password_hash is not None
            if not ops.add(name, password_hash, st.now):
                print(f"operator {name!r} exists already (warnd operator passwd {name})", file=sys.stderr)
                return EXIT_FAILURE
            print(f"operator {name} added")
        elif args.action == "passwd":
            assert password_hash is not None
            if not ops.set_hash(name, password_hash):
                print(f"no operator {name!r}", file=sys.stderr)
                return EXIT_FAILURE
            print(f"password of {name} changed; their sessions ended")
        else:
            if not ops.remove(name):
                print(f"no operator {name!r}", file=sys.stderr)
                return EXIT_FAILURE
            print(f"operator {name} removed; their sessions ended")
    return EXIT_OK


def _password(from_stdin: bool) -> str | None:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            print("no password on standard input", file=sys.stderr)
            return None
        return password
    if not sys.stdin.isatty():
        print("no terminal to read the password from: use --password-stdin", file=sys.stderr)
        return None
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        print("the two passwords differ; nothing changed", file=sys.stderr)
        return None
    return first
