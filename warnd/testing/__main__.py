"""Drills without X or a partner: `python -m warnd.testing x --port 8791`,
`python -m warnd.testing sink --port 8792 --partner contoh-radio=SECRET`,
`python -m warnd.testing mastodon --port 8793`,
`python -m warnd.testing telegram --port 8794 --bot TOKEN=warnd_bot --chat @gempa_ntt` and
`python -m warnd.testing bluesky --port 8795 --account bmkg-ntb.bsky.social=APP-PASSWORD` and
`python -m warnd.testing websub --port 8796 --callback radio=SECRET [--hub URL --topic URL]`."""

from __future__ import annotations

import argparse
import signal
import threading

from warnd.testing.fake_bluesky import FakeBluesky
from warnd.testing.fake_mastodon import FakeMastodon
from warnd.testing.fake_telegram import FakeTelegram
from warnd.testing.fake_x import FakeX
from warnd.testing.webhook_sink import WebhookSink
from warnd.testing.websub_subscriber import WebSubSubscriber, subscribe


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
    masto = sub.add_parser("mastodon", help="a fake Mastodon instance (any bearer token names its account)")
    masto.add_argument("--port", type=int, default=8793)
    masto.add_argument("--max-characters", type=int, default=500)
    tg = sub.add_parser("telegram", help="a fake Telegram Bot API (sendMessage, sendPhoto, getMe)")
    tg.add_argument("--port", type=int, default=8794)
    tg.add_argument("--bot", default="drill-token=warnd_drill_bot", metavar="TOKEN=USERNAME")
    tg.add_argument("--chat", action="append", default=[], metavar="CHAT", help="a chat the bot posts in (@name or id)")
    bsky = sub.add_parser("bluesky", help="a fake Bluesky PDS (XRPC) taking the given handles' app passwords")
    bsky.add_argument("--port", type=int, default=8795)
    bsky.add_argument("--account", action="append", default=[], metavar="HANDLE=APP-PASSWORD")
    ws = sub.add_parser(
        "websub", help="a WebSub subscriber: answers the hub's challenges, checks each push's signature"
    )
    ws.add_argument("--port", type=int, default=8796)
    ws.add_argument("--callback", action="append", default=[], metavar="NAME[=SECRET]")
    ws.add_argument("--hub", help="subscribe each callback at this hub (its /websub URL)")
    ws.add_argument("--topic", help="the feed to subscribe to (<public_url>/cap/<account>/index.atom)")
    for cmd in (x, sink, masto, tg, bsky, ws):
        cmd.add_argument("--quiet", action="store_true", help="print nothing after the address")
    args = p.parse_args()
    if args.what == "mastodon":
        return _mastodon(args.port, args.max_characters, args.quiet)
    if args.what == "websub":
        return _websub(args)
    server: FakeX | WebhookSink | FakeTelegram | FakeBluesky
    if args.what == "telegram":
        token, bot = args.bot.split("=", 1)
        server = FakeTelegram({token: bot}, {bot: args.chat or ["@warnd_drill"]}, port=args.port)
        print(f"fake Telegram Bot API on {server.base}: set the account's api_base to it", flush=True)
    elif args.what == "bluesky":
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
        if isinstance(server, FakeTelegram):
            messages = server.state.messages
            for m in messages[seen:]:
                reply = f" reply to {m.reply_to}" if m.reply_to else ""
                print(f"[{m.chat}] {m.message_id}{reply}{' (photo)' if m.photo else ''}\n{m.text}\n")
            seen = len(messages)
        elif isinstance(server, FakeBluesky):
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


def _mastodon(port: int, max_characters: int, quiet: bool) -> int:
    server = FakeMastodon(port=port, max_characters=max_characters)
    print(f"fake Mastodon on {server.base}: set the account's instance to it; statuses are printed here", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    seen = 0
    while not stop.wait(0.5):
        statuses = server.state.statuses
        for s in statuses[seen:] if not quiet else ():
            print(f"[{s.account}] {s.id}{' reply to ' + s.reply_to if s.reply_to else ''}\n{s.text}\n", flush=True)
        seen = len(statuses)
    server.stop()
    return 0


def _websub(args: argparse.Namespace) -> int:
    callbacks = {name: secret for name, _, secret in (item.partition("=") for item in args.callback or ["drill"])}
    server = WebSubSubscriber({k: v for k, v in callbacks.items() if v}, port=args.port)
    server.start()
    print(
        f"WebSub subscriber on {server.base}: callbacks {', '.join(server.callback(n) for n in callbacks)}", flush=True
    )
    if args.hub and args.topic:
        for name, secret in callbacks.items():
            status, answer = subscribe(args.hub, args.topic, server.callback(name), secret=secret or None)
            print(f"[{name}] subscribe: HTTP {status} {answer.strip()}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    seen = verified = 0
    while not stop.wait(0.5):
        if args.quiet:
            continue
        for v in server.state.verifications[verified:]:
            print(f"[{v['name']}] verified {v.get('hub.mode')} lease {v.get('hub.lease_seconds', '-')}", flush=True)
        verified = len(server.state.verifications)
        for p in server.state.pushes[seen:]:
            print(f"[{p.name}] push {p.key} signature {p.signature} {len(p.body)} bytes", flush=True)
        seen = len(server.state.pushes)
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
