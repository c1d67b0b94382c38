"""Credentials checked before they are needed.

A revoked X token or a partner's moved endpoint would otherwise be found at the first post,
during an emergency. At start, and then every `credential_checks.every` (6 h), each X account's
token is checked with GET /2/users/me and each partner with `probe: true` gets a signed test
delivery. A refusal (401/403), an endpoint gone (404/410) or unreachable becomes a
`credential_check_failed` condition, so an operator notice, naming the account or partner and
never the secret; it clears when a later check passes. A failed target is checked again after
`failed_every` (10 min). No answer or a 5xx becomes a notice only when the next check meets it
too. A 429 says nothing about the credential: the state stays as it was.

X allows 75 users/me calls per 15 min per user; this makes one per account per 6 h, and one more
after a reload only for an account whose credential or API host changed. Each next check moves
by up to `jitter` of its interval, so checks spread out rather than go together.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from warnd.channels.base import Probed
from warnd.config.schema import BlueskyAccount, MastodonAccount, TelegramAccount, XAccount, outlets
from warnd.config.secrets import Secret
from warnd.errors import DeliveryError, Failure
from warnd.metrics import Metrics
from warnd.model import Target
from warnd.obs import get_logger
from warnd.runtime.build import Bundle

log = get_logger("warnd.credentials")

# At start the checks spread over at most this many seconds.
START_SPREAD = 10.0
# Checks at once: partners are separate hosts, X accounts separate users; a few is plenty.
CONCURRENCY = 4
IDLE = 60.0
# Answers that say the credential is refused or the endpoint gone (401/403, 404/410, a redirect)
# are a notice at once; these may pass by themselves and are a notice when two checks in a row
# meet them (`failed_every` apart).
TRANSIENT = (Failure.NETWORK, Failure.SERVER_ERROR)


@dataclass(frozen=True)
class Checked:
    """A target to check: its sender and what identifies its credential and endpoint (a new
    identity after a reload is checked at once). Never holds a secret value."""

    sender: Probed
    identity: str
    what: str


class CredentialChecks:
    def __init__(
        self,
        bundle: Callable[[], Bundle],
        metrics: Metrics,
        may_check: Callable[[], bool],
        changed: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.bundle = bundle
        self.metrics = metrics
        self.may_check = may_check
        self.changed = changed
        # Target -> why its last conclusive check failed.
        self.failing: dict[str, str] = {}
        self._due: dict[str, float] = {}
        self._identity: dict[str, str] = {}
        # Targets whose last check failed in a way that may pass by itself (see TRANSIENT).
        self._doubt: set[str] = set()
        self._wake = asyncio.Event()
        self._stopped = False

    def targets(self) -> dict[str, Checked]:
        b = self.bundle()
        cfg = b.config.file
        out: dict[str, Checked] = {}
        for name, channel, account in (
            (n, c, one) for n, declared in cfg.accounts.items() for c, one in outlets(n, declared)
        ):
            sender = b.senders.get(Target.account(name, channel))
            if isinstance(account, XAccount) and isinstance(sender, Probed):
                what = f"X account {name} (credential {account.credential})"
                out[sender.target] = Checked(sender, f"{account.credential}@{cfg.x.api_base}", what)
            if isinstance(account, MastodonAccount) and isinstance(sender, Probed):
                what = f"Mastodon account {name} (credential {account.credential})"
                out[sender.target] = Checked(sender, f"{account.credential}@{account.instance}", what)
            if isinstance(account, TelegramAccount) and isinstance(sender, Probed):
                what = f"Telegram chat {account.chat_id} of {name} (credential {account.credential})"
                out[sender.target] = Checked(sender, f"{account.credential}@{account.api_base}", what)
            if isinstance(account, BlueskyAccount) and isinstance(sender, Probed):
                what = f"Bluesky account {name} (credential {account.credential})"
                out[sender.target] = Checked(sender, f"{account.credential}@{account.pds}", what)
        for name, partner in cfg.partners.items():
            sender = b.senders.get(Target.partner(name))
            if partner.probe and isinstance(sender, Probed):
                # The endpoint by fingerprint: a URL from a credential is a secret, and a new one
                # (rotated in the environment, then a reload) is checked at once like a new URL.
                endpoint = Secret(str(getattr(sender, "url", partner.url))).fingerprint()
                out[sender.target] = Checked(sender, f"{endpoint}|{partner.secret}", f"partner {name}")
        return out

    def wake(self) -> None:
        """After a reload: targets added or changed are checked now."""
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopped:
            settings = self.bundle().config.file.credential_checks
            wait = IDLE
            if settings.enabled and self.may_check():
                await self.check_due(loop.time())
                if self._due:
                    wait = max(0.05, min(IDLE, min(self._due.values()) - loop.time()))
            else:
                # Checks off, or another node leads (and checks): what this node found is old
                # news, and, should it lead again, it checks everything at once.
                had = bool(self.failing)
                self._forget(list(self._identity))
                if had:
                    await self._changed()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def check_due(self, now: float) -> None:
        """Check every target that is due (all of them the first time)."""
        settings = self.bundle().config.file.credential_checks
        targets = self.targets()
        gone = [t for t in {*self._identity, *self.failing} if t not in targets]
        self._forget(gone)
        for target, c in targets.items():
            if self._identity.get(target) != c.identity:
                self._identity[target] = c.identity
                self.failing.pop(target, None)
                spread = min(START_SPREAD, settings.every * settings.jitter)
                self._due[target] = now + random.uniform(0, spread)  # noqa: S311 (jitter, not security)
        due = [t for t, at in self._due.items() if at <= now]
        if not due:
            if gone:
                await self._changed()
            return
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(target: str) -> bool:
            async with gate:
                return await self._check(target, targets[target])

        changed = await asyncio.gather(*(one(t) for t in due))
        if any(changed) or gone:
            await self._changed()

    async def _check(self, target: str, c: Checked) -> bool:
        """Check one target; True when its state changed."""
        settings = self.bundle().config.file.credential_checks
        loop = asyncio.get_running_loop()
        was = self.failing.get(target)
        try:
            await c.sender.probe()
        except DeliveryError as e:
            if e.failure is Failure.RATE_LIMITED:
                # Says nothing about the credential; look again later.
                self.metrics.credential_checks.labels(target, "rate_limited").inc()
                self._due[target] = loop.time() + _jittered(settings.failed_every, settings.jitter)
                log.info("credential.check_deferred", target=target, reason="rate_limited")
                return False
            outcome = "refused" if e.failure is Failure.AUTH else "unreachable"
            self.metrics.credential_checks.labels(target, outcome).inc()
            self._due[target] = loop.time() + _jittered(settings.failed_every, settings.jitter)
            if e.failure in TRANSIENT and target not in self._doubt and was is None:
                # A 5xx or a timeout may be a passing outage of the partner (its deliveries are
                # retried anyway): a notice only when the next check fails too.
                self._doubt.add(target)
                log.info("credential.check_inconclusive", target=target, reason=outcome, detail=str(e))
                return False
            why = _why(c.what, e, outcome)
            self.failing[target] = why
            self.metrics.credential_ok.labels(target).set(0)
            if was != why:
                log.warning("credential.check_failed", target=target, reason=outcome, detail=str(e))
            return was != why
        except Exception as e:
            log.error("credential.check_crashed", target=target, error=type(e).__name__)
            self._due[target] = loop.time() + _jittered(settings.failed_every, settings.jitter)
            return False
        self.failing.pop(target, None)
        self._doubt.discard(target)
        self.metrics.credential_checks.labels(target, "ok").inc()
        self.metrics.credential_ok.labels(target).set(1)
        self._due[target] = loop.time() + _jittered(settings.every, settings.jitter)
        if was is not None:
            log.info("credential.check_passed", target=target, detail="the credential works again")
        else:
            log.debug("credential.check_passed", target=target)
        return was is not None

    def _forget(self, targets: list[str]) -> None:
        for target in targets:
            self._due.pop(target, None)
            self._identity.pop(target, None)
            self.failing.pop(target, None)
            self._doubt.discard(target)
            with contextlib.suppress(KeyError):
                self.metrics.credential_ok.remove(target)

    async def _changed(self) -> None:
        if self.changed is not None:
            await self.changed()


def _jittered(interval: float, jitter: float) -> float:
    return interval * (1.0 + random.uniform(-jitter, jitter))  # noqa: S311 (jitter, not security)


def _why(what: str, e: DeliveryError, outcome: str) -> str:
    if outcome == "refused":
        return (
            f"{what} was refused at the credential check ({e}): its posts would fail."
            " Renew the credential, then restart warnd"
        )
    return f"{what} could not be reached at the credential check ({e}): its deliveries would fail"
