"""A WebSub subscriber of the running daemon: it subscribes over HTTP to the Jawa Barat feed (the
hub verifies its intent), the daemon is restarted, and a recorded quake the feed server then
brings is pushed to it once, signed with its secret; an NTB quake before it, in another
account's feed, is not."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.acceptance.test_daemon_end_to_end import DOMPU, SUMEDANG, fast_feed, posts
from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.testing.daemon import DaemonProcess, wait_for
from warnd.testing.websub_subscriber import WebSubSubscriber, subscribe

pytestmark = pytest.mark.acceptance

SECRET = "radio-websub-secret-5b1f0c"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _hub_config(tmp_path: Path, feed_server) -> tuple[Path, str]:
    """A daemon replaying the Dompu quake, its hub on a public listener at a known port (the
    topics name it), callbacks on loopback allowed as in a drill: the config and the hub's base."""
    url = feed_server.serve("/autogempa.json", DOMPU)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    extra = f"public_listen: 127.0.0.1:{port}\nwebsub:\n  public_url: {base}\n  allow_loopback: true\n"
    return write_config(tmp_path, feeds=fast_feed(url), rules=RULES_ANY_QUAKE, extra=extra, replay=True), base


def test_a_subscription_survives_a_restart_and_a_quake_is_pushed_once_signed(tmp_path: Path, feed_server):
    subscriber = WebSubSubscriber({"radio": SECRET})
    subscriber.start()
    cfg, base = _hub_config(tmp_path, feed_server)
    topic = f"{base}/cap/jabar/index.atom"
    d = DaemonProcess(cfg)
    try:
        d.ready()
        status, answer = subscribe(f"{base}/websub", topic, subscriber.callback("radio"), secret=SECRET, lease=3600)
        assert status == 202, answer
        (verified,) = wait_for(lambda: subscriber.verified("radio"), 30, "the hub's verification")
        assert verified["hub.topic"] == topic and verified["hub.lease_seconds"] == "3600"
        # The NTB quake went to NTB's account and feed; the subscriber to Jawa Barat's gets nothing.
        wait_for(lambda: [p for p in posts(tmp_path) if p["account"] == "ntb"], 60, "the NTB warning")
        with httpx.Client(trust_env=False, timeout=10) as client:
            atom = client.get(topic).text
        assert f'<link rel="hub" href="{base}/websub" />' in atom and f'<link rel="self" href="{topic}" />' in atom
        assert d.stop() == 0

        # Restarted: the subscription is in the store, and the next quake is pushed.
        d = DaemonProcess(cfg)
        d.ready()
        feed_server.serve("/autogempa.json", SUMEDANG)
        (push,) = wait_for(lambda: subscriber.pushes_to("radio"), 60, "the push of the Sumedang quake")
        assert push.signature == "ok"
        assert push.headers["Link"] == f'<{base}/websub>; rel="hub", <{topic}>; rel="self"'
        assert b"Sumedang" in push.body or b"SUMEDANG" in push.body.upper()
        (jabar,) = [p for p in posts(tmp_path) if p["account"] == "jabar"]
        assert jabar["event_id"].encode() in push.body or push.headers["X-Warnd-Event"] == jabar["event_id"]
        # Once: nothing more arrives while the feed keeps serving the same quake.
        time.sleep(2.0)
        assert len(subscriber.pushes_to("radio")) == 1 and len(subscriber.state.processed) == 1
        assert d.stop() == 0
    finally:
        d.stop()
        subscriber.stop()
    log = (tmp_path / "daemon.log").read_text()
    assert "websub.subscribed" in log and SECRET not in log


def test_a_push_cut_off_by_kill_9_is_sent_again_with_the_same_key_and_processed_once(tmp_path: Path, feed_server):
    subscriber = WebSubSubscriber({"radio": SECRET})
    subscriber.start()
    cfg, base = _hub_config(tmp_path, feed_server)
    d = DaemonProcess(cfg)
    try:
        d.ready()
        topic = f"{base}/cap/jabar/index.atom"
        assert subscribe(f"{base}/websub", topic, subscriber.callback("radio"), secret=SECRET)[0] == 202
        wait_for(lambda: subscriber.verified("radio"), 30, "the hub's verification")
        # The subscriber takes its time to answer: the daemon dies with the push in flight.
        subscriber.slow["radio"] = 5.0
        feed_server.serve("/autogempa.json", SUMEDANG)
        (first,) = wait_for(lambda: subscriber.pushes_to("radio"), 60, "the push of the Sumedang quake")
        d.kill()
        subscriber.slow.clear()
        d = DaemonProcess(cfg)
        d.ready()
        pushes = wait_for(lambda: subscriber.pushes_to("radio")[1:] and subscriber.pushes_to("radio"), 60, "the repeat")
        assert [p.key for p in pushes] == [first.key, first.key] and pushes[1].body == first.body
        assert all(p.signature == "ok" for p in pushes)
        # The subscriber recognised the repeat by its Idempotency-Key: processed once.
        assert len(subscriber.state.processed) == 1 and subscriber.state.repeats[first.key] == 1
        time.sleep(1.0)
        assert len(subscriber.pushes_to("radio")) == 2
    finally:
        d.stop()
        subscriber.stop()
