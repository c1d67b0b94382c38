"""What a later message of a tsunami warning posts to an account that already has it, judged
against the levels the account last posted: a zone raised is an escalation, a zone lowered a
de-escalation, a revised quake a correction ("RALAT"), and nothing material nothing.

Every document here is the real Nagekeo PD-2 of 15 Aug 2026 (feeds/demo/nagekeo/2_PD-2.xml),
or that file with one field changed as a later message of BMKG's could have it: one zone's level,
or the magnitude (in each place the message gives it), and its timesent a minute later, so that it
is the newer message."""

import re
from datetime import UTC, datetime

from tests.conftest import ROOT
from warnd.channels.x import split
from warnd.model import WarningKind
from warnd.runtime.simulate import Document, simulate

CONFIG = ROOT / "config" / "warnd.yaml"
NAGEKEO = ROOT / "feeds" / "demo" / "nagekeo"
PD1 = (NAGEKEO / "1_PD-1.xml").read_bytes()
PD2 = (NAGEKEO / "2_PD-2.xml").read_bytes()
NTT = "gempa-nusa-tenggara-timur"
NGADA_SIAGA = b"<district>NGADA BAGIAN UTARA</district>\n        <level>SIAGA</level>"


def derived(*, ngada: bytes | None = None, magnitude: bytes | None = None) -> bytes:
    """PD-2 with Ngada's north coast at another level and/or another magnitude, sent a minute
    later (05:10:54 WIB instead of 05:09:54)."""
    doc = PD2.replace(b"<timesent>15/08/2026 05:09:54WIB", b"<timesent>15/08/2026 05:10:54WIB")
    assert doc != PD2
    if ngada is not None:
        assert NGADA_SIAGA in doc
        doc = doc.replace(NGADA_SIAGA, NGADA_SIAGA.replace(b"SIAGA", ngada))
    if magnitude is not None:
        # The headline and description repeat the magnitude: a message that disagrees with
        # itself would be rejected (pollers.inatews), so all three change.
        for before, after in (
            (b"<magnitude>7.7</magnitude>", b"<magnitude>" + magnitude + b"</magnitude>"),
            (b"Mag:7.7,", b"Mag:" + magnitude + b","),
            (b"kekuatan:7.7,", b"kekuatan:" + magnitude + b","),
        ):
            assert doc.count(before) == 1
            doc = doc.replace(before, after)
    return doc


def run(*documents: bytes):
    docs = [Document(f"doc{i}.xml", d, "bmkg-inatews-datagempa") for i, d in enumerate(documents)]
    return simulate(CONFIG, docs, [datetime.now(UTC)], follow=True)


def ntt(result):
    return [w for w in result.warnings if w.account == NTT]


def test_a_zone_raised_to_awas_is_an_escalation_led_by_the_level_and_the_evacuation():
    result = run(PD1, PD2, derived(ngada=b"AWAS"))
    posts = ntt(result)
    assert [w.kind for w in posts] == [WarningKind.NEW, WarningKind.ESCALATE, WarningKind.ESCALATE]
    raised = posts[2]
    first = raised.text.splitlines()[0]
    assert first == (
        "NAIK KE AWAS: peringatan dini tsunami untuk Kabupaten Ngada bagian utara. "
        "SEGERA EVAKUASI MENYELURUH ke tempat tinggi, jauhi pantai dan tepian sungai."
    )
    assert "RALAT" not in raised.text
    # Where the account's other zones stand follows, Ngada not repeated at Siaga.
    assert "SIAGA: Kabupaten Manggarai bagian utara, Kabupaten Manggarai Barat bagian utara," in raised.text
    assert "SIAGA: Kabupaten Manggarai bagian utara, Kabupaten Ngada" not in raised.text
    assert raised.level == "awas" and raised.priority.value == "life_safety"
    assert [p.level for p in raised.zone_parts if p.code == "53.09"] == ["awas"]
    # Nothing changed for the other provinces: no post at all, and no RALAT anywhere.
    assert {w.account for w in result.warnings[-1:]} == {NTT}
    assert all("RALAT" not in w.text for w in result.warnings)
    # Each part of the escalation's thread is its own: none repeats a part of an earlier post.
    parts = [p for w in posts for p in split(w.text, lang=w.lang, label=w.thread_label)]
    assert len(set(parts)) == len(parts)
    assert raised.thread_label == "PD-2, info ke-3"


def test_the_real_pd2_raising_ngada_to_siaga_carries_bmkg_s_evacuation_for_siaga():
    # The real sequence: PD-1 warned Ngada's north coast at Waspada, PD-2 raised it to Siaga.
    posts = ntt(run(PD1, PD2))
    assert [w.kind for w in posts] == [WarningKind.NEW, WarningKind.ESCALATE]
    first = posts[1].text.splitlines()[0]
    assert first.startswith("NAIK KE SIAGA: peringatan dini tsunami untuk ") and "Kabupaten Ngada bagian utara" in first
    assert first.endswith("SEGERA EVAKUASI ke tempat tinggi, jauhi pantai dan tepian sungai.")
    # Zones warned for the first time at Waspada are a rise from nothing, with Waspada's advice.
    assert posts[1].text.splitlines()[1] == (
        "NAIK KE WASPADA: peringatan dini tsunami untuk Kabupaten Ende (Pulau Ende), Kabupaten Sikka (Pulau Sikka), "
        "Kabupaten Flores Timur bagian utara. Jauhi pantai dan tepian sungai."
    )
    assert "RALAT" not in posts[1].text


def test_a_zone_lowered_is_a_de_escalation_not_an_escalation_nor_a_correction():
    result = run(PD2, derived(ngada=b"WASPADA"))
    posts = ntt(result)
    assert [w.kind for w in posts] == [WarningKind.NEW, WarningKind.DEESCALATE]
    lowered = posts[1]
    assert lowered.text.startswith("TURUN KE WASPADA: peringatan dini tsunami untuk Kabupaten Ngada bagian utara.")
    assert "Peringatan belum berakhir" in lowered.text and "RALAT" not in lowered.text
    # Nothing changed for the other provinces.
    assert [w.account for w in result.warnings[4:]] == [NTT]


def test_a_revised_quake_with_the_same_zones_is_a_correction():
    result = run(PD2, derived(magnitude=b"7.9"))
    posts = ntt(result)
    assert [w.kind for w in posts] == [WarningKind.NEW, WarningKind.UPDATE]
    assert posts[1].text.startswith("RALAT peringatan dini tsunami (gempa M7.9,")
    # Every account the warning reached gets the correction.
    assert sum(w.kind is WarningKind.UPDATE for w in result.warnings) == 4


def test_a_message_that_changes_nothing_material_posts_nothing():
    # M7.7 -> M7.8 is under the 0.2 a quake's correction needs (changes.MAGNITUDE_STEP).
    result = run(PD2, derived(magnitude=b"7.8"))
    assert [w.kind for w in result.warnings] == [WarningKind.NEW] * 4
    held = [h for s in result.trace[1:] for r in s["rules"] if r["fired"] for h in r["held"]]
    assert {h["reason"] for h in held} == {"not_material"} and len(held) == 4


NTB = "gempa-nusa-tenggara-barat"


def without_ntb(document: bytes) -> bytes:
    """A real PD-3 message with Nusa Tenggara Barat's zones taken out, as BMKG could drop a
    province whose coast the wave model no longer reaches while the warning stays in force."""
    doc, n = re.subn(rb"<wzarea>\s*<province>NTB</province>.*?</wzarea>\s*", b"", document, flags=re.S)
    assert n == 4 and b"<province>NTB</province>" not in doc
    return doc


def test_an_account_whose_zones_are_dropped_is_told_so_once_and_then_told_the_end():
    pd3 = [without_ntb((NAGEKEO / f).read_bytes()) for f in ("3_PD-3.1.xml", "4_PD-3.2.xml")]
    pd4 = (NAGEKEO / "7_PD-4.xml").read_bytes()
    result = run(PD1, PD2, *pd3, pd4)
    posts = [w for w in result.warnings if w.account == NTB]
    assert [w.kind for w in posts] == [WarningKind.NEW, WarningKind.DEESCALATE, WarningKind.ALL_CLEAR]
    dropped = posts[1]
    assert dropped.text.startswith(
        "TIDAK LAGI DALAM PERINGATAN DINI TSUNAMI: Kabupaten Bima (Pulau Sangiang, Pulau Gili), Kota Bima bagian"
        " utara, Kabupaten Dompu bagian utara. Tetap waspada."
    )
    assert "Peringatan belum berakhir." in dropped.text
    assert {r.code for r in dropped.regions} == {r.code for r in posts[0].regions}
    # The end names what the account had warned, though PD-4 lists no zone of it.
    assert "PERINGATAN DINI TSUNAMI BERAKHIR" in posts[2].text and "Kabupaten Dompu" in posts[2].text
    # The other provinces still under the warning are not told anything of the kind.
    assert not [w for w in result.warnings if w.account != NTB and w.kind is WarningKind.DEESCALATE]
