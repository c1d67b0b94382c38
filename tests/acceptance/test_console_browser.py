"""The operator console in a real headless Chromium (Debian's), against the daemon as a subprocess
polling recorded feeds and posting to the fake X.

Two operators are made with `warnd operator add`. One logs in; a new recorded quake is published
on the feed server and the open page shows its warned regions on the map and its warning in the
timeline without a reload, then its X delivery as sent with a link to the post; the region's
colour on the page is the legend's, and the same colour is in the warning's PNG map. Then a
bulletin written by one operator is approved by the other, in a second browser context.

Screenshots go to a folder the test prints (and to $WARND_SCREENSHOTS when set)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import shapely
from PIL import Image

from tests.acceptance.test_daemon_end_to_end import DOMPU, SUMEDANG
from tests.conftest import REGIONS, ROOT, write_config
from warnd.config.schema import StoreSettings
from warnd.maps import projection, style
from warnd.model import HazardEvent, Warning
from warnd.runtime.build import build
from warnd.store import db
from warnd.store.issued import IssuedWarnings
from warnd.testing.daemon import DaemonProcess, wait_for
from warnd.testing.fake_x import FakeX
from warnd.testing.feed_server import FeedServer

pytestmark = [pytest.mark.acceptance, pytest.mark.timeout(300)]

CHROMIUM = Path("/usr/bin/chromium")
SUMEDANG_ID = "bmkg-eq-20240110T131726Z"
DOMPU_ID = "bmkg-eq-20211005T110027Z"
# BMKG revising the Dompu quake in place: a correction for the NTB account.
DOMPU_REVISED = DOMPU.replace(b'"Magnitude": "4.5"', b'"Magnitude": "4.7"')
# Generous: the first page load builds the basemap of every regency (simplified once per
# configuration), and CI's machine is shared. Waiting is not what these tests measure.
WAIT_MS = 90_000
USERS = {"alice": "alice-correct-horse", "bob": "bob-battery-staple"}
# Selected by predicted shaking, as the shipped quake rules are, so that each warned region has
# an intensity: the page and the PNG colour it on the MMI scale.
RULES = """rules:
  - id: gempa-dirasakan
    match:
      hazard: earthquake
      magnitude: ">= 2.5"
    where:
      intensity: ">= 2.5"
      level: regency
    then:
      accounts: ["*"]
"""


def _need_browser() -> None:
    """Skip (or, where CI demands the browser, fail) without Chromium or Playwright."""
    why = None
    if not CHROMIUM.exists():
        why = f"Debian's chromium is not installed ({CHROMIUM}): apt-get install chromium"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            why = "playwright is not installed (pip install -e '.[test]')"
    if why is None:
        return
    if os.environ.get("WARND_REQUIRE_CHROMIUM"):
        pytest.fail(why)
    pytest.skip(why)


@dataclass
class Console:
    folder: Path
    cfg: Path
    base: str
    fake: FakeX
    feeds: FeedServer
    env: dict[str, str]
    daemon: DaemonProcess
    browser: Any
    shots: Path
    # Uncaught errors of every page opened (a script error is a failure even when nothing shows).
    problems: list[str]
    contexts: list[Any] = field(default_factory=list)

    def page(self, user: str) -> Any:
        """A new browser context (its own cookies: another operator) logged in as `user`."""
        context = self.browser.new_context(viewport={"width": 1400, "height": 1000})
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda e: self.problems.append(f"{user}: {e}"))
        # Whatever the Content-Security-Policy refuses (a script, a style, an image) is a failure:
        # Chromium says so on the console.
        page.on(
            "console",
            lambda m: self.problems.append(f"{user}: {m.text}") if "Content Security Policy" in m.text else None,
        )
        # Every confirmation is accepted; a prompt gets a reason.
        page.on("dialog", lambda d: d.accept(f"checked by {user}") if d.type == "prompt" else d.accept())
        opened = page.goto(f"{self.base}/console/")
        assert opened is not None and "frame-ancestors 'none'" in opened.headers["content-security-policy"]
        page.wait_for_selector("#login-form", state="visible", timeout=WAIT_MS)
        page.fill("#login-user", user)
        page.fill("#login-password", USERS[user])
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#console", state="visible", timeout=WAIT_MS)
        assert page.text_content("#user") == user
        page.wait_for_selector('#stream[data-up="1"]', timeout=WAIT_MS)
        return page

    def shot(self, page: Any, name: str, what: str | None = None) -> Path:
        """A screenshot of the page (or of the element `what`) once the map's outlines are drawn
        and its view has stopped moving."""
        page.wait_for_selector("#map[data-basemap]:not([data-moving])", state="attached", timeout=WAIT_MS)
        page.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        path = self.shots / f"{name}.png"
        (page.locator(what) if what else page).screenshot(path=str(path))
        if os.environ.get("WARND_SCREENSHOTS"):
            out = Path(os.environ["WARND_SCREENSHOTS"])
            out.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, out / path.name)
        return path


@contextlib.contextmanager
def running_console(
    browser: Any, folder: Path, feed: str, first: bytes, feed_format: str, rules: str, accounts: dict[str, str]
) -> Iterator[Console]:
    """The daemon polling `first` on the feed server with the fake X for `accounts` (name ->
    province code), the two operators made, and the browser to open its console."""
    shots = folder / "screenshots"
    shots.mkdir()
    print(f"\nscreenshots: {shots}")
    fake = FakeX(
        consumer_key="app-key",
        consumer_secret="app-secret",
        users={f"tok-{a}": (f"sec-{a}", a) for a in accounts},
    )
    feeds = FeedServer()
    fake.start()
    feeds.start()
    url = feeds.serve(feed, first)
    listed = "".join(
        f'\n  {a}: {{channel: x, name: "{a}", regions: ["{code}"], credential: x-{a}}}' for a, code in accounts.items()
    )
    extra = f"district_points: {REGIONS}/district-points.csv\nx:\n  api_base: {fake.base}\n"
    polled = f"  - id: {feed_format}\n    format: {feed_format}\n    url: {url}\n    interval: 0.2\n"
    cfg = write_config(folder, feeds=polled, rules=rules, accounts=listed + "\n", extra=extra, replay=True)
    # A fixed operator port, so that the open page finds the daemon again after a restart.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg.write_text(cfg.read_text().replace("listen: 127.0.0.1:0", f"listen: 127.0.0.1:{port}", 1))
    env = {"WARND_SECRET_X_APP_CONSUMER_KEY": "app-key", "WARND_SECRET_X_APP_CONSUMER_SECRET": "app-secret"}
    for a in accounts:
        env[f"WARND_SECRET_X_{a.upper()}_ACCESS_TOKEN"] = f"tok-{a}"
        env[f"WARND_SECRET_X_{a.upper()}_ACCESS_TOKEN_SECRET"] = f"sec-{a}"
    daemon = DaemonProcess(cfg, env)
    c = Console(folder, cfg, f"http://127.0.0.1:{port}", fake, feeds, env, daemon, browser, shots, [])
    try:
        daemon.ready()
        for user, password in USERS.items():
            subprocess.run(
                [sys.executable, "-m", "warnd.cli", "operator", "add", user, "-c", str(cfg), "--password-stdin"],
                input=password + "\n",
                text=True,
                check=True,
                capture_output=True,
                timeout=60,
            )
        yield c
        assert c.daemon.stop() == 0
    finally:
        for context in c.contexts:
            context.close()
        c.daemon.kill()
        feeds.stop()
        fake.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (one for the module: Playwright's
    synchronous API runs one at a time)."""
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def console(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    # An older quake in NTB is the feed's first document; the Sumedang one is published later,
    # while the page is open.
    folder = tmp_path_factory.mktemp("console")
    accounts = {"jabar": "32", "ntb": "52"}
    with running_console(browser, folder, "/auto.json", DOMPU, "bmkg-tews", RULES, accounts) as c:
        yield c


def _rgb(css: str) -> tuple[int, int, int]:
    r, g, b = (int(x) for x in re.findall(r"\d+", css)[:3])
    return (r, g, b)


def _state(page: Any, base: str) -> dict[str, Any]:
    """The state document, read with the page's own session."""
    got = page.context.request.get(f"{base}/console/api/state")
    assert got.status == 200, got.text()
    doc: dict[str, Any] = got.json()
    return doc


def _region_colours(page: Any, warning: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    """Every region the warning named is coloured on the map with the legend's colour for its
    level, from the palette the PNG maps use; each region's colour."""
    palette = {lv.colour for scale in style.Scale for lv in style._LEVELS[scale]}
    colours: dict[str, tuple[int, int, int]] = {}
    for region in warning["regions"]:
        path = page.locator(f'#map path.warned-region[data-code="{region["code"]}"]')
        path.wait_for(state="attached", timeout=WAIT_MS)
        fill = path.get_attribute("fill")
        legend = page.locator(f'#legend .legend-row[data-level="{path.get_attribute("data-level")}"]')
        assert legend.count() == 1, f"no legend entry for {region}"
        assert _rgb(legend.get_attribute("data-colour")) == _rgb(fill)
        assert _rgb(fill) in palette
        colours[region["code"]] = _rgb(fill)
    return colours


def _png_has(console: Console, warning_id: str, colours: dict[str, tuple[int, int, int]]) -> None:
    """The warning's PNG: a small picture of the right size in which each warned region, looked at
    where the renderer's own projection puts it, has the colour the page's legend shows."""
    with httpx.Client(trust_env=False, timeout=10) as client:
        got = wait_for(
            lambda: (r := client.get(f"{console.base}/maps/{warning_id}.png")).status_code == 200 and r,
            60,
            "the warning's map",
        )
    assert len(got.content) <= 1_000_000
    image = Image.open(io.BytesIO(got.content)).convert("RGB")
    width, height = image.size
    assert abs(width - 1200) <= 50 and abs(height - 675) <= 50, image.size
    # The warning and its event as the daemon stored them, and its regions as it loaded them.
    bundle = build(console.cfg, with_senders=False)
    reader = db.open_reader(StoreSettings(), bundle.config.state_dir)
    assert reader is not None
    try:
        (row,) = [w for w in IssuedWarnings(reader).recent(500) if w["id"] == warning_id]
    finally:
        reader.close()
    proj = projection(HazardEvent.from_json(row["event"]), Warning.from_json(row), bundle.regions)
    for code, colour in colours.items():
        geom = bundle.regions.geometry(code)
        assert geom is not None, code
        w, s, e, n = geom.bounds
        seen: Counter[tuple[int, int, int]] = Counter()
        for i in range(1, 25):
            for j in range(1, 25):
                lon, lat = w + (e - w) * i / 25, s + (n - s) * j / 25
                x, y = proj.px(lon, lat)
                if shapely.contains_xy(geom, lon, lat) and 0 <= x < width and 0 <= y < height:
                    seen[image.getpixel((int(x), int(y)))] += 1  # type: ignore[index]
        assert seen, f"{code} is not inside the PNG's frame"
        # Most points inside the region (names and borders take a few) are the legend's colour.
        top, _ = seen.most_common(1)[0]
        assert all(abs(a - b) <= 12 for a, b in zip(top, colour, strict=True)), (code, top, colour, seen.most_common(3))


def test_a_new_quake_appears_live_with_its_regions_warning_and_sent_post(console: Console) -> None:
    page = console.page("alice")
    # The first document's quake (Dompu, NTB) is there before anything changes.
    page.wait_for_selector("#timeline li.event[data-event]", timeout=WAIT_MS)
    assert page.query_selector(f'#timeline li.event[data-event="{SUMEDANG_ID}"]') is None
    # A mark on this very document: had anything reloaded the page, it would be gone.
    page.evaluate("window.__sameDocument = 'kept'")

    console.feeds.serve("/auto.json", SUMEDANG)

    entry = f'#timeline li.event[data-event="{SUMEDANG_ID}"]'
    # Locators, not element handles: the page draws a part again whenever its data changes.
    warning = page.locator(f'{entry} .warning[data-account="jabar"]')
    warning.wait_for(timeout=WAIT_MS)
    page.wait_for_selector('#map path.warned-region[data-code="32.11"]', state="attached", timeout=WAIT_MS)
    assert page.evaluate("window.__sameDocument") == "kept"
    assert "Gempa M2.8" in warning.text_content()
    warning_id = warning.get_attribute("data-warning")

    # The X delivery goes from queued to sent, with a link to the post X made.
    link = page.locator(
        f'{entry} .warning[data-warning="{warning_id}"] tr.delivery[data-target="account:jabar"][data-state="sent"]'
        " a.post-link"
    )
    link.wait_for(timeout=WAIT_MS)
    posted = {p.id for p in console.fake.posts_by("jabar")}
    href = link.get_attribute("href")
    assert href.startswith("https://x.com/i/web/status/")
    assert href.rsplit("/", 1)[1] in posted

    doc = _state(page, console.base)
    (w,) = [x for x in doc["warnings"] if x["id"] == warning_id]
    colours = _region_colours(page, w)
    # A quake's regions are shaded by predicted intensity, as on the PNG.
    assert all(r["note"] and r["note"].startswith("MMI") for r in w["regions"]), w["regions"]

    thumb = f'{entry} .warning[data-warning="{warning_id}"] a.thumb img'
    page.wait_for_selector(thumb, timeout=WAIT_MS)
    # The map image loaded under the page's Content-Security-Policy, and a region's popup opens.
    page.wait_for_function(f"document.querySelector('{thumb}').naturalWidth > 0", timeout=WAIT_MS)
    page.locator('#map path.warned-region[data-code="32.11"]').first.dispatch_event("click")
    page.wait_for_selector("#map .leaflet-popup-content", timeout=WAIT_MS)
    assert page.locator("#map .leaflet-popup-content").first.text_content()
    page.keyboard.press("Escape")
    console.shot(page, "console-live")
    console.shot(page, "console-map", "#map-area")

    _png_has(console, warning_id, colours)
    assert not console.problems


def test_simulate_and_a_silence_from_the_page(console: Console) -> None:
    page = console.page("alice")
    before = _state(page, console.base)["warnings"]
    posted = len(console.fake.posts_by("jabar"))

    # A pasted document: what each account would post, its regions drawn apart on the map.
    page.wait_for_selector('#sim-format option[value="bmkg-tews"]', state="attached", timeout=WAIT_MS)
    page.select_option("#sim-format", "bmkg-tews")
    page.fill("#sim-document", SUMEDANG.decode())
    page.click("#simulate-form button[type=submit]")
    post = page.locator('#sim-result .warning.simulated[data-account="jabar"]')
    post.wait_for(timeout=WAIT_MS)
    assert "Gempa M2.8" in post.text_content()
    page.wait_for_selector('#map path.simulated-region[data-code="32.11"]', state="attached", timeout=WAIT_MS)
    page.wait_for_selector("#legend .mark-simulated", timeout=WAIT_MS)
    console.shot(page, "console-simulated", "#map-area")
    # Nothing was stored or sent.
    assert _state(page, console.base)["warnings"] == before
    assert len(console.fake.posts_by("jabar")) == posted

    # A document that does not parse: the parser's error is on the page.
    page.fill("#sim-document", "{not json")
    page.click("#simulate-form button[type=submit]")
    error = page.locator("#sim-result .error")
    error.wait_for(timeout=WAIT_MS)
    assert "document" in error.text_content()

    # A recorded file dropped on the form is read into it and simulated as a pasted one is.
    page.fill("#sim-document", "")
    dropped = page.evaluate_handle(
        "(text) => { const dt = new DataTransfer();"
        " dt.items.add(new File([text], 'autogempa.json', {type: 'application/json'})); return dt; }",
        SUMEDANG.decode(),
    )
    page.dispatch_event("#sim-document", "drop", {"dataTransfer": dropped})
    page.wait_for_function("document.querySelector('#sim-document').value.length > 0", timeout=WAIT_MS)
    assert page.input_value("#sim-document") == SUMEDANG.decode()
    page.click("#simulate-form button[type=submit]")
    page.locator('#sim-result .warning.simulated[data-account="jabar"]').wait_for(timeout=WAIT_MS)

    # A silence added from the page shows in the panel, and expires from it.
    form = "#silence-form"
    page.fill(f"{form} input[name=account]", "ntb")
    page.fill(f"{form} input[name=minutes]", "30")
    # An operator's words are shown as written, never run as markup.
    page.fill(f"{form} input[name=reason]", 'sensor <img src=x onerror="window.__ran = 1"> maintenance')
    page.click(f"{form} button[type=submit]")
    row = page.locator('#silences tr[data-silence]:has-text("maintenance")')
    row.wait_for(timeout=WAIT_MS)
    assert '<img src=x onerror="window.__ran = 1">' in row.text_content()
    assert row.locator("img").count() == 0 and page.evaluate("window.__ran") is None
    silence = row.get_attribute("data-silence")
    page.locator(f'#silences tr[data-silence="{silence}"] button').click()
    page.wait_for_selector(f'#silences tr[data-silence="{silence}"]', state="detached", timeout=WAIT_MS)
    # An unknown account is refused, and the server's reason is shown.
    page.fill(f"{form} input[name=account]", "atlantis")
    page.fill(f"{form} input[name=reason]", "typo")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#flash.error:has-text('atlantis')", timeout=WAIT_MS)
    assert not console.problems


def _bulletin_actions_missing(page: Any, base: str) -> bool:
    """An empty body is refused by a bulletin/write that exists (400, naming a field); a console
    without the bulletins' actions answers 404."""
    csrf = page.evaluate("fetch('/console/api/me').then(r => r.json()).then(m => m.csrf)")
    got = page.context.request.post(
        f"{base}/console/api/action/bulletin/write", data={}, headers={"X-CSRF-Token": csrf}
    )
    return got.status == 404


def test_a_bulletin_written_by_one_operator_is_approved_by_another(console: Console) -> None:
    alice = console.page("alice")
    if _bulletin_actions_missing(alice, console.base):
        why = "the console has no bulletin/write action (the bulletins are not wired in)"
        if os.environ.get("WARND_REQUIRE_BULLETINS"):
            pytest.fail(why)
        pytest.skip(why)

    form = "#bulletin-form"
    alice.select_option(f"{form} select[name=hazard]", "flood")
    alice.fill(f"{form} input[name=level]", "siaga2")
    alice.select_option(f"{form} select[name=status]", "exercise")
    alice.fill(f"{form} input[name=accounts]", "jabar")
    alice.fill(f"{form} input[name=headline]", "Latihan banjir Citarum")
    alice.fill(f"{form} textarea[name=text_id]", "LATIHAN: Siaga 2 banjir Citarum, warga bantaran sungai bersiap.")
    alice.fill(f"{form} textarea[name=text_en]", "EXERCISE: Citarum flood alert 2, riverside residents get ready.")
    alice.click("#bulletin-submit")
    pending = alice.locator('#bulletins tr[data-state="pending"]')
    pending.wait_for(timeout=WAIT_MS)
    bulletin_id = pending.get_attribute("data-bulletin")
    row = alice.locator(f'#bulletins tr[data-bulletin="{bulletin_id}"]')
    assert "alice" in row.locator("td.author").text_content()
    assert any(b["id"] == bulletin_id and b["author"] == "alice" for b in _state(alice, console.base)["bulletins"])
    if alice.evaluate("fetch('/console/api/me').then(r => r.json()).then(m => m.two_person)"):
        # The author cannot approve their own bulletin.
        assert row.locator("button.approve").is_disabled()

    bob = console.page("bob")
    approve = bob.locator(f'#bulletins tr[data-bulletin="{bulletin_id}"][data-state="pending"] button.approve')
    approve.wait_for(timeout=WAIT_MS)
    assert approve.is_enabled()
    approve.click()
    approved = f'#bulletins tr[data-bulletin="{bulletin_id}"][data-state="approved"]'
    done = bob.locator(approved)
    done.wait_for(timeout=WAIT_MS)
    assert "bob" in done.locator("td.approver").text_content()
    assert "alice" in done.locator("td.author").text_content()
    # Alice's page sees the approval live, and the bulletin's post reaches X.
    alice.wait_for_selector(approved, timeout=WAIT_MS)
    # A bulletin's warnings are about the event of its series (the first bulletin's id).
    bob.wait_for_selector(
        f'#timeline li.event[data-event="{bulletin_id}"] .warning[data-account="jabar"]'
        ' tr.delivery[data-target="account:jabar"][data-state="sent"] a.post-link',
        timeout=WAIT_MS,
    )
    assert any("Citarum" in p.text for p in console.fake.posts_by("jabar"))
    # Who wrote and who approved it is shown with the warning too.
    badge = bob.locator(f'#timeline .warning[data-bulletin="{bulletin_id}"][data-account="jabar"] .badge.bulletin')
    badge.wait_for(timeout=WAIT_MS)
    assert "alice" in badge.text_content() and "bob" in badge.text_content()
    console.shot(bob, "console-bulletins", "#bulletins-panel")
    assert not console.problems


def test_the_page_shows_the_stream_down_and_comes_back_after_a_restart(console: Console) -> None:
    page = console.page("bob")
    page.evaluate("window.__sameDocument = 'kept'")
    assert console.daemon.stop() == 0
    page.wait_for_selector('#stream[data-up="0"]', timeout=WAIT_MS)
    assert "down" in page.text_content("#stream")

    console.daemon = DaemonProcess(console.cfg, console.env)
    console.daemon.ready()
    # The page reconnects by itself, and the session outlived the restart (sessions are in the
    # store): no login asked, the same document.
    page.wait_for_selector('#stream[data-up="1"]', timeout=WAIT_MS)
    assert page.is_hidden("#login") and page.text_content("#user") == "bob"
    assert page.evaluate("window.__sameDocument") == "kept"
    assert not console.problems


def test_an_account_x_refuses_is_shown_disabled_and_enabled_again_from_the_page(console: Console) -> None:
    assert DOMPU_REVISED != DOMPU
    page = console.page("alice")
    page.wait_for_selector(f'#timeline li.event[data-event="{DOMPU_ID}"] .warning[data-account="ntb"]', timeout=WAIT_MS)
    console.fake.revoke("ntb")
    console.feeds.serve("/auto.json", DOMPU_REVISED)

    # X refuses the account's token: the account is disabled, and its correction waits, with
    # X's refusal shown.
    account = page.locator('#accounts tr[data-target="account:ntb"]')
    enable = account.locator("button")
    enable.wait_for(timeout=WAIT_MS)
    assert "disabled" in account.text_content()
    update = f'#timeline li.event[data-event="{DOMPU_ID}"] .warning[data-account="ntb"][data-kind="update"]'
    waiting = page.locator(f'{update} tr.delivery[data-target="account:ntb"][data-state="retry"]')
    waiting.wait_for(timeout=WAIT_MS)
    assert "401" in waiting.text_content() or "auth" in waiting.text_content().lower()
    console.shot(page, "console-disabled")

    # The token is fixed; the operator enables the account from the page, and the correction goes.
    console.fake.reinstate("ntb")
    enable.click()
    page.wait_for_selector("#flash.ok", timeout=WAIT_MS)
    enable.wait_for(state="detached", timeout=WAIT_MS)
    sent = page.locator(f'{update} tr.delivery[data-target="account:ntb"][data-state="sent"] a.post-link')
    sent.wait_for(timeout=WAIT_MS)
    assert sent.get_attribute("href").rsplit("/", 1)[1] in {p.id for p in console.fake.posts_by("ntb")}
    assert not console.problems


TSUNAMI_EVENT = "bmkg-tsunami-20260814T215823Z"


def test_a_tsunami_warning_colours_its_zones_by_level_as_its_png_does(browser: Any, tmp_path: Path) -> None:
    """The Nagekeo warning (the demo's first InaTEWS message): each warned regency in its zone's
    level (Awas, Siaga, Waspada), in the legend's colours, which are the PNG's."""
    first = sorted((ROOT / "feeds" / "demo" / "nagekeo").iterdir())[0].read_bytes()
    rules = (ROOT / "config" / "rules" / "tsunami.yaml").read_text()
    with running_console(browser, tmp_path, "/datagempa.xml", first, "bmkg-inatews", rules, {"ntt": "53"}) as console:
        page = console.page("alice")
        warning = page.locator(f'#timeline li.event[data-event="{TSUNAMI_EVENT}"] .warning[data-account="ntt"]')
        warning.wait_for(timeout=WAIT_MS)
        warning_id = warning.first.get_attribute("data-warning")
        (w,) = [x for x in _state(page, console.base)["warnings"] if x["id"] == warning_id]
        assert {r["note"] for r in w["regions"]} <= {"awas", "siaga", "waspada"}
        assert all(r["note"] for r in w["regions"]), w["regions"]
        colours = _region_colours(page, w)
        levels = {lv.key: lv.colour for lv in style._LEVELS[style.Scale.TSUNAMI]}
        assert all(colours[r["code"]] == levels[r["note"]] for r in w["regions"])
        assert "life-safety" in (warning.first.get_attribute("class") or "")
        console.shot(page, "console-tsunami")
        _png_has(console, warning_id, colours)
        assert not console.problems
