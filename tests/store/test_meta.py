"""The last reload's verdict, kept in the store (`meta`) where `warnd status` reads it when the
daemon does not answer, and in the state directory where `warnd reload` waits for it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import structlog

from warnd.clock import FixedClock
from warnd.metrics import Metrics
from warnd.runtime.reload import RELOAD_VERDICT, Reloads
from warnd.store.meta import LAST_RELOAD, Meta

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def test_a_value_is_replaced_and_outlives_the_connection(store):
    conn = store.open()
    meta = Meta(conn)
    assert meta.get(LAST_RELOAD) is None
    meta.put(LAST_RELOAD, '{"ok": false}')
    meta.put(LAST_RELOAD, '{"ok": true}')
    conn.close()
    conn = store.open()
    assert json.loads(Meta(conn).get(LAST_RELOAD) or "null") == {"ok": True}
    conn.close()


def test_a_refused_reload_is_recorded_in_the_store_and_the_state_directory(store, tmp_path):
    config = tmp_path / "warnd.yaml"
    config.write_text("feeds: [\n")
    conn = store.open()
    reloads = Reloads(config, tmp_path, Meta(conn), FixedClock(T0), Metrics())
    # Refused before the running set is looked at: the files do not load.
    with structlog.testing.capture_logs() as logs:
        assert asyncio.run(reloads.candidate(None)) is None  # type: ignore[arg-type]
    assert [e["event"] for e in logs] == ["reload.rejected"]
    kept = json.loads(Meta(conn).get(LAST_RELOAD) or "null")
    assert kept["ok"] is False and kept["problems"] and kept["generation"] == 1
    assert kept["at"] == T0.isoformat()
    verdict = json.loads((tmp_path / RELOAD_VERDICT).read_text())
    assert verdict == kept | {"seq": 1}
    assert reloads.last == kept
    conn.close()
