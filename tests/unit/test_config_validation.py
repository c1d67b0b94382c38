import pytest

from tests.conftest import ROOT, RULES_ANY_QUAKE, run_to_exit, write_config
from warnd.cli import main
from warnd.config.yamlsrc import display_name

FEEDS = """  - id: gempa
    format: bmkg-tews
    url: /nonexistent.json
"""


def check(cfg, capsys):
    code = main(["check", "-c", str(cfg)])
    out = capsys.readouterr()
    return code, out.out, out.err


def rules_file(tmp_path):
    return display_name(tmp_path / "rules" / "test.yaml")


def test_shipped_configs_are_valid(capsys):
    for name, feeds in (("demo.yaml", 5), ("warnd.yaml", 7)):
        code, out, err = check(ROOT / "config" / name, capsys)
        assert code == 0, err
        assert f"OK: {feeds} feeds" in out and "38 accounts" in out


def test_minimal_config_is_valid(tmp_path, capsys):
    code, _, err = check(write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE), capsys)
    assert code == 0, err


def test_unknown_key_names_file_line_and_path(tmp_path, capsys):
    rules = RULES_ANY_QUAKE.replace('      magnitude: ">= 2.5"\n', '      magnitude: ">= 2.5"\n      magnitud: 3\n')
    code, _, err = check(write_config(tmp_path, feeds=FEEDS, rules=rules), capsys)
    assert code == 2
    assert f"{rules_file(tmp_path)}:6: rules[0].match.magnitud: unknown key" in err


def test_wrong_type_names_file_line_and_path(tmp_path, capsys):
    rules = RULES_ANY_QUAKE.replace("within_km: 60", "within_km: jauh")
    code, _, err = check(write_config(tmp_path, feeds=FEEDS, rules=rules), capsys)
    assert code == 2
    assert f"{rules_file(tmp_path)}:7: rules[0].where.within_km: Input should be a valid number" in err


def test_bad_threshold_explains_the_syntax(tmp_path, capsys):
    rules = RULES_ANY_QUAKE.replace('">= 2.5"', '"at least 5"')
    code, _, err = check(write_config(tmp_path, feeds=FEEDS, rules=rules), capsys)
    assert code == 2
    assert f"{rules_file(tmp_path)}:5: rules[0].match.magnitude" in err
    assert "write it like '>= 5.0'" in err


def test_bad_indent_is_a_yaml_error_with_its_line(tmp_path, capsys):
    rules = RULES_ANY_QUAKE.replace("    where:\n", "   where:\n")
    code, _, err = check(write_config(tmp_path, feeds=FEEDS, rules=rules), capsys)
    assert code == 2
    assert f"{rules_file(tmp_path)}:6: YAML syntax error" in err


def test_unknown_account_names_file_line_and_path(tmp_path, capsys):
    rules = RULES_ANY_QUAKE.replace('accounts: ["*"]', "accounts: [jabar, jatim]")
    code, _, err = check(write_config(tmp_path, feeds=FEEDS, rules=rules), capsys)
    assert code == 2
    assert f"{rules_file(tmp_path)}:9: rules[0].then.accounts[1]: unknown account 'jatim' (known: jabar, ntb)" in err


def test_every_problem_in_every_file_is_reported_at_once(tmp_path, capsys):
    second = RULES_ANY_QUAKE.replace("rules:\n", "").replace("gempa-test", "gempa-dua").replace('["*"]', "[jatim]")
    rules = RULES_ANY_QUAKE.replace("within_km: 60", "within_km: jauh") + second
    cfg = write_config(tmp_path, feeds=FEEDS, rules=rules, extra="log_level: debug\n")
    code, _, err = check(cfg, capsys)
    assert code == 2
    # The main file's unknown key stops the main file; fix it and the rule file's two show.
    assert "log_level: unknown key" in err
    cfg.write_text(cfg.read_text().replace("log_level: debug\n", ""))
    code, _, err = check(cfg, capsys)
    assert code == 2
    assert "rules[0].where.within_km" in err and "unknown account 'jatim'" in err
    assert "2 problem(s)" in err


def test_reference_problems_found_at_build(tmp_path, capsys):
    rules = RULES_ANY_QUAKE.replace("    where:\n", '    where:\n      regions: ["32", "99.99"]\n').replace(
        'accounts: ["*"]', 'accounts: ["*"]\n      template: banjir'
    )
    feeds = FEEDS.replace("bmkg-tews", "bmkg-tsunami")
    code, _, err = check(write_config(tmp_path, feeds=feeds, rules=rules), capsys)
    assert code == 2
    assert "warnd.yaml:5: feeds[0].format: unknown feed format 'bmkg-tsunami'" in err
    assert f"{rules_file(tmp_path)}:7: rules[0].where.regions[1]: unknown region code '99.99'" in err
    assert "no template banjir/new.id.j2" in err


def test_template_with_unknown_variable_is_caught(tmp_path, capsys):
    templates = tmp_path / "tpl" / "earthquake"
    templates.mkdir(parents=True)
    (templates / "new.id.j2").write_text("Gempa M{{ magnitude }} {{ kota }}\n")
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE)
    cfg.write_text(cfg.read_text().replace("templates: /", "templates: tpl\n#/"))
    code, _, err = check(cfg, capsys)
    assert code == 2
    assert "new.id.j2" in err and "'kota' is undefined" in err


def test_secrets_cannot_be_written_in_yaml(tmp_path, capsys):
    accounts = """
  jabar: {channel: x, name: "Jawa Barat", credential: x-jabar, access_token: "abc123"}
"""
    code, _, err = check(write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=accounts), capsys)
    assert code == 2
    assert "accounts.jabar.access_token: unknown key" in err
    assert "abc123" not in err


def test_run_with_a_broken_config_exits_2_without_starting(tmp_path):
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE.replace("hazard: earthquake", "hazard: gempa"))
    proc = run_to_exit(cfg, cwd=tmp_path)
    assert proc.returncode == 2
    assert "rules/test.yaml:4: rules[0].match.hazard: Input should be 'earthquake'" in proc.stderr
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("text", ["", "[]\n", "rules: 3\n"])
def test_degenerate_rule_files(tmp_path, capsys, text):
    code, _, err = check(write_config(tmp_path, feeds=FEEDS, rules=text), capsys)
    if text == "":
        assert code == 0, err
    else:
        assert code == 2 and "test.yaml:1" in err


def test_place_aliases_are_checked_with_file_and_line(tmp_path, capsys):
    aliases = tmp_path / "aliases.csv"
    aliases.write_text("# towns\nname,code,source\nSorowako,73.24.02,wiki\nAtlantis,99.99.99,legend\n")
    extra = f"district_points: {ROOT}/config/regions/district-points.csv\nplace_aliases: {aliases}\n"
    code, _, err = check(write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=extra), capsys)
    assert code == 2
    assert f"{aliases}:4: 'Atlantis': code '99.99.99' is no loaded regency nor kecamatan" in err
    assert ":3:" not in err
    aliases.write_text("name,code,source\nSorowako,73.24.02,\n")
    code, _, err = check(write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=extra), capsys)
    assert code == 2
    assert f"{aliases}:2: say where the fact comes from" in err


NATIONAL_BESIDE_PROVINCIAL = """
  jabar: {channel: x, name: "Jawa Barat", regions: ["32"], credential: x-jabar}
  indonesia: {channel: x, name: "Indonesia", regions: [], credential: x-indonesia}
"""


def test_accounts_whose_areas_overlap_are_valid_when_every_text_names_its_account_area(tmp_path, capsys):
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=NATIONAL_BESIDE_PROVINCIAL)
    code, _, err = check(cfg, capsys)
    assert code == 0, err


def test_a_template_that_does_not_name_the_area_is_refused_where_accounts_overlap(tmp_path, capsys):
    import shutil

    from tests.conftest import TEMPLATES

    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    new = templates / "earthquake" / "new.id.j2"
    new.write_text(new.read_text().replace("{{ area_tags }} ", ""))
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=NATIONAL_BESIDE_PROVINCIAL)
    cfg.write_text(cfg.read_text().replace(f"templates: {TEMPLATES}", f"templates: {templates}"))
    code, _, err = check(cfg, capsys)
    assert code == 2
    (line,) = [x for x in err.splitlines() if "area" in x]
    assert line.startswith(f"{new}: the text does not name the account's area")
    assert "accounts 'jabar' and 'indonesia' (channel x, language id)" in line
    # Two provinces apart, the same template is harmless: their regions never coincide.
    provinces = NATIONAL_BESIDE_PROVINCIAL.replace("regions: []", 'regions: ["52"]')
    cfg.write_text(cfg.read_text().replace(NATIONAL_BESIDE_PROVINCIAL, provinces))
    code, _, err = check(cfg, capsys)
    assert code == 0, err


def test_two_accounts_of_one_channel_with_the_same_area_are_refused(tmp_path, capsys):
    twins = NATIONAL_BESIDE_PROVINCIAL.replace("regions: []", 'regions: ["32"]')
    code, _, err = check(write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=twins), capsys)
    assert code == 2
    assert "accounts.indonesia.regions: accounts 'jabar' and 'indonesia' (channel x, language id) have the same" in err
    # On two channels, or in two languages, their texts differ anyway.
    jabar = '\n  jabar: {channel: x, name: "Jawa Barat", regions: ["32"], credential: x-jabar}'
    for other in (
        '\n  jabar-en: {channel: x, name: "West Java", lang: en, regions: ["32"], credential: x-jabar-en}\n',
        f'\n  jabar-file: {{channel: file, path: {tmp_path}/p.jsonl, name: "Jawa Barat", regions: ["32"]}}\n',
    ):
        cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=jabar + other)
        code, _, err = check(cfg, capsys)
        assert code == 0, (other, err)


def test_a_budget_over_the_platform_s_own_limit_is_refused_by_its_key(tmp_path, capsys):
    # X: a budget whose short window repeats past 100 posts a user in 15 min.
    extra = "x:\n  account_budget: {posts: 20, window: 1m}\n"
    code, _, err = check(write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=extra), capsys)
    assert code == 2 and "x: Value error, account_budget: 20 posts per 60 s allows up to 300 in 900 s" in err
    assert "over X's limit on posts per user (100 per 900 s)" in err
    # An agreement with X for more is written as its limit.
    more = extra + "  user_limit: {posts: 400, window: 15m}\n"
    assert check(write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=more), capsys)[0] == 0
    # Telegram and Bluesky: their documented limits, per channel of an account on several.
    accounts = """
  sulut:
    name: Sulut
    regions: ["71"]
    channels:
      telegram: {credential: tg, chat_id: "@gempa_sulut", chat_budget: {posts: 30, window: 1m}}
      bluesky: {handle: gempa-sulut.bsky.social, credential: bsky, hour_budget: {posts: 2000, window: 1h}}
"""
    code, _, err = check(write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=accounts), capsys)
    assert code == 2
    assert "accounts.sulut.channels.telegram: Value error, chat_budget: 30 posts per 60 s" in err
    assert "Telegram's limit on messages to one group or channel (20 per 60 s)" in err
    assert "accounts.sulut.channels.bluesky: Value error, hour_budget: 2000 posts per 3600 s" in err
    assert "Bluesky's 5,000 points an hour" in err
    # A drill's fake on this machine has limits of its own: none of the platform's is checked.
    drill = accounts.replace('chat_id: "@gempa_sulut",', 'chat_id: "@gempa_sulut", api_base: "http://127.0.0.1:8794",')
    drill = drill.replace("credential: bsky,", 'credential: bsky, pds: "http://127.0.0.1:8795",')
    assert check(write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=drill), capsys)[0] == 0


def test_a_budget_reserve_must_leave_posts_for_other_warnings(tmp_path, capsys):
    extra = "x:\n  account_budget: {posts: 10, window: 15m, reserve: 10}\n"
    code, _, err = check(write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=extra), capsys)
    assert code == 2
    assert "x.account_budget" in err and "reserve 10 leaves nothing of 10 posts" in err
    fine = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=extra.replace("reserve: 10", "reserve: 2"))
    assert check(fine, capsys)[0] == 0


@pytest.mark.parametrize(
    "url",
    ["ftp://warnd.example.org", "https://user:pw@warnd.example.org", "https://warnd.example.org/?k=1", "warnd"],
)
def test_a_maps_public_url_that_cannot_be_published_is_a_load_problem(tmp_path, capsys, url):
    extra = f"maps:\n  public_url: {url}\n"
    code, _, err = check(write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=extra), capsys)
    assert code == 2
    assert "maps.public_url" in err


def test_a_maps_section_with_a_public_url_is_valid(tmp_path, capsys):
    extra = "maps:\n  wait: 1.5\n  public_url: https://warnd.example.org/\n"
    code, _, err = check(write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=extra), capsys)
    assert code == 0, err


def test_a_partner_named_as_a_subscription_is_refused_with_its_line(tmp_path, capsys):
    partners = """partners:
  sub-radio:
    name: Radio
    url: https://radio.example/hook
    secret: radio
    accounts: [jabar]
"""
    code, _, err = check(write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=partners), capsys)
    assert code == 2
    assert "warnd.yaml:" in err and "partners.sub-radio" in err and "'sub-'" in err, err
