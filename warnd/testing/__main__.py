"""Drills without X or a partner: `python -m warnd.testing x --port 8791`,
`python -m warnd.testing sink --port 8792 --partner contoh-radio=SECRET` and
`python -m warnd.testing bluesky --port 8793 --account bmkg-ntb.bsky.social=APP-PASSWORD`."""

from __future__ import annotations

import argparse
import signal
import threading

from warnd.testing.fake_bluesky import FakeBluesky
from warnd.testing.fake_x import FakeX
from warnd.testing.webhook_sink import WebhookSink


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m warnd.testing")
    sub = p.add_subparsers(dest="what", required=True)
    x = sub.add_parser("x", help="a fake X API (any access token; consumer key 'drill')")
    x.add_argument("--port", type=int, default=8791)
    x.add_argument("--consumer-key", default="drill")
    sink = sub.add_parser("sink", help="a partner webhook endpoint that checks signatures")
    sink.add_argument("--port", type=int, default=8792)
    sink.add_argument("--partner", action="append", default=[], metavar="NAME=SECRET")
    sink.add_argument("--open", action="append", default=[], metavar="NAME", help="a receiver taking unsigned POSTs")
    bsky = sub.add_parser("bluesky", help="a fake Bluesky PDS (XRPC) taking the given handles' app passwords")
    bsky.add_argument("--port", type=int, default=8793)
    bsky.add_argument("--account", action="append", default=[], metavar="HANDLE=APP-PASSWORD")
    for cmd in (x, sink, bsky):
        cmd.add_argument("--quiet", action="store_true", help="print nothing after the address")
    args = p.parse_args()
    server: FakeX | WebhookSink | FakeBluesky
    if args.what == "bluesky":
        server = FakeBluesky(dict(item.split("=", 1) for item in args.account), port=args.port)
        print(f"fake Bluesky PDS on {server.base}: set the account's pds to it; posts are printed here", flush=True)
    elif args.what == "x":
        server = FakeX(consumer_key=args.consumer_key, consumer_secret="", users=None, port=args.port)
        print(f"fake X API on {server.base}: set x.api_base to it; posts are printed here", flush=True)
    else:
        secrets = dict(item.split("=", 1) for item in args.partner)
        server = WebhookSink(secrets, port=args.port, open=args.open)
        names = [*secrets, *args.open]
        print(f"webhook sink on {server.base}: partner URLs {', '.join(server.url(n) for n in names)}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    seen = 0
    while not stop.wait(0.5):
        if args.quiet:
            continue
        if isinstance(server, FakeBluesky):
            records = server.state.posts
            for record in records[seen:]:
                answers = f" reply to {record.reply_parent}" if record.reply_parent else ""
                print(f"[{record.did}] {record.uri}{answers}")
                print(f"{record.text}\n", flush=True)
            seen = len(records)
        elif isinstance(server, FakeX):
            posts = server.state.posts
            for post in posts[seen:]:
                print(f"[{post.user}] {post.id}{' reply to ' + post.reply_to if post.reply_to else ''}\n{post.text}\n")
            seen = len(posts)
        else:
            got = server.state.processed
            for r in got[seen:]:
                print(f"[{r.partner}] {r.key} {r.content_type} {len(r.body)} bytes")
            seen = len(got)
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
