"""The shipped feed catalogue: every real source loads, is polite to BMKG, and names its
attribution and staleness."""

from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, write_config
from warnd.config.load import load
from warnd.config.schema import FeedSpec
from warnd.errors import ConfigError
from warnd.pollers.registry import FORMATS
from warnd.runtime.build import build, requests_per_minute

CATALOGUE = sorted((ROOT / "feeds").glob("*.yaml"))
SPECS = {p.stem: FeedSpec.model_validate(yaml.safe_load(p.read_text())) for p in CATALOGUE}


def test_every_format_has_a_catalogue_entry_and_every_entry_a_format():
    assert {s.format for s in SPECS.values()} == set(FORMATS) - {"gauge-geojson"}
    for name, spec in SPECS.items():
        assert spec.id == name, f"{name}.yaml declares id {spec.id}"
        assert spec.attribution, name
        assert spec.timeout <= spec.interval or spec.id.startswith("drill-"), name
        if not spec.id.startswith("drill-"):
            assert spec.stale_after, f"{name} has no stale_after: its silence would go unnoticed"


CRITICAL = {
    "bmkg-inatews-datagempa",
    "bmkg-inatews-last30event",
    "bmkg-inatews-last30feltevent",
    "bmkg-inatews-last30tsunamievent",
    "bmkg-autogempa",
    "bmkg-gempaterkini",
    "bmkg-gempadirasakan",
    "bmkg-realtime-gempaql",
    "bmkg-realtime-live30event",
}


def test_tsunami_and_earthquake_feeds_are_critical_and_alarm_within_a_minute_of_failing():
    assert {name for name, spec in SPECS.items() if spec.critical} == CRITICAL
    for name in CRITICAL:
        assert SPECS[name].fail_limit <= 60, name


def test_a_feed_that_does_not_say_fails_after_three_intervals_and_never_under_a_minute(tmp_path):
    feeds = (
        "  - use: bmkg-autogempa\n"
        "  - {use: bmkg-autogempa, id: relaxed, critical: false, fail_after: 5m}\n"
        "  - {id: gauges, format: petabencana, url: http://127.0.0.1:9/x, interval: 5m}\n"
        "  - {id: fast, format: bmkg-tews, url: http://127.0.0.1:9/y, interval: 5s}\n"
    )
    cfg = load(write_config(tmp_path, feeds=feeds, rules="rules: []\n", extra=f"feed_catalogue: {ROOT / 'feeds'}\n"))
    got = {f.spec.id: (f.spec.critical, f.spec.fail_limit) for f in cfg.feeds}
    assert got == {
        "bmkg-autogempa": (True, 60.0),
        "relaxed": (False, 300.0),
        "gauges": (False, 900.0),
        "fast": (False, 60.0),
    }


def test_tsunami_feed_is_polled_every_five_seconds():
    spec = SPECS["bmkg-inatews-datagempa"]
    assert spec.interval == 5 and spec.backoff_max <= 30


def test_all_bmkg_feeds_together_stay_under_bmkg_limit(tmp_path):
    bmkg = [s for s in SPECS.values() if "bmkg" in s.url]
    feeds = "".join(f"  - use: {s.id}\n" for s in bmkg)
    cfg_path = write_config(tmp_path, feeds=feeds, rules="rules: []\n", extra=f"feed_catalogue: {ROOT / 'feeds'}\n")
    rate = requests_per_minute(load(cfg_path))["bmkg"]
    assert len(bmkg) >= 10 and rate < 60, rate
    build(cfg_path, with_senders=False)


def test_too_eager_bmkg_polling_is_refused_by_check(tmp_path):
    feeds = "".join(
        f"  - {{use: bmkg-inatews-datagempa, id: extra-{i}, interval: 1s, timeout: 1s}}\n" for i in range(2)
    )
    cfg_path = write_config(tmp_path, feeds=feeds, rules="rules: []\n", extra=f"feed_catalogue: {ROOT / 'feeds'}\n")
    with pytest.raises(ConfigError) as e:
        build(cfg_path, with_senders=False)
    assert "requests per minute" in str(e.value.problems[0])


@pytest.mark.parametrize("config", ["config/warnd.yaml", "config/demo.yaml"])
def test_shipped_configs_check_clean(config):
    build(Path(ROOT / config), with_senders=False)


def test_max_age_comes_from_the_catalogue_entry_and_the_config_entry_overrides_it(tmp_path):
    catalogue = tmp_path / "catalogue"
    catalogue.mkdir()
    entry = (ROOT / "feeds" / "bmkg-gempaterkini.yaml").read_text()
    (catalogue / "bmkg-gempaterkini.yaml").write_text(entry + "max_age: 2h\n")
    (catalogue / "bmkg-autogempa.yaml").write_text((ROOT / "feeds" / "bmkg-autogempa.yaml").read_text())
    feeds = "  - use: bmkg-gempaterkini\n  - use: bmkg-autogempa\n  - {use: bmkg-autogempa, id: auto-2, max_age: 90m}\n"
    cfg = load(write_config(tmp_path, feeds=feeds, rules="rules: []\n", extra=f"feed_catalogue: {catalogue}\n"))
    assert {f.spec.id: f.spec.max_age for f in cfg.feeds} == {
        "bmkg-gempaterkini": 7200.0,
        "bmkg-autogempa": None,  # by hazard
        "auto-2": 5400.0,
    }
    assert cfg.file.replay is False


def test_a_max_age_that_is_no_duration_is_refused_where_it_is_written(tmp_path):
    feeds = "  - {use: bmkg-autogempa, max_age: soon}\n"
    cfg_path = write_config(tmp_path, feeds=feeds, rules="rules: []\n", extra=f"feed_catalogue: {ROOT / 'feeds'}\n")
    with pytest.raises(ConfigError) as e:
        load(cfg_path)
    assert "feeds[0].max_age" in str(e.value.problems[0]) and "not a duration" in str(e.value.problems[0])


def test_only_the_demo_replays_recorded_documents_as_current():
    assert load(ROOT / "config" / "demo.yaml").file.replay is True
    assert load(ROOT / "config" / "warnd.yaml").file.replay is False


def test_the_demo_water_gate_rule_is_the_production_rule_but_for_its_wait():
    """The demo plays hourly gate readings every three seconds; only the hysteresis is cut to fit."""
    rules = {r.rule.id: r.rule for r in load(ROOT / "config" / "demo.yaml").rules}
    production = {r.rule.id: r.rule for r in load(ROOT / "config" / "warnd.yaml").rules}
    assert rules.keys() == production.keys()
    for rule_id, rule in rules.items():
        if rule_id == "pintu-air-jakarta":
            assert rule.then.all_clear_after == 1.0 and production[rule_id].then.all_clear_after == 3600.0
            rule = rule.model_copy(update={"then": rule.then.model_copy(update={"all_clear_after": 3600.0})})
        assert rule == production[rule_id], rule_id


def test_the_demo_plays_its_sequences_from_local_folders():
    feeds = {f.spec.id: f.spec for f in load(ROOT / "config" / "demo.yaml").feeds}
    sequences = {i for i, spec in feeds.items() if spec.sequence}
    assert sequences == {"demo-inatews", "demo-dsda"}
    for i in sequences:
        assert (ROOT / "config" / str(feeds[i].url)).is_dir(), i
    assert not [f for f in load(ROOT / "config" / "warnd.yaml").feeds if f.spec.sequence]
