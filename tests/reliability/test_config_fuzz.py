"""The config loader under hypothesis: the shipped configuration and rules, damaged at random
(truncated, bytes flipped, YAML punctuation inserted, lines duplicated or dropped), always load or
fail with problems that each name a file (and a line where there is one); no other exception ever escapes. A daemon
reloading an operator's half-saved file must get a refusal, never a crash."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from tests.unit.test_parsers_fuzz import EXAMPLES, mutate
from warnd.config.load import load
from warnd.errors import ConfigError

FILES = ["warnd.yaml", "rules/gempa.yaml", "rules/banjir.yaml", "rules/cuaca.yaml", "rules/tsunami.yaml"]
INSERTS = [b":", b"- ", b"&a ", b"*a", b"<<: *a\n", b"{", b"[", b"'", b'"', b"\t", b"\n  ", b"!!python/object ", b"\0"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tree") / "config"
    root.mkdir()
    shutil.copy(ROOT / "config" / "warnd.yaml", root / "warnd.yaml")
    shutil.copytree(ROOT / "config" / "rules", root / "rules")
    # Read, not damaged: links keep the copy small.
    for name in ("regions", "templates"):
        (root / name).symlink_to(ROOT / "config" / name)
    (root.parent / "feeds").symlink_to(ROOT / "feeds")
    load(root / "warnd.yaml")  # the undamaged tree is valid
    return root


@st.composite
def damaged(draw, original: bytes) -> bytes:
    return mutate(draw, original, INSERTS, span=80)


@pytest.mark.parametrize("name", FILES)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_damaged_file_loads_or_is_refused_naming_files(tree: Path, name: str, data):
    path = tree / name
    original = path.read_bytes()
    path.write_bytes(data.draw(damaged(original)))
    try:
        load(tree / "warnd.yaml")
    except ConfigError as e:
        # Every problem names a file of the tree (damage to one file can break a reference in
        # another: an account removed from warnd.yaml is named where a rule uses it).
        assert e.problems
        names = {"warnd.yaml", *(Path(f).name for f in FILES)}
        for p in e.problems:
            assert Path(p.file).name in names and p.message, str(p)
    finally:
        path.write_bytes(original)
