"""A feed with `sequence: true` plays a local folder of recorded documents, one per poll, in name
order, and stays on the last; where it stands survives a restart, a document that does not parse
is read again, and the option is refused for anything but a local folder. Real files, the real
poller and ledger, a clock the test moves."""

import asyncio
import shutil
from datetime import UTC, datetime

import pytest

from tests.conftest import ROOT, RULES_ANY_QUAKE, sample, write_config
from tests.integration.test_polling import Rig, feed_yaml
from warnd.clock import FixedClock
from warnd.config.load import load
from warnd.config.outbound import Outbound
from warnd.errors import ConfigError, FetchError
from warnd.pollers.fetch import Fetcher, Validators, sequence_step

NAGEKEO = ROOT / "feeds" / "demo" / "nagekeo"
EVENT = "bmkg-tsunami-20260814T215823Z"
DIRECT = Outbound(proxy="none")
# After the Nagekeo warning of 15 Aug 2026: none of its messages is in the future.
LATER = datetime(2026, 11, 24, tzinfo=UTC)


def nagekeo_rig(tmp_path):
    rig = Rig(tmp_path, feed_yaml(NAGEKEO, fmt="bmkg-inatews", sequence="true"))
    rig.clock = FixedClock(LATER)
    return rig


def read(folder, base, etag=None, sequence=True):
    async def go():
        f = Fetcher("warnd-test", base, DIRECT)
        try:
            return await f.fetch(
                "t", str(folder), timeout=5, max_bytes=1_000_000, validators=Validators(etag), sequence=sequence
            )
        finally:
            await f.aclose()

    return asyncio.run(go())


def test_the_nagekeo_warning_is_played_one_message_per_poll_and_stays_on_the_end(tmp_path):
    rig = nagekeo_rig(tmp_path)
    stages = []
    for name in sorted(p.name for p in NAGEKEO.iterdir()):
        rig.poll("f1")
        rig.clock.advance(10)
        assert sequence_step(rig.states.get("f1").etag) == name
        stages.append(rig.ledger.get(EVENT).stage)
    assert stages == ["PD-1", "PD-2", "PD-3.1", "PD-3.2", "PD-3.3", "PD-3.4", "PD-4"]
    assert rig.ledger.get(EVENT).ended
    end = rig.states.get("f1")
    # Past the last message: the same document, unchanged, whatever the number of polls.
    for _ in range(3):
        rig.poll("f1")
        rig.clock.advance(10)
    after = rig.states.get("f1")
    assert after.etag == end.etag and after.last_change == end.last_change and after.failures == 0
    assert rig.ledger.get(EVENT).stage == "PD-4"


def test_a_restart_goes_on_from_the_next_document(tmp_path):
    rig = nagekeo_rig(tmp_path)
    rig.poll("f1")
    rig.clock.advance(10)
    rig.poll("f1")
    # A new poller, fetcher and store connection over the same state database: a restart.
    again = nagekeo_rig(tmp_path)
    again.clock.advance(20)
    again.poll("f1")
    assert sequence_step(again.states.get("f1").etag) == "3_PD-3.1.xml"
    assert again.ledger.get(EVENT).stage == "PD-3.1"


def test_a_document_that_does_not_parse_fails_the_feed_and_is_read_again(tmp_path):
    folder = tmp_path / "recorded"
    folder.mkdir()
    (folder / "1_first.json").write_bytes(sample("bmkg-tews/autogempa_2024-01-10_sumedang_aldii.json"))
    (folder / "2_second.json").write_bytes(b"<html>upstream error page</html>")
    rig = Rig(tmp_path, feed_yaml(folder, sequence="true"))
    rig.poll("f1")
    rig.clock.advance(10)
    rig.poll("f1")
    state = rig.states.get("f1")
    assert state.failures == 1 and sequence_step(state.etag) == "1_first.json"
    # Repaired: the same step is read, not skipped.
    (folder / "2_second.json").write_bytes(sample("bmkg-tews/gempaterkini_2021-12-14_flores-m7.4_arraysyams.json"))
    rig.clock.advance(60)
    rig.poll("f1")
    state = rig.states.get("f1")
    assert state.failures == 0 and sequence_step(state.etag) == "2_second.json"
    assert rig.ledger.count() > 1


def test_name_order_hidden_files_and_folders_skipped_and_a_removed_file_does_not_restart(tmp_path):
    folder = tmp_path / "seq"
    (folder / "sub").mkdir(parents=True)
    for name in ("b", "a", "c", ".hidden"):
        (folder / name).write_text(name)
    first = read(folder, tmp_path)
    assert (first.document, first.body) == ("a", b"a")
    second = read(folder, tmp_path, first.validators.etag)
    assert (second.document, second.body) == ("b", b"b")
    third = read(folder, tmp_path, second.validators.etag)
    assert (third.document, third.body) == ("c", b"c")
    stay = read(folder, tmp_path, third.validators.etag)
    assert stay.not_modified and stay.body == b""
    # The last file edited in place: read again.
    (folder / "c").write_text("c, corrected")
    assert read(folder, tmp_path, third.validators.etag).body == b"c, corrected"
    # "b" removed after "a" was read: the sequence goes on to "c", not back to "a".
    (folder / "b").unlink()
    assert read(folder, tmp_path, first.validators.etag).document == "c"
    # A relative folder is read from the config's folder, as a feed file is.
    assert read("seq", tmp_path).document == "a"


def test_an_empty_or_missing_folder_fails_with_its_name(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FetchError, match="holds no document"):
        read(tmp_path / "empty", tmp_path)
    with pytest.raises(FetchError, match="cannot list the sequence folder"):
        read(tmp_path / "nowhere", tmp_path)


def test_the_fetcher_refuses_a_sequence_over_http(tmp_path, feed_server):
    url = feed_server.serve("/a.json", b"{}")
    with pytest.raises(FetchError, match="local folder only"):
        read(url, tmp_path)
    assert feed_server.hits("/a.json") == []


def test_a_live_feed_is_read_as_before(tmp_path):
    """Without `sequence`, a file is one document and its ETag names no step."""
    doc = tmp_path / "auto.json"
    shutil.copy(ROOT / "feeds" / "demo" / "autogempa.json", doc)
    out = read(doc, tmp_path, sequence=False)
    assert out.document is None and sequence_step(out.validators.etag) is None
    assert read(doc, tmp_path, out.validators.etag, sequence=False).not_modified


@pytest.mark.parametrize(
    "entry",
    [
        "  - {id: f1, format: bmkg-tews, url: 'https://data.bmkg.go.id/DataMKG/TEWS/autogempa.json', sequence: true}\n",
        "  - {id: f1, format: bmkg-tews, url_credential: feed-url, sequence: true}\n",
    ],
    ids=["http", "credential"],
)
def test_check_refuses_sequence_for_anything_but_a_local_folder(tmp_path, entry):
    with pytest.raises(ConfigError) as e:
        load(write_config(tmp_path, feeds=entry, rules=RULES_ANY_QUAKE))
    problem = str(e.value.problems[0])
    assert "feeds[0]" in problem and "sequence: plays recorded documents from a local folder" in problem
