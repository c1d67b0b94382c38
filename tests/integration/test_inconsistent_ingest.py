"""A document that disagrees with itself, through the daemon's poll path (real poller, loopback
server, real store): the quake stored from an earlier good poll is left as it was, the rejection
is logged with feed, item, field and the quake's id, and counted; the next good document is taken
in as usual.

The documents are the real autogempa.json of 5 Oct 2021 (M4.5 near Dompu), then that file with
its magnitude raised to 6.5 and one field contradicted, then that file with its magnitude revised
to 4.8 and nothing contradicted."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.conftest import RULES_ANY_QUAKE, sample
from tests.integration.rig import Rig
from warnd.store.ledger import Ledger

FEED = "bmkg-autogempa"
ACCOUNTS = '\n  ntb: {channel: file, path: {folder}/posts.jsonl, name: "NTB", regions: ["52"]}'
QUAKE = "bmkg-eq-20211005T110027Z"


def dompu(**changes: str) -> bytes:
    doc = json.loads(sample("bmkg-tews/autogempa_2021-10-05_dompu_arraysyams.json"))
    doc["Infogempa"]["gempa"].update(changes)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("contradiction", "field"),
    [
        ({"DateTime": "2021-10-05T12:00:27+00:00"}, "DateTime"),  # an hour after Tanggal+Jam
        ({"Coordinates": "-8.15,-118.10"}, "Coordinates"),  # Bujur says 118.10 BT
    ],
)
def test_a_self_contradicting_document_changes_nothing_stored_and_the_poller_goes_on(
    tmp_path, feed_server, logs, contradiction, field
):
    url = feed_server.serve("/autogempa.json", dompu())
    rig = Rig(
        tmp_path,
        feed=FEED,
        fmt="bmkg-tews",
        url=url,
        rules=RULES_ANY_QUAKE,
        accounts=ACCOUNTS.replace("{folder}", str(tmp_path)),
        now=datetime(2021, 10, 5, 11, 5, tzinfo=UTC),
    )
    ledger = Ledger(rig.conn)
    rig.poll()
    (first,) = rig.warnings
    stored = ledger.get(QUAKE)
    assert stored is not None and stored.magnitude == 4.5

    feed_server.serve("/autogempa.json", dompu(Magnitude="6.5", **contradiction))
    rig.poll()
    assert ledger.get(QUAKE) == stored
    assert rig.warnings == [first]
    (line,) = [e for e in logs if e["event"] == "item.rejected"]
    assert (line["feed"], line["item"], line["field"], line["reason"]) == (FEED, "gempa[0]", field, "inconsistent")
    assert line["log_level"] == "warning"
    if field == "Coordinates":
        # The origin time was read before the contradiction: the line names the quake.
        assert line["event_id"] == QUAKE
    counted = rig.metrics.registry.get_sample_value(
        "warnd_items_rejected_total", {"feed": FEED, "reason": "inconsistent"}
    )
    assert counted == 1

    feed_server.serve("/autogempa.json", dompu(Magnitude="4.8"))
    rig.poll()
    revised = ledger.get(QUAKE)
    assert revised is not None and revised.magnitude == 4.8
    assert [w.kind.value for w in rig.warnings] == ["new", "update"]
