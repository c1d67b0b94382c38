"""One quake reported by BMKG and by USGS, through `simulate` with the starter configuration:
BMKG speaks for it, the other agency's copy joins it and never posts a second time.

The USGS documents are recorded samples with one feature moved onto the quake (tests.conftest.
usgs_moved: only its id, time and position fields change; its magnitude stays the recorded one),
since no recorded USGS feed holds a quake that a recorded BMKG feed holds too."""

from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import FLORES_BY_USGS, MENTAWAI_BY_USGS, ROOT, USGS_DAY, usgs_moved
from warnd.model import WarningKind
from warnd.runtime.simulate import Document, simulate

CONFIG = ROOT / "config" / "warnd.yaml"
TERKINI = ROOT / "feeds/samples/bmkg-tews/gempaterkini_2021-12-14_flores-m7.4_arraysyams.json"
FLORES_BMKG = "bmkg-eq-20211214T032023Z"
FLORES_USGS = "usgs-us6000gc2a"


def bmkg(path: Path) -> Document:
    return Document(str(path), path.read_bytes(), "bmkg-gempaterkini")


def usgs(data: bytes) -> Document:
    return Document("usgs.geojson", data, "usgs-4.5-day")


def flores_usgs() -> Document:
    return usgs(usgs_moved(USGS_DAY, "us7000fx45", **FLORES_BY_USGS))


def run(*documents: Document):
    return simulate(CONFIG, documents, [datetime.now(UTC)], follow=True)


def test_usgs_copy_of_a_quake_bmkg_reported_posts_nothing():
    done = run(bmkg(TERKINI), flores_usgs())
    flores = [w for w in done.warnings if w.event_id == FLORES_BMKG]
    accounts = [w.account for w in flores]
    assert "gempa-nusa-tenggara-timur" in accounts and len(accounts) == len(set(accounts))
    for w in flores:
        assert w.kind is WarningKind.NEW and w.agency == "bmkg"
        assert "M7.4" in w.text and "Sumber: BMKG." in w.text
    # USGS's M6.2 copy, 0.8 s and 0.013 deg off, joined the BMKG event: never news, never posted.
    assert not [w for w in done.warnings if w.event_id == FLORES_USGS]
    assert not [s for s in done.trace if s["event_id"] == FLORES_USGS]
    (joined,) = [s for s in done.trace if s.get("joined")]
    assert (joined["event_id"], joined["joined"], joined["document"]) == (FLORES_BMKG, FLORES_USGS, "usgs.geojson")
    assert not [w for w in done.warnings if "Sumber: USGS" in w.text and "Flores" in w.text]


def test_usgs_first_posts_once_and_bmkg_after_it_updates_without_a_correction():
    done = run(flores_usgs(), bmkg(TERKINI))
    flores = [w for w in done.warnings if w.event_id == FLORES_USGS]
    first = [w for w in flores if w.agency == "usgs"]
    assert first and {w.kind for w in first} == {WarningKind.NEW}
    for w in first:
        # USGS's values, said to be USGS's; no tsunami sentence either way.
        assert "M6.2" in w.text and "Sumber: USGS." in w.text
        assert "tsunami" not in w.text.lower()
    # BMKG's report joined the USGS event: no second NEW for any account, no BMKG event of its own.
    assert not [w for w in done.warnings if w.event_id == FLORES_BMKG]
    for account in {w.account for w in flores}:
        assert [w.kind for w in flores if w.account == account].count(WarningKind.NEW) == 1, account
    updates = [w for w in flores if w.kind is WarningKind.UPDATE]
    assert {w.account for w in updates} == {w.account for w in first}
    for w in updates:
        assert w.agency == "bmkg" and w.text.startswith("INFO BMKG gempa 14 Des 2021 11:20:23 WITA (info awal USGS")
        assert "RALAT" not in w.text and "M7.4" in w.text and "BERPOTENSI TSUNAMI" in w.text
        assert "Sumber: BMKG." in w.text
    # Accounts BMKG's larger quake reaches and USGS's did not get their first post, from BMKG.
    later = [w for w in flores if w.kind is WarningKind.NEW and w.agency == "bmkg"]
    assert later and not {w.account for w in later} & {w.account for w in first}


def test_quakes_of_one_origin_second_far_apart_stay_two():
    # BMKG's Aceh Barat M5.2 (3.65 N 95.84 E, 2023-07-10 01:19:04 UTC), and the recorded USGS
    # feature moved to BMKG's epicentre of the Kabupaten Jayapura M5.0 (2.40 S 140.07 E) at that
    # very second: 44 deg apart, two quakes.
    terkini = ROOT / "feeds/samples/bmkg-tews/gempaterkini_2023-07-12_muhk01.json"
    jayapura = usgs_moved(
        USGS_DAY,
        "us7000fx45",
        usgs_id="us7000fx45",
        time="2023-07-10T01:19:04.000Z",
        lat=-2.40,
        lon=140.07,
        depth=28.0,
        place="42 km BaratLaut KAB-JAYAPURA-PAPUA",
    )
    done = run(bmkg(terkini), usgs(jayapura))
    changes = {s["event_id"]: s["change"] for s in done.trace}
    assert changes["bmkg-eq-20230710T011904Z"] == "new"
    assert changes["usgs-us7000fx45"] == "new"
    papua = [w for w in done.warnings if w.event_id == "usgs-us7000fx45"]
    # Only the provinces of the former Papua, never Aceh's: the two quakes did not merge.
    papua_accounts = {"gempa-papua", "gempa-papua-pegunungan", "gempa-papua-tengah", "gempa-papua-selatan"}
    assert papua and {w.account for w in papua} <= papua_accounts
    assert "gempa-papua" in {w.account for w in papua}
    assert all("Sumber: USGS." in w.text for w in papua)


def test_usgs_tsunami_flag_never_reads_as_a_tsunami_potential():
    # The recorded 2014 feature usb000mzmn carries `tsunami` 1; moved to USGS's solution of the
    # Mentawai M7.3 of 24 Apr 2023.
    doc = usgs_moved(
        "usgs-geojson/usgs_significant_month_2014-03-24_petermooney.geojson", "usb000mzmn", **MENTAWAI_BY_USGS
    )
    done = run(usgs(doc))
    posts = [w for w in done.warnings if w.event_id == "usgs-us7000jvl3"]
    assert "gempa-sumatera-barat" in {w.account for w in posts}
    for w in posts:
        assert "Sumber: USGS." in w.text
        assert "BERPOTENSI TSUNAMI" not in w.text and "Tidak berpotensi" not in w.text
