"""The saved last good set: what it holds, that it loads on its own, and that it stays whole."""

from __future__ import annotations

import asyncio
import shutil
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.clock import FixedClock
from warnd.config import snapshot
from warnd.config.load import mirrored
from warnd.errors import ConfigError
from warnd.runtime import verify_set
from warnd.runtime.build import Bundle, build
from warnd.runtime.last_good import LastGood

FEED = """  - use: auto
"""
CATALOGUE = """id: auto
format: bmkg-tews
url: http://127.0.0.1:9/auto.json
interval: 60
"""
# When the sets are saved: the caller's time, not the system's.
NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


# The daemon's own check of a copy: a child process that loads it (runtime.verify_set).
_verify = verify_set.Checks().verify


def _config(tmp_path: Path) -> Path:
    # The catalogue beside the config folder (`../feeds`), as in the shipped layout.
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "auto.yaml").write_text(CATALOGUE)
    folder = tmp_path / "etc"
    return write_config(folder, feeds=FEED, rules=RULES_ANY_QUAKE, extra="feed_catalogue: ../feeds\n")


def test_the_saved_set_loads_without_the_files_it_was_taken_from(tmp_path):
    cfg = _config(tmp_path)
    first = build(cfg, with_senders=True)
    snap, new = snapshot.save(first.config, _verify, NOW)
    assert new and snap.origin == cfg
    assert snap.taken_at == "2026-11-30T03:00:00+00:00"
    # The operator's files go away entirely; the copy still loads, writing where the config says.
    shutil.rmtree(tmp_path / "etc" / "rules")
    shutil.rmtree(tmp_path / "feeds")
    with pytest.raises(ConfigError):
        build(cfg, with_senders=False)
    current = snapshot.current(first.config.state_dir, cfg)
    assert current is not None and current.taken_at == "2026-11-30T03:00:00+00:00"
    again = build(cfg, with_senders=True, mirror=current.mirror)
    assert [r.id for r in again.ruleset.rules] == [r.id for r in first.ruleset.rules]
    assert [f.spec.id for f in again.config.feeds] == ["auto"]
    assert again.config.state_dir == first.config.state_dir
    assert again.config.file.accounts["jabar"].path == first.config.file.accounts["jabar"].path  # type: ignore[union-attr]
    assert again.renderer.folder != first.renderer.folder and again.renderer.folder.is_dir()


def test_an_unchanged_set_is_not_copied_again_and_only_the_current_one_is_kept(tmp_path):
    cfg = _config(tmp_path)
    b = build(cfg, with_senders=False)
    one, new = snapshot.save(b.config, _verify, NOW)
    assert new
    same, new = snapshot.save(b.config, _verify, NOW)
    assert not new and same.digest == one.digest
    rules = tmp_path / "etc" / "rules" / "test.yaml"
    rules.write_text(rules.read_text().replace("within_km: 60", "within_km: 70"))
    two, new = snapshot.save(build(cfg, with_senders=False).config, _verify, NOW)
    assert new and two.digest != one.digest
    root = b.config.state_dir / snapshot.FOLDER
    assert sorted(p.name for p in root.iterdir()) == sorted(["blobs", "current", two.digest])
    # Unchanged files (the regions) are one copy on disk, shared by the trees.
    assert all(blob.stat().st_nlink == 2 for blob in (root / "blobs").iterdir())


def test_a_file_broken_between_the_load_and_the_copy_leaves_the_previous_set(tmp_path):
    cfg = _config(tmp_path)
    one, _ = snapshot.save(build(cfg, with_senders=False).config, _verify, NOW)
    rules = tmp_path / "etc" / "rules" / "test.yaml"
    rules.write_text(rules.read_text().replace("within_km: 60", "within_km: 70"))
    loaded = build(cfg, with_senders=False).config
    rules.write_text("rules: [{id: x}]\n")
    with pytest.raises(ConfigError):
        snapshot.save(loaded, _verify, NOW)
    kept = snapshot.current(loaded.state_dir, cfg)
    assert kept is not None and kept.digest == one.digest
    assert not [p for p in kept.folder.parent.iterdir() if p.name.startswith(".")]


def test_a_snapshot_of_another_config_is_not_used(tmp_path):
    cfg = _config(tmp_path)
    b = build(cfg, with_senders=False)
    snapshot.save(b.config, _verify, NOW)
    assert snapshot.current(b.config.state_dir, cfg) is not None
    assert snapshot.current(b.config.state_dir, tmp_path / "other.yaml") is None


def test_the_copy_is_checked_in_a_process_of_its_own_and_its_problems_come_back_whole(tmp_path, monkeypatch):
    cfg = _config(tmp_path)
    snap, _ = snapshot.save(build(cfg, with_senders=False).config, _verify, NOW)
    broken = tmp_path / "broken"
    shutil.copytree(snap.mirror, broken)
    rules = mirrored(broken, tmp_path / "etc" / "rules" / "test.yaml")
    rules.chmod(0o600)
    rules.write_text("rules:\n  - id: x\n")
    with pytest.raises(ConfigError) as here:
        build(cfg, with_senders=False, mirror=broken)

    def not_here(*_a: object, **_k: object) -> None:
        raise AssertionError("the copy was loaded in the daemon's own process")

    # A load in this process now fails: a check that passes was made in another.
    monkeypatch.setattr("warnd.runtime.build.build", not_here)
    _verify(cfg, snap.mirror)
    with pytest.raises(ConfigError) as there:
        _verify(cfg, broken)
    assert there.value.problems == here.value.problems
    assert any(p.file.endswith("test.yaml") and p.line == 2 for p in there.value.problems), there.value.problems


def test_a_check_under_way_ends_when_its_set_is_replaced_or_the_daemon_stops(tmp_path):
    """The thread that waits for a check cannot be cancelled: ending the child ends the wait, so
    a stop never waits on a check (a hung one would outlast the unit's TimeoutStopSec)."""
    slow_or_not = "import sys, time\nif sys.argv[1] == 'slow': time.sleep(120)\n"
    checks = verify_set.Checks([sys.executable, "-c", slow_or_not])

    def under_way() -> list[BaseException]:
        failed: list[BaseException] = []

        def run() -> None:
            try:
                checks.verify(Path("slow"), tmp_path)
            except BaseException as e:
                failed.append(e)

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 30
        while checks.running == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checks.running == 1
        ended.append(thread)
        return failed

    ended: list[threading.Thread] = []
    failed = under_way()
    checks.cancel()  # a newer set replaces it: later checks are still made
    ended[-1].join(timeout=30)
    assert not ended[-1].is_alive() and isinstance(failed[0], ConfigError) and "ended" in str(failed[0])
    checks.verify(Path("quick"), tmp_path)

    failed = under_way()
    checks.close()  # the daemon stops
    ended[-1].join(timeout=30)
    assert not ended[-1].is_alive() and isinstance(failed[0], ConfigError) and "ended" in str(failed[0])
    with pytest.raises(ConfigError, match="stopping"):
        checks.verify(Path("quick"), tmp_path)


def _two_sets(tmp_path: Path) -> tuple[Path, list[Bundle]]:
    """The config's set, then the same with a rule file more: the newer one a reload brings."""
    cfg = _config(tmp_path)
    sets = [build(cfg, with_senders=False)]
    (tmp_path / "etc" / "rules" / "more.yaml").write_text(RULES_ANY_QUAKE.replace("gempa-test", "gempa-more"))
    sets.append(build(cfg, with_senders=False))
    return cfg, sets


def _last_good(sets: list[Bundle], check: str) -> LastGood:
    """The daemon's saves of `sets[0]` (the running set), each checked by the Python `check`."""

    async def quiet() -> bool:
        return False

    saved = LastGood(lambda: sets[0], quiet, None, FixedClock(NOW))
    saved._checks = verify_set.Checks([sys.executable, "-c", check])
    return saved


async def _saved_then_stopped(saved: LastGood, deadline: float) -> None:
    """Until a set is saved, then a second more, for a superseded save, were one made, to be
    checked or made current; then the daemon stops."""
    while saved.current is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    await saved.stop()
    assert saved.current is not None, "the newer set was not saved"


def _newer_set_saved_last(tmp_path: Path, cfg: Path, sets: list[Bundle]) -> None:
    saved = snapshot.current(sets[0].config.state_dir, cfg)
    assert saved is not None and (saved.folder / "manifest.json").is_file()
    assert mirrored(saved.mirror, tmp_path / "etc" / "rules" / "more.yaml").is_file(), "an older set was saved last"


def test_a_save_superseded_under_way_does_not_spoil_the_one_after_it(tmp_path, monkeypatch):
    """A reload during a save: the first save's thread goes on until its check is ended and its
    copy removed, and the next save copies the same set into the same folder. Its copy must not
    be removed under it. Here the superseded save's clean-up is late, as on a loaded machine, and
    a second reload, of a set with a rule file more, comes while the save of the first waits for
    it: that save is not made, and the newer set is the one saved."""
    cfg, sets = _two_sets(tmp_path)
    # The first check waits to be ended; the next takes a second, longer than the late clean-up.
    marker = tmp_path / "checks-made"
    check = (
        f"import pathlib, time\nm = pathlib.Path({str(marker)!r})\nfirst = not m.exists()\n"
        "with m.open('a') as f: f.write('check\\n')\ntime.sleep(120 if first else 1)\n"
    )
    real_rmtree = shutil.rmtree
    first_thread: list[int] = []

    def late_for_the_first_save(path: Path, **kw: object) -> None:
        if not first_thread:
            first_thread.append(threading.get_ident())
        if threading.get_ident() == first_thread[0] and Path(path).exists():
            time.sleep(0.5)
        real_rmtree(path, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr("warnd.config.snapshot.shutil.rmtree", late_for_the_first_save)

    async def run() -> None:
        saved = _last_good(sets, check)
        saved.soon(0.0)
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert saved._checks.running == 1
        saved.soon(0.0)  # a reload of the same set, while the first save's check runs
        await asyncio.sleep(0.1)  # its save now waits for the first one to be over
        sets.pop(0)
        saved.soon(0.0)  # a reload of the set with a rule file more
        await _saved_then_stopped(saved, deadline)
        assert marker.read_text().count("check") == 2, "a superseded save was made"

    asyncio.run(run())
    _newer_set_saved_last(tmp_path, cfg, sets)


def test_a_save_superseded_while_it_copies_is_not_checked_nor_made_current(tmp_path, monkeypatch):
    """A reload ends only the checks it finds running: a save still copying its files when a newer
    set is asked for is dropped before its check, and never made current after the newer one."""
    cfg, sets = _two_sets(tmp_path)
    marker = tmp_path / "checks-made"
    check = f"import pathlib\nwith pathlib.Path({str(marker)!r}).open('a') as f: f.write('check\\n')\n"
    real_copy = shutil.copyfile
    copying = threading.Event()

    def slow_first_copy(src: object, dst: object, **kw: object) -> object:
        if not copying.is_set():
            copying.set()
            time.sleep(0.5)
        return real_copy(src, dst, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr("warnd.config.snapshot.shutil.copyfile", slow_first_copy)

    async def run() -> None:
        saved = _last_good(sets, check)
        saved.soon(0.0)
        deadline = time.monotonic() + 30
        while not copying.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        sets.pop(0)
        saved.soon(0.0)  # a reload of the set with a rule file more, while the first copies
        await _saved_then_stopped(saved, deadline)
        assert marker.read_text().count("check") == 1, "the superseded save was checked"

    asyncio.run(run())
    _newer_set_saved_last(tmp_path, cfg, sets)
