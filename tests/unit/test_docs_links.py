"""Every relative link in README.md and docs/ leads somewhere: the file exists, and an `#anchor`
names a heading of that file as GitHub makes anchors from headings.

GitHub's rule: the heading's text as shown (code marks and link targets gone), lower case, every
character that is not a letter, digit, space, hyphen or underscore dropped, spaces made hyphens;
a repeated heading gets -1, -2, ... after its first."""

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def prose(text: str) -> list[str]:
    """The lines outside fenced code, with inline code taken out (neither holds links)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(re.sub(r"`[^`]*`", "", line))
    return lines


def slug(heading: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out: set[str] = set()
    fenced = False
    for line in path.read_text().splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        m = re.match(r"#{1,6} (.+)", line)
        if fenced or not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def broken(path: Path) -> list[str]:
    """Each relative link of `path` that leads nowhere, with why."""
    bad = []
    for line in prose(path.read_text()):
        for target in LINK.findall(line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, file: are not checked here
                continue
            name, _, anchor = target.partition("#")
            dest = (path.parent / name).resolve() if name else path
            if not dest.exists():
                bad.append(f"{target}: no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
            elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
                bad.append(f"{target}: no heading #{anchor} in {dest.name}")
    return bad


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(path: Path) -> None:
    assert broken(path) == []


def test_the_docs_are_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in LINK.findall(readme)}
    for page in ("docs/operator/index.md", "docs/partners.md", "docs/feeds.md", "docs/development.md",
                 "docs/performance.md", "docs/reliability.md", "docs/data.md"):  # fmt: skip
        assert (ROOT / page).resolve() in linked, page


def test_the_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## The `x` format: one (and two)\n\n## Twice\n\n## Twice\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#the-x-format-one-and-two) [ok](other.md#twice-1) [ok](#here)\n"
        "[gone](nothing.md) [bad](other.md#twice-2) [bad](#there) `[code](nowhere.md)`\n"
        "```\n[fenced](nowhere.md)\n```\n# Here\n"
    )
    found = broken(page)
    assert len(found) == 3, found
    assert found[0].startswith("nothing.md: no file")
    assert found[1] == "other.md#twice-2: no heading #twice-2 in other.md"
    assert found[2] == "#there: no heading #there in page.md"


def test_the_readme_opens_with_the_two_set_up_commands() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks[:2] == [
        "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/warnd run -c config/demo.yaml\n",
        TEST_COMMAND + "\n",
    ]


TEST_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]'"
    " && .venv/bin/pytest -n 4 --dist loadscope -m 'not serial' tests"
    " && .venv/bin/pytest -m serial tests"
)


def test_ci_runs_the_readmes_test_command_and_it_runs_every_test() -> None:
    # Two pytest runs over the whole folder, split by one marker and its negation: every test
    # runs in exactly one of them, whatever folder it is added in.
    ci = (ROOT / ".ci" / "run").read_text()
    assert TEST_COMMAND + " || exit 1" in ci
    runs = re.findall(r"pytest ([^&|]*)", TEST_COMMAND)
    assert [r.split()[-1] for r in runs] == ["tests", "tests"], runs
    assert re.findall(r"-m ('not serial'|serial)", TEST_COMMAND) == ["'not serial'", "serial"]
