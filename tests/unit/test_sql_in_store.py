"""Only the store speaks SQL: every query of warnd is in warnd/store/, where both backends'
dialects are kept in step and the schema's users can be found."""

from __future__ import annotations

import re

from tests.conftest import ROOT

# The PostgreSQL server the tests run against is set up by its own administration statements.
OUTSIDE_THE_DAEMON = {"warnd/testing/postgres.py"}
SQL = re.compile(r"\.execute(many)?\(|\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b")


def test_no_sql_outside_the_store() -> None:
    found = []
    for path in sorted((ROOT / "warnd").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("warnd/store/") or rel in OUTSIDE_THE_DAEMON:
            continue
        found += [f"{rel}:{n}" for n, line in enumerate(path.read_text().splitlines(), 1) if SQL.search(line)]
    assert found == []
