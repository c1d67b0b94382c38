"""The starter configuration against real recorded documents, through `simulate` (ledger, rules,
lifecycle, render; an in-memory database, nothing posted)."""

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import ROOT, sample
from warnd.channels.x import split, weighted
from warnd.cli import main
from warnd.model import WarningKind
from warnd.runtime.simulate import Document, simulate
from warnd.shaking import felt_radius_km

CONFIG = ROOT / "config" / "warnd.yaml"
NAGEKEO = sorted((ROOT / "feeds" / "demo" / "nagekeo").iterdir())


def docs(*paths, feed=None):
    return [Document(str(p), Path(p).read_bytes(), feed or Path(p).name) for p in paths]


@pytest.fixture(scope="module")
def nagekeo():
    return simulate(CONFIG, docs(*NAGEKEO), [datetime.now(UTC)], follow=True)


def test_nagekeo_each_province_account_gets_one_warning_its_updates_and_one_end(nagekeo):
    by_account = defaultdict(list)
    for w in nagekeo.warnings:
        assert w.rule == "tsunami" and w.event_id == "bmkg-tsunami-20260814T215823Z"
        by_account[w.account].append(w)
    # Zones reached NTT, NTB, Sulawesi Selatan and Sulawesi Tenggara.
    assert set(by_account) == {
        "gempa-nusa-tenggara-timur",
        "gempa-nusa-tenggara-barat",
        "gempa-sulawesi-selatan",
        "gempa-sulawesi-tenggara",
    }
    for account, ws in by_account.items():
        kinds = [w.kind for w in ws]
        assert kinds[0] is WarningKind.NEW and kinds.count(WarningKind.NEW) == 1, account
        assert kinds[-1] is WarningKind.ALL_CLEAR and kinds.count(WarningKind.ALL_CLEAR) == 1, account
        assert set(kinds[1:-1]) <= {WarningKind.UPDATE, WarningKind.ESCALATE}, account
        assert all(w.priority.value == "life_safety" for w in ws)
    ntt = by_account["gempa-nusa-tenggara-timur"]
    # PD-1 (M7.0, Ngada's north coast at Waspada); PD-2 raised it to Siaga and warned five more
    # zones of the province: an escalation, not a correction, though it also revised the quake to
    # M7.7; the PD-3 updates (PD-3.4 says nothing PD-3.3 did not, for this account: not posted
    # again), the end.
    assert [w.kind for w in ntt] == [
        WarningKind.NEW,
        WarningKind.ESCALATE,
        *[WarningKind.UPDATE] * 3,
        WarningKind.ALL_CLEAR,
    ]
    assert len({w.text for w in ntt}) == len(ntt)
    assert "M7.0" in ntt[0].text and "WASPADA: Kabupaten Ngada bagian utara." in ntt[0].text
    assert ntt[1].text.startswith("NAIK KE SIAGA: peringatan dini tsunami untuk Kabupaten Manggarai bagian utara, ")
    assert "Kabupaten Ngada bagian utara" in ntt[1].text.splitlines()[0]
    assert "SEGERA EVAKUASI ke tempat tinggi" in ntt[1].text.splitlines()[0]
    assert "RALAT" not in ntt[1].text
    assert "M7.7" in ntt[1].text and "info awal 15 Agu 2026 06:00:37 WITA" in ntt[1].text
    assert all("TSUNAMI TERDETEKSI" in w.text for w in ntt[2:5])
    assert "Maurole-Ende 0.94 m" in ntt[4].text
    assert "BERAKHIR" in ntt[5].text
    for w in nagekeo.warnings:
        assert w.text and all(weighted(part) <= 280 for part in split(w.text, lang=w.lang, label=w.thread_label))
    # Each account names only its own province's regencies.
    assert all(r.code.startswith("53") for w in ntt for r in w.regions)


def test_nagekeo_no_thread_part_repeats_another_post_s_part_on_an_account(nagekeo):
    """Successive updates list the same regencies: each part carries its post's stage."""
    by_account = defaultdict(list)
    for w in nagekeo.warnings:
        by_account[w.account].append(w)
    for account, ws in by_account.items():
        parts = [p for w in ws for p in split(w.text, lang=w.lang, label=w.thread_label)]
        assert len(set(parts)) == len(parts), account
    assert sum(len(split(w.text, lang=w.lang, label=w.thread_label)) > 1 for w in nagekeo.warnings) >= 10
    ntt = by_account["gempa-nusa-tenggara-timur"]
    assert [w.thread_label for w in ntt] == ["PD-1", "PD-2", "PD-3.1", "PD-3.2", "PD-3.3", "PD-4"]
    # The PD-3.3 update's regency lists reach X under its own label.
    pd33 = split(ntt[4].text, lang="id", label="PD-3.3")
    assert len(pd33) > 1 and all(p.endswith(f" PD-3.3 {i}/{len(pd33)}") for i, p in enumerate(pd33, 1))
    assert any("SIAGA: Kabupaten Manggarai bagian utara" in p for p in pd33[1:])


# The regencies of the Nagekeo zones (config/regions/codes.csv), worst level and earliest arrival
# first: PD-1 had Ngada's north coast; PD-2 .. PD-3.4 the 22 zones of 18 regencies (Ende, Sikka,
# Bima and Luwu each have two zones; LUWU BAGIAN TIMUR/UTARA are Kabupaten Luwu, 73.17).
NAGEKEO_PD1 = ["53.09"]
NAGEKEO_PD2 = [
    *("53.10", "53.09", "53.15", "73.01", "53.08", "53.07", "73.04", "73.03"),  # Siaga
    *("52.06", "52.72", "53.06", "52.05", "74.72", "73.05", "73.08", "73.13", "73.17", "73.73"),  # Waspada
]


def test_nagekeo_every_zone_maps_to_its_regency(nagekeo):
    fired = {
        Path(s["document"]).name: r for s in nagekeo.trace for r in s["rules"] if r["rule"] == "tsunami" and r["fired"]
    }
    assert sorted(fired) == [p.name for p in NAGEKEO]
    assert all(r["unmapped_zones"] == [] for r in fired.values())
    assert fired["1_PD-1.xml"]["regions"] == NAGEKEO_PD1
    for name in ("2_PD-2.xml", "3_PD-3.1.xml", "4_PD-3.2.xml", "5_PD-3.3.xml", "6_PD-3.4.xml", "7_PD-4.xml"):
        assert fired[name]["regions"] == NAGEKEO_PD2, name
    ntt = [w for w in nagekeo.warnings if w.account == "gempa-nusa-tenggara-timur"]
    assert [r.code for r in ntt[0].regions] == ["53.09"]
    assert [r.code for r in ntt[1].regions] == ["53.10", "53.09", "53.15", "53.08", "53.07", "53.06"]
    sulsel = [w for w in nagekeo.warnings if w.account == "gempa-sulawesi-selatan"]
    assert [r.code for r in sulsel[0].regions] == [
        "73.01",
        "73.04",
        "73.03",
        "73.05",
        "73.08",
        "73.13",
        "73.17",
        "73.73",
    ]
    assert "Kabupaten Luwu (bagian timur dan utara)" in sulsel[0].text and "Luwu Timur" not in sulsel[0].text


def test_felt_quake_warns_nearby_regencies_only():
    run = simulate(
        CONFIG,
        docs(ROOT / "feeds/samples/bmkg-tews/autogempa_2021-10-05_dompu_arraysyams.json"),
        [datetime.now(UTC)],
        follow=True,
    )
    (w,) = run.warnings
    assert w.account == "gempa-nusa-tenggara-barat" and w.rule == "gempa-dirasakan"
    # At sea off Dompu (felt there, by its felt list); Bima and Sumbawa have kecamatan within the
    # MMI II-III radius.
    assert {r.name for r in w.regions} == {"Kabupaten Dompu", "Kabupaten Bima", "Kabupaten Sumbawa"}
    # M4.5 at 20 km: MMI II-III reaches about this far; Lombok (150 km west) is not named.
    assert 50 < felt_radius_km(4.5, 20, 2.5) < 90
    assert "Lombok" not in w.text


def test_tsunami_warning_inhibits_the_quake_post_only_for_the_accounts_it_reached():
    # Mentawai M7.3, 25 Apr 2023: the PD-1 names only Nias Selatan (Sumatera Utara); the felt
    # message of the same quake reports MMI VI in Siberut and Mentawai (Sumatera Barat).
    pd1 = ROOT / "feeds/samples/bmkg-inatews/datagempa_2023-04-25_PD-1_mentawai-m7.3_arraysyams.json"
    felt = ROOT / "feeds/samples/bmkg-inatews/datagempa_2023-04-25_felt_mentawai-m7.3_arraysyams.json"
    run = simulate(CONFIG, docs(pd1, felt), [datetime.now(UTC)], follow=True)
    posts = {(w.account, w.rule) for w in run.warnings}
    # The tsunami warning went to Sumatera Utara only; the quake (felt far: M7.3 at 84 km) is
    # posted to every other province it reaches, Sumatera Barat first among them.
    assert {a for a, r in posts if r == "tsunami"} == {"gempa-sumatera-utara"}
    assert ("gempa-sumatera-utara", "gempa-kuat") not in posts
    assert ("gempa-sumatera-barat", "gempa-kuat") in posts
    quake = next(w for w in run.warnings if w.rule == "gempa-kuat" and w.account == "gempa-sumatera-barat")
    assert quake.kind is WarningKind.NEW and "M7.3" in quake.text and "VI Siberut" in quake.text
    assert all(r.code.startswith("13") for r in quake.regions)
    held = [h for s in run.trace for r in s["rules"] for h in r.get("held", []) if h["reason"] == "inhibited"]
    assert [h["account"] for h in held] == ["gempa-sumatera-utara"]
    assert "bmkg-tsunami-20230424T200057Z" in held[0]["detail"]


def test_exercise_messages_do_not_fire_the_starter_rules():
    tes = ROOT / "feeds/samples/bmkg-inatews/datagempa_2021-02-05_TES_PD-1_jayapura_arraysyams.json"
    run = simulate(CONFIG, docs(tes), [datetime.now(UTC)], follow=True)
    assert not run.warnings
    assert any(r.get("reason") == "status_mismatch" for s in run.trace for r in s["rules"])


def test_cap_weather_warning_goes_to_the_province_of_its_area():
    cap = ROOT / "feeds/samples/bmkg-nowcast/nowcast-cap_CBT20260216004_banten_2026-02-16_dhanyyudi.xml"
    run = simulate(CONFIG, docs(cap), [datetime(2026, 2, 16, 16, 5, tzinfo=UTC)])
    assert {w.account for w in run.warnings} == {"gempa-banten"}
    (w,) = run.warnings
    assert (
        w.rule == "cuaca-ekstrem" and "Hujan Lebat dan Petir" in w.text and "hingga 17 Feb 2026 02:00:00 WIB" in w.text
    )
    assert all(r.code.startswith("36") for r in w.regions)


def gauge_doc(t, cm, previous=None):
    props = {
        "station": "uji-1",
        "name": "Pintu Air Uji",
        "time": t.isoformat(),
        "level_cm": cm,
        "thresholds_cm": {"siaga3": 150, "siaga2": 200, "siaga1": 250},
    }
    if previous is not None:
        props["previous_cm"] = previous
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [106.8486, -6.2078]},
        "properties": props,
    }
    return json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()


def test_flapping_gauge_posts_once_and_one_all_clear():
    t0 = datetime(2026, 11, 20, 8, tzinfo=UTC)
    series = [140, 155, 145, 152, 148, 151, 149, 150, 120, 110, 100, 100, 95, 90, 90, 90]  # every 10 min
    documents = [
        Document(f"g{i}", gauge_doc(t0 + timedelta(minutes=10 * i), cm, series[i - 1] if i else None), "gauge")
        for i, cm in enumerate(series)
    ]
    run = simulate(CONFIG, documents, [t0 + timedelta(hours=6)], follow=True)
    kinds = [w.kind for w in run.warnings]
    # One Siaga 3 post however often it flaps; the all-clear only an hour after it.
    assert kinds == [WarningKind.NEW, WarningKind.ALL_CLEAR]
    posted = run.warnings[0].created_at
    assert run.warnings[1].created_at - posted >= timedelta(hours=1)
    reasons = {h["reason"] for s in run.trace for r in s["rules"] for h in r.get("held", [])}
    assert {"no_level_change", "hysteresis"} <= reasons


def test_gauge_jump_waits_for_confirmation_then_escalates():
    t0 = datetime(2026, 11, 20, 8, tzinfo=UTC)
    series = [160, 300, 90, 160, 300, 305]  # a one-reading spike to Siaga 1, then a real rise
    documents = [
        Document(f"g{i}", gauge_doc(t0 + timedelta(minutes=10 * i), cm, series[i - 1] if i else None), "gauge")
        for i, cm in enumerate(series)
    ]
    run = simulate(CONFIG, documents, [t0 + timedelta(hours=6)], follow=True)
    assert [(w.kind, w.level) for w in run.warnings] == [(WarningKind.NEW, "siaga3"), (WarningKind.ESCALATE, "siaga1")]
    assert run.warnings[1].created_at == t0 + timedelta(minutes=50)


def test_against_shows_what_a_rule_edit_changes(tmp_path, capsys):
    config_dir = tmp_path / "config"
    import shutil

    shutil.copytree(ROOT / "config", config_dir, ignore=shutil.ignore_patterns("regions"))
    (config_dir / "regions").symlink_to(ROOT / "config" / "regions")
    rules = config_dir / "rules" / "gempa.yaml"
    rules.write_text(rules.read_text().replace('intensity: ">= 2.5"', 'intensity: ">= 1.5"'))
    (config_dir / "warnd.yaml").write_text(
        (config_dir / "warnd.yaml").read_text().replace("feed_catalogue: ../feeds", f"feed_catalogue: {ROOT / 'feeds'}")
    )
    doc = str(ROOT / "feeds/samples/bmkg-tews/autogempa_2021-10-05_dompu_arraysyams.json")
    assert (
        main(["simulate", "-c", str(CONFIG), "--against", str(config_dir / "warnd.yaml"), "--format", "json", doc]) == 0
    )
    changes = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert changes and {c["change"] for c in changes} <= {"changed", "added"}
    assert any("Sumbawa" in c["text"] for c in changes)


def test_simulate_cli_table_and_explain(capsys):
    doc = str(ROOT / "feeds/samples/bmkg-tews/autogempa_2024-01-10_sumedang_aldii.json")
    assert main(["simulate", "-c", str(CONFIG), "--explain", doc]) == 0
    out = capsys.readouterr().out
    assert "gempa-dirasakan: not fired: below_threshold: magnitude 2.8 fails magnitude >= 3" in out
    assert out.rstrip().endswith("# 0 warning(s)")
    assert sample  # the shared helper stays importable


def with_silence(tmp_path, silence_yaml):
    import shutil

    config_dir = tmp_path / "config"
    shutil.copytree(ROOT / "config", config_dir, ignore=shutil.ignore_patterns("regions"))
    (config_dir / "regions").symlink_to(ROOT / "config" / "regions")
    cfg = config_dir / "warnd.yaml"
    text = cfg.read_text().replace("feed_catalogue: ../feeds", f"feed_catalogue: {ROOT / 'feeds'}")
    cfg.write_text(text + "\nsilences:\n" + silence_yaml)
    return cfg


def test_a_silence_mutes_a_quake_post_but_never_a_tsunami_warning(tmp_path):
    cfg = with_silence(
        tmp_path,
        "  - {account: gempa-nusa-tenggara-barat, until: '2030-01-01T00:00:00+07:00', reason: uji coba}\n"
        "  - {account: gempa-nusa-tenggara-timur, until: '2030-01-01T00:00:00+07:00', reason: uji coba}\n",
    )
    dompu = simulate(
        cfg,
        docs(ROOT / "feeds/samples/bmkg-tews/autogempa_2021-10-05_dompu_arraysyams.json"),
        [datetime.now(UTC)],
        follow=True,
    )
    assert not dompu.warnings
    held = [h for s in dompu.trace for r in s["rules"] for h in r.get("held", [])]
    assert held[0]["reason"] == "silenced" and "uji coba" in held[0]["detail"]
    tsunami = simulate(cfg, docs(NAGEKEO[0]), [datetime.now(UTC)], follow=True)
    assert [w.account for w in tsunami.warnings] == ["gempa-nusa-tenggara-timur"]


def test_a_silence_without_a_time_zone_is_a_config_error(tmp_path):
    from warnd.errors import ConfigError
    from warnd.runtime.build import build

    cfg = with_silence(tmp_path, "  - {account: gempa-bali, until: '2030-01-01T00:00:00', reason: x}\n")
    with pytest.raises(ConfigError) as e:
        build(cfg, with_senders=False)
    assert "silences[0].until" in str(e.value.problems[0]) and "time zone" in str(e.value.problems[0])


def test_silence_commands_on_a_state_database(tmp_path, capsys):
    cfg = with_silence(tmp_path, "  []\n")
    cfg.write_text(cfg.read_text().replace("state_dir: /var/lib/warnd", f"state_dir: {tmp_path / 'state'}"))
    assert main(["silence", "add", "-c", str(cfg), "--region", "52", "--for", "2h", "--reason", "pemeliharaan"]) == 0
    assert main(["silence", "add", "-c", str(cfg), "--account", "nobody", "--for", "2h", "--reason", "x"]) == 2
    assert main(["silence", "list", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "region 52" in out and "pemeliharaan" in out
    assert main(["silence", "expire", "-c", str(cfg), "1"]) == 0
    assert main(["silence", "expire", "-c", str(cfg), "1"]) == 1
    capsys.readouterr()
    assert main(["silence", "list", "-c", str(cfg)]) == 0
    assert capsys.readouterr().out == ""


def with_rules(tmp_path, rules_yaml, extra=""):
    cfg = with_silence(tmp_path, "  []\n")
    (cfg.parent / "rules" / "extra.yaml").write_text(rules_yaml)
    cfg.write_text(cfg.read_text() + extra)
    return cfg


def test_exercise_rule_posts_with_latihan_and_groups_limit_regions(tmp_path):
    cfg = with_rules(
        tmp_path,
        """rules:
  - id: latihan-tsunami
    match: {hazard: tsunami, status: [exercise]}
    where: {groups: [jayapura-raya], level: regency}
    then: {accounts: ["*"], template: tsunami, priority: life_safety}
""",
        "region_groups:\n  jayapura-raya: ['91.03', '91.71']\n",
    )
    tes = ROOT / "feeds/samples/bmkg-inatews/datagempa_2021-02-05_TES_PD-1_jayapura_arraysyams.json"
    run = simulate(cfg, docs(tes), [datetime.now(UTC)], follow=True)
    assert run.warnings
    for w in run.warnings:
        assert w.rule == "latihan-tsunami" and w.status.value == "exercise"
        assert w.text.startswith("LATIHAN - PERINGATAN DINI TSUNAMI")
        assert {r.code for r in w.regions} <= {"91.03", "91.71"}


def test_unknown_region_group_is_a_config_error(tmp_path):
    from warnd.errors import ConfigError
    from warnd.runtime.build import build

    cfg = with_rules(
        tmp_path,
        "rules:\n  - {id: x, match: {hazard: flood}, where: {groups: [nowhere]},"
        " then: {accounts: ['*'], template: flood}}\n",
    )
    with pytest.raises(ConfigError) as e:
        build(cfg, with_senders=False)
    assert any("extra.yaml" in str(p) and "unknown region group 'nowhere'" in str(p) for p in e.value.problems)


def test_cooldown_holds_a_second_new_post_but_not_life_safety(tmp_path):
    cfg = with_rules(tmp_path, "rules: []\n")
    rules = cfg.parent / "rules" / "gempa.yaml"
    rules.write_text(rules.read_text().replace("      priority: normal", "      priority: normal\n      cooldown: 1h"))
    first = (ROOT / "feeds/samples/bmkg-tews/autogempa_2021-10-05_dompu_arraysyams.json").read_text()
    second = (
        first.replace("18:00:27", "18:20:27")
        .replace("11:00:27", "11:20:27")
        .replace('"4.5"', '"4.1"')
        .replace("20211005180027", "20211005182027")
    )
    documents = [Document("a.json", first.encode(), "f"), Document("b.json", second.encode(), "f")]
    run = simulate(cfg, documents, [datetime.now(UTC)], follow=True)
    assert [w.event_id for w in run.warnings] == ["bmkg-eq-20211005T110027Z"]
    held = [h for s in run.trace for r in s["rules"] for h in r.get("held", [])]
    assert [h["reason"] for h in held] == ["cooldown"]
    # Without the cooldown both quakes are posted.
    plain = simulate(CONFIG, documents, [datetime.now(UTC)], follow=True)
    assert len(plain.warnings) == 2


def test_two_quakes_of_one_second_far_apart_are_two_warnings_to_their_own_provinces():
    from tests.conftest import tews_doc, tews_entry, tews_moved

    # Aceh Barat M5.2 (gempaterkini, 10 Jul 2023 01:19:04 UTC) and a copy made from it with the
    # same origin second, moved over 4,000 km onto Manokwari: BMKG would give both one id.
    real = tews_entry("gempaterkini_2023-07-12_muhk01.json", "63 km BaratDaya MEULABOH")
    moved = tews_moved(real, -0.86, 134.06, "20 km Utara MANOKWARI-PAPUABRT")
    run = simulate(
        CONFIG,
        [
            Document("aceh", tews_doc(real, "gempaterkini"), "bmkg-gempaterkini"),
            Document("papua", tews_doc(moved, "gempaterkini"), "bmkg-gempaterkini"),
            # The next poll shows both again, in the other order.
            Document("again", tews_doc(moved, "gempaterkini"), "bmkg-gempaterkini"),
            Document("again-2", tews_doc(real, "gempaterkini"), "bmkg-gempaterkini"),
        ],
        [datetime(2023, 7, 10, 1, 25, tzinfo=UTC)],
    )
    assert not [w for w in run.warnings if "RALAT" in w.text]
    assert {w.kind for w in run.warnings} == {WarningKind.NEW}
    by_account = {w.account: w for w in run.warnings}
    assert len(by_account) == len(run.warnings)
    assert {"gempa-aceh", "gempa-papua-barat"} <= set(by_account)
    aceh, papua = by_account["gempa-aceh"], by_account["gempa-papua-barat"]
    assert aceh.event_id == "bmkg-eq-20230710T011904Z" != papua.event_id
    assert all(r.code.startswith("11") for r in aceh.regions)
    assert all(r.code.startswith("92") for r in papua.regions)
    assert "Aceh Barat" in aceh.text and "Manokwari" in papua.text


NATIONAL_ACCOUNT = (
    '  gempa-indonesia: {channel: x, name: "Peringatan Dini Indonesia", regions: [], credential: x-indonesia}\n'
)


def _with_national_account(folder: Path) -> Path:
    """The shipped configuration with a national X account (no home regions: every region)
    beside the 38 provincial ones, written where its relative paths still resolve."""
    text = CONFIG.read_text()
    conf = ROOT / "config"
    for old, new in (
        ("feed_catalogue: ../feeds", f"feed_catalogue: {ROOT / 'feeds'}"),
        ("path: regions/provinces", f"path: {conf / 'regions'}/provinces"),
        ("path: regions/regencies", f"path: {conf / 'regions'}/regencies"),
        ("district_points: regions/", f"district_points: {conf / 'regions'}/"),
        ("place_aliases: regions/", f"place_aliases: {conf / 'regions'}/"),
        ("templates: templates", f"templates: {conf / 'templates'}"),
        ("  - rules/*.yaml", f"  - {conf / 'rules'}/*.yaml"),
        ("accounts:\n", "accounts:\n" + NATIONAL_ACCOUNT),
    ):
        assert old in text, old
        text = text.replace(old, new, 1)
    cfg = folder / "warnd.yaml"
    cfg.write_text(text)
    return cfg


def test_a_national_account_beside_the_provincial_ones_never_posts_the_same_text(tmp_path, capsys):
    cfg = _with_national_account(tmp_path)
    assert main(["check", "-c", str(cfg)]) == 0, capsys.readouterr().err
    tews = ROOT / "feeds" / "samples" / "bmkg-tews"
    quakes = [
        tews / "gempaterkini_2021-12-14_flores-m7.4_arraysyams.json",
        tews / "gempadirasakan_2025-12-24_darcien.json",
        tews / "autogempa_2021-10-05_dompu_arraysyams.json",
    ]
    warnings = [
        *simulate(cfg, docs(*NAGEKEO), [datetime.now(UTC)], follow=True).warnings,
        # Recorded lists, replayed as current.
        *simulate(cfg, docs(*quakes), [datetime.now(UTC)], follow=True).warnings,
    ]
    by_text = defaultdict(set)
    for w in warnings:
        by_text[w.text].add(w.account)
    national = [w for w in warnings if w.account == "gempa-indonesia"]
    assert len(national) >= 10 and len(warnings) > 2 * len(national)
    assert {len(accounts) for accounts in by_text.values()} == {1}, [
        (sorted(a), t) for t, a in by_text.items() if len(a) > 1
    ]
    # The case that needs it: the national account warns exactly the regencies one provincial
    # account warns, for the same event and kind; the texts differ by the account's area only.
    same = [
        (n, p)
        for n in national
        for p in warnings
        if p.account != n.account and (p.event_id, p.kind, p.regions) == (n.event_id, n.kind, n.regions)
    ]
    assert len(same) >= 5
    for n, p in same:
        assert "#Indonesia" in n.text and "#Indonesia" not in p.text
        assert n.text.replace("#Indonesia", "") != p.text.replace("#Indonesia", "")


def test_age_is_judged_against_a_clock_given_never_against_the_documents_own(capsys):
    # gempaterkini of 12 Jul 2023. Following the document's own time, its quakes are current.
    terkini = ROOT / "feeds/samples/bmkg-tews/gempaterkini_2023-07-12_muhk01.json"
    followed = simulate(CONFIG, docs(terkini), [datetime.now(UTC)], follow=True)
    assert followed.warnings and not [s for s in followed.trace if "too_old" in s]
    # At a clock given (today), every quake a rule matched is three years old: recorded, held.
    today = simulate(CONFIG, docs(terkini), [datetime(2026, 11, 29, tzinfo=UTC)])
    assert not today.warnings
    held = [s for s in today.trace if "too_old" in s]
    assert {s["event_id"] for s in held} == {w.event_id for w in followed.warnings}
    assert all(s["too_old"]["reason"] == "stale" for s in held)
    reasons = {h["reason"] for s in today.trace for r in s["rules"] for h in r.get("held", [])}
    assert reasons == {"stale"}
    # Said in --explain, by event.
    assert main(["simulate", "-c", str(CONFIG), "--explain", "--at", "2026-11-29T00:00:00Z", str(terkini)]) == 0
    out = capsys.readouterr().out
    assert "bmkg-eq-20230630T125743Z new\n#   too old to post (stale): origin time 2023-06-30T12:57:43+00:00" in out
    assert out.rstrip().endswith("# 0 warning(s)")


def test_parts_show_each_channel_s_thread_for_an_account_on_four_channels(tmp_path, capsys):
    import shutil

    from warnd.channels import bluesky_text, mastodon, telegram

    config_dir = tmp_path / "config"
    shutil.copytree(ROOT / "config", config_dir, ignore=shutil.ignore_patterns("regions"))
    (config_dir / "regions").symlink_to(ROOT / "config" / "regions")
    cfg = config_dir / "warnd.yaml"
    one = (
        '  gempa-nusa-tenggara-timur: {channel: x, name: "Peringatan Dini Nusa Tenggara Timur", regions: ["53"],'
        " credential: x-nusa-tenggara-timur}"
    )
    four = """  gempa-nusa-tenggara-timur:
    name: "Peringatan Dini Nusa Tenggara Timur"
    regions: ["53"]
    channels:
      x: {credential: x-nusa-tenggara-timur}
      telegram: {credential: tg-ntt, chat_id: "@gempa_ntt"}
      mastodon: {credential: mastodon-ntt, instance: "https://mastodon.example"}
      bluesky: {handle: gempa-ntt.bsky.social, credential: bsky-ntt}"""
    text = cfg.read_text()
    assert one in text
    cfg.write_text(text.replace(one, four).replace("feed_catalogue: ../feeds", f"feed_catalogue: {ROOT / 'feeds'}"))

    docs = [str(p) for p in NAGEKEO]
    assert main(["simulate", "-c", str(cfg), "--parts", "--format", "json", *docs]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    ntt = [r for r in rows if r["account"] == "gempa-nusa-tenggara-timur"]
    assert ntt and all(set(r["parts"]) == {f"account:gempa-nusa-tenggara-timur/{c}" for c in CHANNELS} for r in ntt)
    for r in ntt:
        parts = r["parts"]
        label, lang = r.get("thread_label"), r["lang"]
        # Each channel cuts the one text by its own measure, and no part loses a word of it.
        assert parts["account:gempa-nusa-tenggara-timur/x"] == split(r["text"], lang=lang, label=label)
        assert parts["account:gempa-nusa-tenggara-timur/telegram"] == telegram.split(r["text"], lang=lang, label=label)
        assert parts["account:gempa-nusa-tenggara-timur/mastodon"] == mastodon.split(
            r["text"], mastodon.DEFAULT_LIMIT, lang, label
        )
        assert parts["account:gempa-nusa-tenggara-timur/bluesky"] == bluesky_text.split(
            r["text"], lang=lang, label=label
        )
        assert all(weighted(p) <= 280 for p in parts["account:gempa-nusa-tenggara-timur/x"])
    # The longest warning is a thread on X and one message on Telegram.
    longest = max(ntt, key=lambda r: len(r["text"]))
    assert len(longest["parts"]["account:gempa-nusa-tenggara-timur/x"]) > 1
    assert longest["parts"]["account:gempa-nusa-tenggara-timur/telegram"] == [longest["text"]]
    # A one-channel account keeps its one target.
    ntb = [r for r in rows if r["account"] == "gempa-nusa-tenggara-barat"]
    assert ntb and all(set(r["parts"]) == {"account:gempa-nusa-tenggara-barat"} for r in ntb)

    assert main(["simulate", "-c", str(cfg), "--parts", *docs]) == 0
    out = capsys.readouterr().out
    assert "[account:gempa-nusa-tenggara-timur/telegram (telegram): 1 part]" in out


CHANNELS = ("x", "telegram", "mastodon", "bluesky")
