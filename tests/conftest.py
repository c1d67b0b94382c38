"""Shared test fixtures: real loopback servers, real files, no mocks of warnd's own parts."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import structlog

from warnd.geo import RegionIndex, load_layers, read_place_aliases, read_points
from warnd.store.backend import Database
from warnd.testing import postgres as pg
from warnd.testing.feed_server import FeedServer

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "feeds" / "samples"
REGIONS = ROOT / "config" / "regions"
TEMPLATES = ROOT / "config" / "templates"


@pytest.fixture(autouse=True)
def _logging_as_found() -> Iterator[None]:
    """A command run in-process sets up the process's logging (`warnd.obs.setup_logging`): put
    it back, so that no test's outcome depends on which test ran before it."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def index() -> RegionIndex:
    """The regions config/warnd.yaml loads: provinces, regencies, the kecamatan points and the
    place aliases. Read once: no test changes it."""
    return load_layers(
        [REGIONS / "provinces.geojson", REGIONS / "regencies.geojson"],
        read_points(REGIONS / "district-points.csv"),
        read_place_aliases(REGIONS / "place-aliases.csv"),
    )


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that refuses every connection for the whole test: bound and never
    listening, so that no other test can take it meanwhile, as it could a port bound and closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def need_postgres() -> None:
    """Skip (or, where CI demands the server, fail) when the test PostgreSQL is not usable."""
    why = pg.missing()
    if why is None:
        return
    if os.environ.get("WARND_REQUIRE_POSTGRES"):
        pytest.fail(why)
    pytest.skip(why)


class Store:
    """One store on one backend; `open()` is a new connection to it (a restart, another node)."""

    def __init__(self, backend: str, tmp_path: Path, schema: str | None) -> None:
        self.backend = backend
        self.path = tmp_path / "w.db"
        self.schema = schema
        self.opened: list[Database] = []

    def open(self) -> Database:
        from warnd.store import postgres, sqlite

        db: Database
        if self.schema is None:
            db = sqlite.connect(self.path)
        else:
            db = postgres.connect(pg.DSN, self.schema, None, "warnd-test")
        self.opened.append(db)
        return db


@contextlib.contextmanager
def _store(backend: str, tmp_path: Path) -> Iterator[Store]:
    with contextlib.ExitStack() as stack:
        schema = None
        if backend == "postgres":
            need_postgres()
            schema = stack.enter_context(pg.schema())
        s = Store(backend, tmp_path, schema)
        try:
            yield s
        finally:
            for db in s.opened:
                db.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The store test suite runs on both backends: the same test, the same assertions."""
    with _store(request.param, tmp_path) as s:
        yield s


@pytest.fixture
def pg_store(tmp_path: Path) -> Iterator[Store]:
    """What only PostgreSQL has (concurrent writers, row locks)."""
    with _store("postgres", tmp_path) as s:
        yield s


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def usgs_moved(
    name: str,
    feature: str,
    *,
    usgs_id: str,
    time: str,
    lat: float,
    lon: float,
    depth: float,
    place: str,
    base: bytes | None = None,
) -> bytes:
    """A recorded USGS GeoJSON sample with one feature moved onto another quake as USGS reported
    it: only its id fields (id, code, ids, url, detail), its time fields (time, and updated at the
    same distance after it as recorded) and its position (coordinates, place, the place in the
    title) are changed; its magnitude, magnitude type, status, tsunami flag and every other
    feature are as recorded. The samples hold no quake that BMKG also reported. `base`: the
    sample already moved once (another feature moved as well)."""
    doc = json.loads(base if base is not None else sample(name))
    (f,) = [f for f in doc["features"] if f["id"] == feature]
    p = f["properties"]
    origin = int(datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp() * 1000)
    p["updated"] = origin + (p["updated"] - p["time"])
    p["time"] = origin
    f["id"] = usgs_id
    p["code"] = usgs_id[2:]
    p["ids"] = f",{usgs_id},"
    for key in ("url", "detail"):
        p[key] = p[key].replace(feature, usgs_id)
    p["place"] = place
    p["title"] = p["title"].split(" - ", 1)[0] + f" - {place}"
    f["geometry"]["coordinates"] = [lon, lat, depth]
    return json.dumps(doc).encode()


_BULAN = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")


def tews_retimed(item: dict[str, Any], when: datetime) -> dict[str, Any]:
    """A recorded BMKG TEWS list item (gempaterkini, gempadirasakan) as if its quake had happened
    at `when`: only its time fields (Tanggal and Jam in WIB, DateTime in UTC) are changed; where,
    how strong and how deep are as recorded."""
    wib = when.astimezone(timezone(timedelta(hours=7)))
    return {
        **item,
        "Tanggal": f"{wib.day:02d} {_BULAN[wib.month - 1]} {wib.year}",
        "Jam": f"{wib:%H:%M:%S} WIB",
        "DateTime": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
    }


def tews_list(*items: dict[str, Any]) -> bytes:
    """A gempaterkini / gempadirasakan JSON document holding these items, in this order."""
    return json.dumps({"Infogempa": {"gempa": list(items)}}).encode()


# USGS's solution of the Flores Sea quake of 14 Dec 2021 (ComCat us6000gc2a), the M7.4 of BMKG's
# gempaterkini sample, moved onto the largest feature of a 2021 USGS day feed (M6.2, Myanmar).
FLORES_BY_USGS = {
    "usgs_id": "us6000gc2a",
    "time": "2021-12-14T03:20:23.809Z",
    "lat": -7.6033,
    "lon": 122.2274,
    "depth": 14.3,
    "place": "Flores Sea",
}
USGS_DAY = "usgs-geojson/usgs_2.5_day_2021-11-26T0628Z_dcardosos-69c02b0.geojson"
# USGS's solution of the Mentawai M7.3 of 24 Apr 2023 (ComCat us7000jvl3), the quake of BMKG's
# two InaTEWS samples of 25 Apr 2023.
MENTAWAI_BY_USGS = {
    "usgs_id": "us7000jvl3",
    "time": "2023-04-24T20:00:57.265Z",
    "lat": -0.8082,
    "lon": 98.5112,
    "depth": 34.0,
    "place": "171 km SSE of Teluk Dalam, Indonesia",
}


def tews_entry(name: str, wilayah: str) -> dict[str, str]:
    """One quake of a recorded BMKG TEWS list (gempaterkini, gempadirasakan), as BMKG wrote it."""
    doc = json.loads(sample(f"bmkg-tews/{name}"))
    (entry,) = [g for g in doc["Infogempa"]["gempa"] if g["Wilayah"].startswith(wilayah)]
    return dict(entry)


def tews_moved(entry: dict[str, str], lat: float, lon: float, wilayah: str) -> dict[str, str]:
    """A recorded quake moved elsewhere with its origin second kept: only its position (Coordinates,
    Lintang, Bujur) and the Wilayah text that names the place change."""
    out = dict(entry)
    out["Coordinates"] = f"{lat:.2f},{lon:.2f}"
    out["Lintang"] = f"{abs(lat):.2f} {'LU' if lat >= 0 else 'LS'}"
    out["Bujur"] = f"{abs(lon):.2f} {'BT' if lon >= 0 else 'BB'}"
    out["Wilayah"] = wilayah
    return out


def tews_doc(entry: dict[str, str], endpoint: str) -> bytes:
    """One quake as the endpoint shows it: gempaterkini (a list, no felt list, a Potensi
    sentence), gempadirasakan (a list with the felt list, no Potensi), autogempa (one object with
    the felt-event Potensi sentence and the Shakemap named by the WIB origin time)."""
    item = dict(entry)
    if endpoint == "gempaterkini":
        item.pop("Dirasakan", None)
        item["Potensi"] = "Tidak berpotensi tsunami"
        return json.dumps({"Infogempa": {"gempa": [item]}}).encode()
    if endpoint == "gempadirasakan":
        item.pop("Potensi", None)
        return json.dumps({"Infogempa": {"gempa": [item]}}).encode()
    assert endpoint == "autogempa", endpoint
    wib = datetime.fromisoformat(item["DateTime"]) + timedelta(hours=7)
    item["Potensi"] = "Gempa ini dirasakan untuk diteruskan pada masyarakat"
    item["Shakemap"] = wib.strftime("%Y%m%d%H%M%S") + ".mmi.jpg"
    return json.dumps({"Infogempa": {"gempa": item}}).encode()


def inatews_felt(entry: dict[str, str]) -> bytes:
    """A TEWS quake as InaTEWS's datagempa.json announces it: the recorded felt message of the
    Enggano quake (14 Feb 2022) with its quake's fields replaced by this one's (longitude first in
    `point`, the date as DD-MM-YY and the eventid of the WIB origin time, as InaTEWS writes them)."""
    doc = json.loads(sample("bmkg-inatews/datagempa_2022-02-14_felt_enggano_arraysyams.json"))
    wib = datetime.fromisoformat(entry["DateTime"]) + timedelta(hours=7)
    lat, lon = entry["Coordinates"].split(",")
    eventid = wib.strftime("%Y%m%d%H%M%S")
    info = doc["info"]
    info.update(
        date=wib.strftime("%d-%m-%y"),
        time=wib.strftime("%H:%M:%S WIB"),
        point={"coordinates": f"{lon},{lat}"},
        latitude=entry["Lintang"],
        longitude=entry["Bujur"],
        magnitude=entry["Magnitude"],
        depth=entry["Kedalaman"].replace("km", "Km"),
        area=entry["Wilayah"],
        eventid=eventid,
        shakemap=eventid + ".mmi.jpg",
        felt=entry.get("Dirasakan", "-"),
        headline=(
            f"Info Gempa dirasakan Mag:{entry['Magnitude']}, {wib:%d-%b-%y %H:%M:%S} WIB,"
            f" Lok:{entry['Lintang']}, {entry['Bujur']} ({entry['Wilayah']}), Kedlmn:{entry['Kedalaman']} ::BMKG"
        ),
        description=(
            f"Telah terjadi gempabumi mag:{entry['Magnitude']}, lokasi:{entry['Wilayah']},"
            f" waktu:{wib:%d-%b-%y %H:%M:%S} WIB, kedlmn:{entry['Kedalaman']},"
            f" gempa ini dirasakan(MMI):{entry.get('Dirasakan', '-')}"
        ),
        timesent=(wib + timedelta(minutes=5)).strftime("%d/%m/%Y %H:%M:%SWIB"),
    )
    doc["identifier"] = f"Indonesia-InaTEWS-felt-Eq-{eventid}"
    doc["sent"] = wib.strftime("%Y-%m-%dT%H:%M:%SWIB")
    return json.dumps(doc).encode()


def cap_hrefs(atom: str) -> list[str]:
    """The links to the alert documents in an account's Atom index, newest first, as written:
    relative, or absolute under the public URL when the feed names its hub (WebSub)."""
    return re.findall(r'rel="alternate" type="application/cap\+xml" href="([^"]+)"', atom)


def cap_links(atom: str) -> list[str]:
    """The names of the alert documents an account's Atom index links to, newest first (as a
    partner reads it, each under /cap/<account>/)."""
    return [href.rsplit("/", 1)[-1] for href in cap_hrefs(atom)]


def run_to_exit(
    cfg: Path, *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`warnd run` as a subprocess that is expected to stop on its own (a refused start)."""
    return subprocess.run(
        [sys.executable, "-m", "warnd.cli", "run", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
        check=False,
    )


def write_config(
    folder: Path,
    *,
    feeds: str,
    rules: str,
    accounts: str | None = None,
    extra: str = "",
    replay: bool = False,
) -> Path:
    """A small real config in `folder`, using the shipped regions and templates. `replay`: the
    feeds serve recorded documents, taken as current (config `replay`) against the daemon's
    real clock."""
    (folder / "rules").mkdir(parents=True, exist_ok=True)
    (folder / "rules" / "test.yaml").write_text(rules)
    if accounts is None:
        accounts = f"""
  jabar: {{channel: file, path: {folder}/posts.jsonl, name: "Jawa Barat", regions: ["32"]}}
  ntb: {{channel: file, path: {folder}/posts.jsonl, name: "NTB", regions: ["52"]}}
"""
    cfg = folder / "warnd.yaml"
    cfg.write_text(
        f"""state_dir: {folder}/state
listen: 127.0.0.1:0
feeds:
{feeds}
regions:
  - name: provinsi
    path: {REGIONS}/provinces.geojson
  - name: kabupaten-kota
    path: {REGIONS}/regencies.geojson
templates: {TEMPLATES}
rules:
  - rules/*.yaml
accounts:{accounts}
{"replay: true" if replay else ""}
{extra}"""
    )
    return cfg


RULES_ANY_QUAKE = """rules:
  - id: gempa-test
    match:
      hazard: earthquake
      magnitude: ">= 2.5"
    where:
      within_km: 60
    then:
      accounts: ["*"]
"""
