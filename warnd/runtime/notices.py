"""Operator notices: each condition becomes a notice once when it appears and is cleared once,
with its recovery, when it goes; both go to the log and to every ops channel.

The notices live in the state database, so a restart neither repeats a notice that is still
true nor forgets to announce the recovery of one raised before. The relay delivers the ops
messages in order per channel, retrying with backoff, and gives up after a day.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from warnd.channels.ops import OpsSender
from warnd.clock import Clock
from warnd.errors import DeliveryError
from warnd.metrics import Metrics
from warnd.obs import get_logger
from warnd.runtime.conditions import Condition
from warnd.runtime.rounds import Rounds
from warnd.store.backend import Database
from warnd.store.notices import Notice, Notices
from warnd.store.worker import StoreWorker, inline

log = get_logger("warnd.notice")

OPS_RETRY_MIN = 5.0
OPS_RETRY_MAX = 600.0
OPS_GIVE_UP = 86400.0
OPS_ROUND = 2.0


class NoticeBoard:
    def __init__(self, conn: Database, clock: Clock, metrics: Metrics, channels: Callable[[], list[str]]) -> None:
        self.notices = Notices(conn)
        self.clock = clock
        self.metrics = metrics
        self.channels = channels

    def reconcile(self, conditions: list[Condition]) -> int:
        """Raise what is new, clear what is gone; returns how many ops messages were queued."""
        now = self.clock.now()
        active = self.notices.active()
        current = {c.key: c for c in conditions}
        channels = self.channels()
        queued = 0
        for key, c in current.items():
            notice = active.get(key)
            if notice is not None:
                if notice.message != c.message:
                    self.notices.update(notice, c.message)
                continue
            n = self.notices.raise_(
                Notice(0, key, c.kind, c.subject, c.severity, c.message, c.recovery, ""), now, channels
            )
            queued += len(channels)
            self.metrics.notices.labels(c.kind).inc()
            level = log.error if c.severity == "failing" else log.warning
            level(
                "notice.raised", notice_id=n.id, kind=c.kind, subject=c.subject, severity=c.severity, message=c.message
            )
        for key, notice in active.items():
            if key in current:
                continue
            self.notices.clear(notice, now, channels)
            queued += len(channels)
            log.info(
                "notice.cleared",
                notice_id=notice.id,
                kind=notice.kind,
                subject=notice.subject,
                since=notice.raised_at,
                message=notice.recovery,
            )
        return queued


class OpsRelay(Rounds):
    """Delivers queued ops messages; one channel's outage never holds another's."""

    def __init__(
        self,
        conn: Database,
        clock: Clock,
        senders: Callable[[], Mapping[str, OpsSender]],
        store: StoreWorker | None = None,
    ) -> None:
        """`store`: where the queue of notices is read and written (by default, in the caller)."""
        self.store = store or inline()
        self.notices = Notices(conn)
        self.clock = clock
        self.senders = senders
        super().__init__(OPS_ROUND)

    async def round(self) -> None:
        senders = self.senders()
        run = self.store.run
        for channel in await run(self.notices.channels_waiting):
            sender = senders.get(channel)
            for m in await run(self.notices.waiting, channel):
                now = self.clock.now()
                created = datetime.fromisoformat(str(m.body.get("at", "")).replace("Z", "+00:00"))
                if (now - created).total_seconds() > OPS_GIVE_UP or sender is None:
                    why = "no such ops channel any more" if sender is None else "not delivered within a day"
                    await run(self.notices.done, m.id, "gave_up", now, why)
                    log.error("ops.gave_up", channel=channel, notice_id=m.body.get("notice_id"), error=why)
                    continue
                if m.next_attempt_at and now < datetime.fromisoformat(m.next_attempt_at.replace("Z", "+00:00")):
                    break  # in order: the rest of this channel waits behind it
                try:
                    await sender.send(m.body)
                except DeliveryError as e:
                    delay = min(OPS_RETRY_MAX, OPS_RETRY_MIN * 2.0**m.attempts)
                    await run(self.notices.failed, m.id, str(e), now + timedelta(seconds=delay))
                    log.warning("ops.retry", channel=channel, notice_id=m.body.get("notice_id"), error=str(e))
                    break
                await run(self.notices.done, m.id, "sent", self.clock.now())
