"""The import contracts cover every module of warnd: one left out of the layers could import
anything and be imported by anything without lint-imports saying a word."""

import pkgutil
import tomllib

import warnd
from tests.conftest import ROOT


def contracts():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_every_module_of_warnd_is_in_a_layer():
    (layers,) = [c for c in contracts() if c["type"] == "layers"]
    named = {m.strip() for layer in layers["layers"] for m in layer.split("|")}
    modules = {f"warnd.{m.name}" for m in pkgutil.iter_modules(warnd.__path__)}
    assert modules - named == set()
    assert named - modules == set()


def test_nothing_in_warnd_imports_the_test_doubles():
    (forbidden,) = [c for c in contracts() if c["type"] == "forbidden"]
    assert forbidden["source_modules"] == ["warnd.*"]
    assert forbidden["forbidden_modules"] == ["warnd.testing"]
