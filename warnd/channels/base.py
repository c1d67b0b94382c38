"""What every channel is, and the one place an HTTP answer is classified into a Failure."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol, runtime_checkable

from warnd.errors import Failure
from warnd.metrics import count_media_failure
from warnd.model import Delivery, Target
from warnd.obs import get_logger


class Checkpoint(Protocol):
    """Where a channel records its progress through one delivery as it goes (the parts of a
    thread), so that a crash mid-delivery resumes after the last part out. Runtime supplies it;
    a channel never writes to the store itself."""

    async def part_sent(self, remote_id: str | None) -> None:
        """A thread part is out, with its remote id (None: X has the part from an earlier
        request whose answer was lost, and does not say its id)."""
        ...

    async def part_unanswered(self, part: int) -> None:
        """Part `part` (1-based) got no answer (a timeout, a lost connection, a 5xx): X may
        have it. With the in-flight attempts a restart finds, the record that lets a later
        duplicate-content refusal of that part count as delivered, and no other."""
        ...


class Unrecorded:
    """A delivery whose progress is kept nowhere (a probe, a one-off send)."""

    async def part_sent(self, remote_id: str | None) -> None:
        pass

    async def part_unanswered(self, part: int) -> None:
        pass


class Texts:
    """The texts one attempt at a delivery goes out as (X: the parts of a thread), cut once by
    the channel's own rule and kept for the attempt.

    The dispatcher asks a sender what a delivery costs (`Sender.cost`) before it sends it
    (`Sender.send`), with the same Job: both read this one cut, so a text is split once per
    attempt and the budget counts exactly the posts the send makes. What a cut is (X's 280
    weighted characters, another platform's own limit) stays in the channel: the protocol
    knows only that a delivery may go out as several texts."""

    __slots__ = ("_texts",)

    def __init__(self) -> None:
        self._texts: tuple[str, ...] | None = None

    def get(self, cut: Callable[[], Sequence[str]]) -> tuple[str, ...]:
        """The texts, cut by `cut` on the first ask of this attempt."""
        if self._texts is None:
            self._texts = tuple(cut())
        return self._texts


@dataclass(frozen=True, slots=True)
class Picture:
    """A warning's map image: PNG bytes and the alt text a screen reader says."""

    png: bytes
    alt: str


class Pictures(Protocol):
    """Where a sender gets the warning's map: waits at most `seconds` for it (0: only if it is
    ready now); None when there is none (maps off, rendering failed, or not ready in time)."""

    async def wait(self, seconds: float) -> Picture | None: ...


# The least the bound below gives: Python 3.11's wait_for with 0 gives up before the source is
# even asked, and a map already drawn would never go with a text that waits for nothing.
_ASK = 0.01


async def picture_within(source: Pictures, seconds: float) -> Picture | None:
    """The source's map if it has one within `seconds`, else None. The bound keeps a post from
    waiting on a source that does not keep its word, and a life-safety post from waiting past its
    0.2 s (a map ready at that instant follows as a reply). What the source raises is raised."""
    try:
        return await asyncio.wait_for(source.wait(seconds), max(seconds, _ASK))
    except TimeoutError:
        return None


@dataclass(frozen=True, slots=True)
class Job:
    """One attempt at one delivery: made by the dispatcher, handed to the sender's cost and send."""

    delivery: Delivery
    # The post this one answers on the same account: the first post about the event.
    reply_to: str | None = None
    checkpoint: Checkpoint = field(default_factory=Unrecorded)
    texts: Texts = field(default_factory=Texts, compare=False, repr=False)
    # The warning's map, for a channel that shows images; None: no map for this delivery.
    picture: Pictures | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Sent:
    remote_id: str | None
    # The channel refused it as already delivered (X's duplicate content, a partner's 409).
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Budget:
    """At most `posts` requests per sliding `window` seconds in `bucket` (shared by senders
    that name the same bucket, like the X app budget), the last `reserve` of them kept for
    life-safety posts (model.life_safety)."""

    bucket: str
    posts: int
    window: float
    reserve: int = 0

    def limit(self, life_safety: bool) -> int:
        return self.posts if life_safety else self.posts - self.reserve


class Sender(Protocol):
    target: Target
    # What kind of channel it is (x, file, webhook, cap_feed), for metrics.
    channel: str
    # Budgets kept below the platform's limits, checked before each delivery.
    budgets: tuple[Budget, ...]
    # Other holds that stop this sender too (every X account stops when the app is limited).
    hold_keys: tuple[str, ...]
    # Whether later posts about an event answer the first one (and so wait for it).
    replies: bool
    # How many deliveries a lane may mark in flight together when a backlog builds up: more
    # than one only where a repeat is harmless (a partner dedupes on the idempotency key, a
    # CAP feed entry is replaced by id). Fewer commits per delivery; X and files take one.
    batch: int

    def cost(self, job: Job) -> int:
        """Requests this delivery will make (thread parts not yet posted: from job.texts, the
        same cut send posts)."""
        ...

    async def send(self, job: Job) -> Sent:
        """Deliver or raise DeliveryError with its Failure."""
        ...

    async def aclose(self) -> None: ...


def needs_cap(sender: Sender) -> bool:
    """Whether what the sender delivers is the warning's CAP document (a CAP feed entry, a
    WebSub push, a partner who takes CAP), so that it waits for the document to be made. A
    sender says so with a `needs_cap` attribute; the others never wait."""
    return bool(getattr(sender, "needs_cap", False))


@runtime_checkable
class Probed(Protocol):
    """A sender whose credential or endpoint can be checked without delivering anything."""

    target: Target

    async def probe(self) -> None:
        """None when the platform takes the credential; DeliveryError with its Failure otherwise."""
        ...


def classify_status(status: int) -> Failure | None:
    """None for success. The same table for every partner HTTP channel: 429 waits, 5xx and 408
    retry, 401/403 disable the target, other 4xx are final. X, whose answers differ by body (a
    402 for spent credits, 403s that mean different things), has its own: x_answers.X_ANSWERS."""
    if 200 <= status < 300:
        return None
    if status == 429:
        return Failure.RATE_LIMITED
    if status == 408:
        return Failure.NETWORK
    if status in (401, 403):
        return Failure.AUTH
    if status == 409:
        return Failure.DUPLICATE
    if status >= 500:
        return Failure.SERVER_ERROR
    return Failure.BAD_REQUEST


def retry_after(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """Retry-After as seconds or as an HTTP date."""
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return now + timedelta(seconds=min(int(value), 86400))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else None


_maps_log = get_logger("warnd.channels")


def map_failed(channel: str, account: str, d: Delivery, reason: str, detail: str) -> None:
    """A warning's map that did not go out with its post (the post went without it): logged as
    `<channel>.media_failed` with the event, and counted by channel, account and reason."""
    w = d.warning
    _maps_log.warning(
        f"{channel}.media_failed", event_id=w.event_id, warning_id=w.id, target=d.target, reason=reason, detail=detail
    )
    count_media_failure(channel, account, reason)
