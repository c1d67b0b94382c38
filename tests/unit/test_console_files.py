"""The console page's static files: every one ships with the package (an installed daemon serves
its page with nothing from the internet), it loads nothing from elsewhere, and the vendored
Leaflet is the release its VERSION file names."""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "warnd" / "console"


def _files() -> list[Path]:
    return sorted(p for p in CONSOLE.rglob("*") if p.is_file())


def test_every_console_file_is_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["warnd"]
    files = _files()
    assert {"index.html", "console.js", "console.css"} <= {p.name for p in files}
    missing = [
        str(p.relative_to(CONSOLE))
        for p in files
        if not any(fnmatch(str(p.relative_to(ROOT / "warnd")), g) for g in patterns)
    ]
    assert missing == [], f"add these to [tool.setuptools.package-data] in pyproject.toml: {missing}"


def test_the_page_loads_nothing_from_elsewhere() -> None:
    for name in ("index.html", "console.js", "console.css"):
        text = (CONSOLE / name).read_text()
        # Links out of the page (the remote posts) are built from the state, never loaded.
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), name
        assert "@import" not in text and "fonts.googleapis" not in text, name
    html = (CONSOLE / "index.html").read_text()
    for ref in re.findall(r"""(?:src|href)="(/console/static/[^"]+)""", html):
        assert (CONSOLE / ref.removeprefix("/console/static/")).is_file(), ref


def test_dynamic_text_is_never_inserted_as_html() -> None:
    js = (CONSOLE / "console.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js, sink


def test_vendored_leaflet_is_the_release_named() -> None:
    version = dict(
        line.split(": ", 1) for line in (CONSOLE / "vendor" / "leaflet" / "VERSION").read_text().splitlines() if line
    )
    assert (version["package"], version["version"]) == ("leaflet", "1.9.4")
    assert version["integrity"].startswith("sha512-")
    # The integrity is of the npm tarball; the copied file's own digest is pinned here so that an
    # edit to the vendored code does not go unnoticed.
    digest = hashlib.sha256((CONSOLE / "vendor" / "leaflet" / "leaflet.js").read_bytes()).digest()
    assert base64.b64encode(digest).decode() == LEAFLET_JS_SHA256


# The digest Leaflet publishes for dist/leaflet.js 1.9.4 (its subresource integrity).
LEAFLET_JS_SHA256 = "20nQCchB9co0qIjJZRGuk2/Z9VM+kNiyxNV1lvTlZBo="
