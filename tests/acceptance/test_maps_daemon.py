"""A quake through the running daemon: its text post reaches X, its map is drawn beside it and
served on the public listener, and the partner's webhook and the account's CAP alert name the
map's public URL."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
from lxml import etree
from PIL import Image

from tests.acceptance.test_daemon_end_to_end import SUMEDANG, fast_feed, log_lines, wait_for
from tests.conftest import RULES_ANY_QUAKE, cap_hrefs, cap_links, write_config
from warnd.testing.daemon import DaemonProcess
from warnd.testing.fake_x import FakeX
from warnd.testing.webhook_sink import WebhookSink

pytestmark = pytest.mark.acceptance

PUBLIC_URL = "https://warnd.example.org"
NS = "{urn:oasis:names:tc:emergency:cap:1.2}"


def _read(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def test_a_quake_map_is_served_and_named_in_the_webhook_and_the_cap_alert(tmp_path: Path, feed_server) -> None:
    fake = FakeX(consumer_key="app-key", consumer_secret="app-secret", users={"tok-jabar": ("sec-jabar", "jabar")})
    sink = WebhookSink({"radio": "radio-secret"})
    fake.start()
    sink.start()
    url = feed_server.serve("/auto.json", SUMEDANG)
    accounts = '\n  jabar: {channel: x, name: "Jawa Barat", regions: ["32"], credential: x-jabar}\n'
    extra = f"""public_listen: 127.0.0.1:0
x:
  api_base: {fake.base}
partners:
  radio: {{name: Radio, url: "{sink.url("radio")}", secret: partner-radio, accounts: [jabar]}}
maps:
  public_url: {PUBLIC_URL}/
"""
    cfg = write_config(
        tmp_path, feeds=fast_feed(url), rules=RULES_ANY_QUAKE, accounts=accounts, extra=extra, replay=True
    )
    env = {
        "WARND_SECRET_X_APP_CONSUMER_KEY": "app-key",
        "WARND_SECRET_X_APP_CONSUMER_SECRET": "app-secret",
        "WARND_SECRET_X_JABAR_ACCESS_TOKEN": "tok-jabar",
        "WARND_SECRET_X_JABAR_ACCESS_TOKEN_SECRET": "sec-jabar",
        "WARND_SECRET_PARTNER_RADIO": "radio-secret",
    }
    d = DaemonProcess(cfg, env)
    try:
        d.ready()
        public = wait_for(lambda: _read(tmp_path / "state" / "public_listen"), what="the public address")
        operator = wait_for(lambda: _read(tmp_path / "state" / "listen"), what="the operator address")
        # The text post went out; the map is no condition of it.
        wait_for(lambda: fake.posts_by("jabar"), what="the post on X")
        (receipt,) = wait_for(lambda: sink.receipts("radio"), what="the partner's webhook")
        body = json.loads(receipt.body)
        warning_id = body["warning"]["id"]
        # The map's alt text was made when the warning was issued, and travels with it.
        alt = body["map"]["alt"]
        assert body["map"] == {"url": f"{PUBLIC_URL}/maps/{warning_id}.png", "alt": alt}
        assert alt.startswith("Peta Gempa bumi, M 2.8") and "Sumber: " in alt

        with httpx.Client(trust_env=False, timeout=10) as client:
            path = f"/maps/{warning_id}.png"
            got = wait_for(
                lambda: (r := client.get(f"http://{public}{path}")).status_code == 200 and r,
                what="the map on the public listener",
            )
            assert got.headers["content-type"] == "image/png"
            assert Image.open(io.BytesIO(got.content)).size == (1200, 675)
            again = client.get(f"http://{public}{path}", headers={"If-None-Match": got.headers["etag"]})
            assert again.status_code == 304
            assert client.get(f"http://{operator}{path}").content == got.content
            assert client.get(f"http://{public}/maps/w-000000000000000000000000.png").status_code == 404

            def published() -> str | None:
                text = client.get(f"http://{public}/cap/jabar/index.atom").text
                return text if cap_links(text) else None

            atom = wait_for(published, what="the CAP alert")
            # With a public URL the feed names its WebSub hub, and links its alerts absolutely.
            assert cap_hrefs(atom)[0] == f"{PUBLIC_URL}/cap/jabar/{cap_links(atom)[0]}"
            alert = client.get(f"http://{public}/cap/jabar/{cap_links(atom)[0]}")

        # The same map reached X with the post: uploaded once by the account and carried by one
        # of its posts (the first part, or a reply when it was late).
        (upload,) = wait_for(lambda: [u for u in fake.uploads_by("jabar") if u.media_id], what="the map on X")
        assert upload.media == got.content
        carried = [p for p in fake.posts_by("jabar") if upload.media_id in p.media_ids]
        assert len(carried) == 1
        # The same words for a screen reader on X, in the partner's body and in the CAP alert.
        assert fake.state.alt_texts[upload.media_id] == alt

        doc = etree.fromstring(alert.content)
        resources = doc.findall(f"{NS}info/{NS}resource")
        assert [r.findtext(f"{NS}resourceDesc") for r in resources] == [alt, "Warning map"]
        assert {r.findtext(f"{NS}uri") for r in resources} == {f"{PUBLIC_URL}/maps/{warning_id}.png"}
        assert d.stop() == 0
    finally:
        d.kill()
        fake.stop()
        sink.stop()
    made = [line for line in log_lines(d.log) if line["event"] == "map.made"]
    assert [m["warning_id"] for m in made] == [warning_id]
    assert not [line for line in log_lines(d.log) if line["event"] == "map.failed"]
