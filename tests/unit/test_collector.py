"""The daemon's settling of the cycle collector (runtime.collector), in a process of its own:
the collector is the interpreter's, and this test process's must stay as it was."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import asyncio, gc, json, weakref
from warnd.obs import setup_logging
from warnd.runtime.collector import Collector

setup_logging("info", json=True)
settlings = []
real_settle = Collector.settle

def counted(self):
    settlings.append(1)
    real_settle(self)

Collector.settle = counted

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)

gc.disable()  # as `warnd run` starts
kept = [Node() for _ in range(1000)]
garbage = cycle()
seen = {}

async def main():
    c = Collector(after=0.05)
    c.settle_soon()
    await asyncio.sleep(0.3)
    seen["settled"] = {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count(), "garbage": garbage() is not None}
    # A reload: the frozen objects are the collector's again, and frozen anew once settled.
    c.thaw()
    seen["thawed"] = gc.get_freeze_count()
    replaced = cycle()
    c.settle_soon()
    c.settle_soon()  # a second reload before the first settled: one settling
    await asyncio.sleep(0.3)
    seen["again"] = {"frozen": gc.get_freeze_count(), "garbage": replaced() is not None}
    c.settle_soon()
    c.stop()  # the daemon stops: nothing more
    gc.unfreeze()
    await asyncio.sleep(0.3)
    seen["stopped"] = gc.get_freeze_count()
    seen["settlings"] = len(settlings)
    # Reloads in a row, more often than the settling's delay: it is not put off for ever.
    for _ in range(15):
        c.thaw()
        c.settle_soon()
        await asyncio.sleep(0.02)
    c.stop()
    seen["in_a_row"] = len(settlings) - seen["settlings"]

asyncio.run(main())
print(json.dumps(seen))
"""


def test_settling_collects_the_start_s_cycles_freezes_the_rest_and_turns_the_collector_on():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["settled"]["enabled"] and seen["settled"]["frozen"] > 1000 and not seen["settled"]["garbage"]
    assert seen["thawed"] == 0
    assert seen["again"]["frozen"] > 1000 and not seen["again"]["garbage"]
    assert seen["stopped"] == 0
    # Two settlings up to the stop: the two asked for in a row made one.
    assert seen["settlings"] == 2, seen
    settled = [json.loads(x) for x in done.stderr.splitlines() if '"heap.settled"' in x]
    assert all(x["frozen"] > 1000 for x in settled), done.stderr
    # 0.3 s of reloads, one every 0.02 s, against a delay of 0.05 s: settlings all the same.
    assert seen["in_a_row"] >= 2, seen
