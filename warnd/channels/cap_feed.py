"""The CAP feed of one account filed to disk: every alert it issued as a CAP 1.2 file, and the
feed's Atom index (warnd.cap), for a web server pointed at the folder.

Files live in `<state_dir>/cap/<account>/`: `<sent>-<identifier>.xml` per alert (the name sorts
by time) and `index.atom`. Each is written to a temporary file and renamed, so a reader never
sees half a document. These files are the publishing node's copy; the daemon's HTTP endpoint
serves the feeds from the store instead (runtime.cap_feeds), so that every node of a cluster
serves the same feed.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from warnd.cap import INDEX, FeedInfo, alert_file_name, atom, feed_title
from warnd.channels.base import Budget, Job, Sent
from warnd.clock import Clock, SystemClock
from warnd.config.schema import ConfigFile
from warnd.errors import DeliveryError, Failure
from warnd.model import Target


def declared_feeds(cfg: ConfigFile) -> dict[str, FeedInfo]:
    """The CAP feeds the config declares, by account: one per account, titled by its name."""
    return {
        name: FeedInfo(name, feed_title(account.name), cfg.cap.feed_entries) for name, account in cfg.accounts.items()
    }


class CapFeedSender:
    replies = False
    batch = 32
    channel = "cap_feed"
    # What it delivers is the warning's CAP document: it waits for it (runtime.cap_fill).
    needs_cap = True
    hold_keys: tuple[str, ...] = ()
    budgets: tuple[Budget, ...] = ()

    def __init__(self, account: str, folder: Path, *, entries: int, title: str, clock: Clock | None = None) -> None:
        """`clock`: dates an index that has no alert (the system's time when not given)."""
        self.target = Target.feed(account)
        self.account = account
        self.folder = folder
        self.entries = entries
        self.title = title
        self.clock = clock or SystemClock()

    def cost(self, job: Job) -> int:
        return 1

    async def send(self, job: Job) -> Sent:
        d = job.delivery
        if not d.cap:
            raise DeliveryError("warning has no CAP document (issued by an older warnd)", Failure.BAD_REQUEST)
        name = alert_file_name(d.warning.cap_identifier, d.warning.created_at)
        try:
            await asyncio.to_thread(self._write, name, d.cap)
        except OSError as e:
            why = f"cannot write CAP feed {self.folder}: {e.strerror or e}"
            raise DeliveryError(why, Failure.SERVER_ERROR) from None
        return Sent(remote_id=name)

    def _write(self, name: str, cap: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _atomic(self.folder / name, cap.encode())
        _atomic(self.folder / INDEX, self.atom())

    def atom(self) -> bytes:
        files = sorted(self.folder.glob("*.xml"), key=lambda p: p.name, reverse=True)[: self.entries]
        return atom(self.account, self.title, ((p.name, p.read_bytes()) for p in files), now=self.clock.now())

    async def aclose(self) -> None:
        return None


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
