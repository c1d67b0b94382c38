"""Config -> the senders that deliver for it, keyed by outbox target. Credentials are read
here, once per build, so a reload picks up rotated tokens (those in the environment; systemd
credentials are fixed for the life of the process, a restart reads new ones).

A target whose credential is missing gets no sender: its warnings wait in the outbox, and the
caller decides whether that is an error (`warnd check --secrets`) or an operator notice (the
daemon, which keeps every other region and partner running)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from warnd.channels.base import Sender
from warnd.channels.bluesky import BlueskySender
from warnd.channels.cap_feed import CapFeedSender, declared_feeds
from warnd.channels.file import FileSender
from warnd.channels.mastodon import MastodonSender
from warnd.channels.telegram import TelegramSender
from warnd.channels.webhook import WebhookSender
from warnd.channels.x import XSender
from warnd.clock import Clock, SystemClock
from warnd.config import secrets
from warnd.config.outbound import Outbound
from warnd.config.schema import (
    BlueskyAccount,
    ConfigFile,
    FileAccount,
    MastodonAccount,
    SingleAccount,
    TelegramAccount,
    XAccount,
    outlets,
)
from warnd.model import Target


@dataclass
class Built:
    senders: dict[str, Sender] = field(default_factory=dict)
    # (key path, message): missing credentials, named with where to put them, never shown.
    problems: list[tuple[tuple[str | int, ...], str]] = field(default_factory=list)
    # Target -> why it has no sender.
    missing: dict[str, str] = field(default_factory=dict)


def make_senders(
    cfg: ConfigFile,
    resolve: Callable[[str], Path],
    state_dir: Path,
    outbound: Outbound,
    credentials: secrets.Credentials | None = None,
    clock: Clock | None = None,
) -> Built:
    """`clock`: the daemon's (the system's steady time when not given)."""
    out = Built()
    clock = clock or SystemClock()
    creds = credentials or secrets.Credentials.from_environment()

    def problem(where: tuple[str | int, ...], target: str, message: str) -> None:
        if (where, message) not in out.problems:
            out.problems.append((where, message))
        out.missing[target] = out.missing.get(target, "") + ("; " if target in out.missing else "") + message

    def secret(name: str, where: tuple[str | int, ...], target: str) -> secrets.Secret | None:
        value = creds.read(name)
        if value is None:
            problem(where, target, secrets.missing(name))
        return value

    def url(literal: str | None, credential: str | None, where: tuple[str | int, ...], target: str) -> str | None:
        if credential is None:
            return literal
        try:
            return creds.url(credential).reveal()
        except secrets.CredentialError as e:
            problem(where, target, str(e))
            return None

    feeds = declared_feeds(cfg)
    for name, declared in cfg.accounts.items():
        feed = feeds[name]
        out.senders[Target.feed(name)] = CapFeedSender(
            name, state_dir / "cap" / name, entries=feed.entries, title=feed.title, clock=clock
        )
        for channel, account in outlets(name, declared):
            target = Target.account(name, channel)
            at: tuple[str | int, ...] = ("accounts", name, "channels", channel) if channel else ("accounts", name)
            made = _account_sender(cfg, name, account, at, target, secret, resolve, outbound, clock)
            if made is not None:
                # One channel of several is a target of its own (its lane, holds, dead letters).
                made.target = target
                out.senders[target] = made
    for name, partner in cfg.partners.items():
        key = secret(partner.secret, ("partners", name, "secret"), Target.partner(name))
        endpoint = url(partner.url, partner.url_credential, ("partners", name, "url_credential"), Target.partner(name))
        if key is None or endpoint is None:
            continue
        try:
            out.senders[Target.partner(name)] = WebhookSender(
                name,
                url=endpoint,
                secret=key,
                fmt=partner.format,
                timeout=partner.timeout,
                user_agent=cfg.user_agent,
                outbound=outbound,
                clock=clock,
                maps_url=cfg.maps.public_url if cfg.maps.enabled else None,
            )
        except ValueError as e:
            # Treated like a missing credential: named, with where it lives, never shown.
            message = f"credential {partner.secret!r}: {e}; {secrets.where(partner.secret)}"
            out.problems.append((("partners", name, "secret"), message))
            out.missing[Target.partner(name)] = message
    return out


SecretOf = Callable[[str, tuple[str | int, ...], str], secrets.Secret | None]


def _account_sender(
    cfg: ConfigFile,
    name: str,
    account: SingleAccount,
    at: tuple[str | int, ...],
    target: str,
    secret: SecretOf,
    resolve: Callable[[str], Path],
    outbound: Outbound,
    clock: Clock,
) -> Sender | None:
    """The sender of one channel of account `name` (None: a credential is missing, recorded by
    `secret` under `at`, the account's place in the config)."""
    if isinstance(account, FileAccount):
        return FileSender(name, resolve(account.path), echo=account.echo)
    if isinstance(account, MastodonAccount):
        token = secret(account.credential, (*at, "credential"), target)
        if token is not None:
            return MastodonSender(
                name,
                instance=account.instance,
                token=token,
                lang=account.lang,
                outbound=outbound,
                clock=clock,
                user_agent=cfg.user_agent,
                timeout=account.timeout,
                picture_wait=account.picture_wait,
            )
        return None

    if isinstance(account, TelegramAccount):
        token = secret(account.credential, (*at, "credential"), target)
        if token is not None:
            chat, bot = account.chat_budget, account.bot_budget
            return TelegramSender(
                name,
                token=token,
                chat_id=account.chat_id,
                bot=account.credential,
                api_base=account.api_base,
                timeout=account.timeout,
                chat_budget=(chat.posts, chat.window, chat.reserve),
                bot_budget=(bot.posts, bot.window, bot.reserve),
                chat_pace=(account.chat_pace.posts, account.chat_pace.window, account.chat_pace.reserve),
                outbound=outbound,
                clock=clock,
                picture_wait=cfg.maps.wait,
            )
        return None

    if isinstance(account, BlueskyAccount):
        password = secret(f"{account.credential}.app_password", (*at, "credential"), target)
        if password is not None:
            return BlueskySender(
                name,
                handle=account.handle,
                app_password=password,
                pds=account.pds,
                timeout=account.timeout,
                hour_budget=(account.hour_budget.posts, account.hour_budget.window, account.hour_budget.reserve),
                day_budget=(account.day_budget.posts, account.day_budget.window, account.day_budget.reserve),
                user_agent=cfg.user_agent,
                outbound=outbound,
                clock=clock,
                picture_wait=cfg.maps.wait,
            )
        return None
    assert isinstance(account, XAccount)
    app_name = cfg.x.app_credential
    app = (
        secret(f"{app_name}.consumer_key", ("x", "app_credential"), target),
        secret(f"{app_name}.consumer_secret", ("x", "app_credential"), target),
    )
    token = secret(f"{account.credential}.access_token", (*at, "credential"), target)
    token_secret = secret(f"{account.credential}.access_token_secret", (*at, "credential"), target)
    if app[0] is None or app[1] is None or token is None or token_secret is None:
        return None
    return XSender(
        name,
        consumer_key=app[0],
        consumer_secret=app[1],
        access_token=token,
        access_token_secret=token_secret,
        api_base=cfg.x.api_base,
        connect_timeout=cfg.x.connect_timeout,
        read_timeout=cfg.x.read_timeout,
        account_budget=(cfg.x.account_budget.posts, cfg.x.account_budget.window, cfg.x.account_budget.reserve),
        app_budget=(cfg.x.app_budget.posts, cfg.x.app_budget.window, cfg.x.app_budget.reserve),
        outbound=outbound,
        clock=clock,
        # maps.wait: how long a post that is not life-safety waits for its map.
        picture_wait=cfg.maps.wait,
    )
