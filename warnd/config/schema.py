"""Typed models of every operator-edited file. Unknown keys are errors: a misspelt key that was
silently ignored would be a rule that silently never fires."""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from warnd.model import Hazard, Priority, Status
from warnd.redact import carried_secret, redact_url

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
# The partner names of partners' own subscriptions (store.subscriptions): no YAML partner's.
SUBSCRIBER_PREFIX = "sub-"


def parse_duration(value: Any) -> Any:
    """'30s', '5m', '2h', '1d' or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '30s', '5m', '2h'")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNITS[m.group(2)]
    raise ValueError(f"{value!r} is not a duration (a number of seconds, or like '30s', '5m', '2h')")


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


def _no_secret(v: str) -> str:
    """A URL written in YAML is read by anyone who can read the file (and kept in the config
    snapshot): one that carries a credential belongs in a credential."""
    what = carried_secret(v)
    if what is not None:
        raise ValueError(
            f"the URL carries {what}: a secret never goes in YAML; put the whole URL in a credential"
            " and name that credential with url_credential instead of url"
        )
    return v


def _http_url(v: str) -> str:
    if not v.startswith(("https://", "http://")):
        raise ValueError(f"{redact_url(v)!r} is not an http(s) URL")
    return _no_secret(v)


HttpUrl = Annotated[str, AfterValidator(_http_url)]
# A feed's URL may also be a file path (recorded documents, drills).
FeedUrl = Annotated[str, AfterValidator(_no_secret)]


def _exactly_one_url(url: str | None, credential: str | None) -> None:
    if (url is None) == (credential is None):
        raise ValueError(
            "give exactly one of url (a URL without secrets) and url_credential (the name of the"
            " credential holding a URL that carries one)"
        )


_THRESHOLD = re.compile(r"^\s*(>=|<=|>|<|==)\s*(-?\d+(?:\.\d+)?)\s*$")


def parse_threshold(value: Any) -> Any:
    """'>= 5.0' -> ('>=', 5.0); a bare number means '>='."""
    if isinstance(value, bool):
        raise ValueError("a threshold is like '>= 5.0'")
    if isinstance(value, int | float):
        return (">=", float(value))
    if isinstance(value, str):
        m = _THRESHOLD.match(value)
        if m:
            return (m.group(1), float(m.group(2)))
    raise ValueError(f"{value!r} is not a threshold (write it like '>= 5.0' or '< 70')")


Threshold = Annotated[tuple[Literal[">=", "<=", ">", "<", "=="], float], BeforeValidator(parse_threshold)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- feeds ----------------------------------------------------------------------------------


class FeedSpec(Strict):
    """A feed as polled: one catalogue entry, maybe with per-deployment overrides."""

    id: Name
    format: str
    url: FeedUrl | None = None
    url_credential: Name | None = None
    """Name of the credential holding the feed's URL, for a feed that needs a secret to be read
    (https://user:password@host/..., ?token=...). Exactly one of url and url_credential."""
    interval: Duration = 60.0
    jitter: Annotated[float, BeforeValidator(parse_duration), Field(ge=0)] = 0.0
    timeout: Duration = 10.0
    stale_after: Duration | None = None
    """How long the feed may go without a new document (or without any answer) before it is
    stale: an operator notice, health degraded."""
    fail_after: Duration | None = None
    """How long the feed may keep failing (every poll since the first failed one refused, an
    error status, a timeout, a document that does not parse) before it is failing: an operator
    notice, health failing when the feed is critical and degraded when not. Unset: three
    intervals, and never less than 60 s (see `fail_limit`)."""
    critical: bool = False
    """warnd cannot do its job without this feed (tsunami warnings, earthquakes): when it is
    failing, /healthz answers 503 and `warnd status` exits non-zero."""
    backoff_max: Duration = 300.0
    """Longest wait between polls while the feed keeps failing."""
    max_bytes: int = Field(default=5_000_000, gt=0)
    max_links: int = Field(default=20, ge=0, le=200)
    """Linked documents (CAP alerts behind an index) fetched per poll at most."""
    max_age: Duration | None = None
    """How old an event of this feed may be and still be posted; older ones are recorded, never
    posted. Unset: by hazard (earthquake 1h by origin time, tsunami 6h since its latest message,
    flood 3h, weather and other 6h; warnings with an expiry while in force)."""
    attribution: str | None = None
    """The source's full credit, as its terms ask for it: carried by every webhook and CAP alert
    made from this feed."""
    credit: str | None = Field(default=None, min_length=1, max_length=40)
    """The same credit as a post can carry it ("BMKG", "PetaBencana.id (CC BY 4.0)"): a post
    has 280 characters. Unset: the agency's name (BMKG, USGS, GDACS)."""
    description: str | None = None
    sequence: bool = False
    """Recorded documents played in order: `url` names a local folder, and each poll reads the
    next file after the one read last, in name order, staying on the last file once there. For
    the demo and drills; refused for anything but a local folder, so a live feed never has it."""
    group: Name | None = None
    """Feeds that carry the same events (BMKG's quake documents: autogempa, gempaterkini,
    gempadirasakan, InaTEWS datagempa): their polls are spread over the shortest interval of the
    group, one phase each, so that together they look N times per interval. Jitter is not
    applied to a feed of a group (the phases already keep its polls apart)."""

    @property
    def fail_limit(self) -> float:
        """Seconds of failing before the feed is failing. The default lets a feed fail one poll
        and its retry (a blip of a CDN, one timeout) without an alarm, and waits at least a
        minute so that a feed polled every few seconds does not alarm on a ten-second hiccup."""
        if self.fail_after is not None:
            return self.fail_after
        return max(FAIL_AFTER_INTERVALS * self.interval, FAIL_AFTER_MIN)

    @model_validator(mode="after")
    def _one_url(self) -> FeedSpec:
        _exactly_one_url(self.url, self.url_credential)
        if self.sequence and (self.url is None or not is_local(self.url)):
            raise ValueError(
                "sequence: plays recorded documents from a local folder; url must be a path or a file:// URL"
                f" (got {'url_credential' if self.url is None else repr(redact_url(self.url))})"
            )
        return self


def is_local(url: str) -> bool:
    """A feed URL that names a file or folder on this machine (a path, or file://)."""
    return "://" not in url or url.startswith("file://")


FAIL_AFTER_INTERVALS = 3
FAIL_AFTER_MIN = 60.0


class FeedEntry(Strict):
    """An item of the config's `feeds:` list: `use:` a catalogue entry, or define one inline."""

    use: Name | None = None
    id: Name | None = None
    format: str | None = None
    url: FeedUrl | None = None
    url_credential: Name | None = None
    """Replaces the catalogue entry's url (and a url here replaces its url_credential)."""
    interval: Duration | None = None
    jitter: Annotated[float, BeforeValidator(parse_duration), Field(ge=0)] | None = None
    timeout: Duration | None = None
    stale_after: Duration | None = None
    fail_after: Duration | None = None
    critical: bool | None = None
    backoff_max: Duration | None = None
    max_bytes: int | None = Field(default=None, gt=0)
    max_links: int | None = Field(default=None, ge=0, le=200)
    max_age: Duration | None = None
    attribution: str | None = None
    credit: str | None = Field(default=None, min_length=1, max_length=40)
    description: str | None = None
    sequence: bool | None = None
    group: Name | None = None


# --- regions --------------------------------------------------------------------------------


class RegionLayer(Strict):
    name: Name
    path: str


# --- accounts and partners ------------------------------------------------------------------


class _Account(Strict):
    name: str
    lang: Literal["id", "en"] = "id"
    regions: list[str] = Field(default_factory=list)
    """Home regions: the account posts only about these (codes, prefixes match children)."""


class FileChannel(Strict):
    path: str
    echo: bool = False
    """Also print each warning on standard output (the demo does)."""


class XChannel(Strict):
    credential: Name
    """Name of the credential holding this account's tokens (environment or systemd)."""
    handle: str | None = None
    include_url: bool = False


class MastodonChannel(Strict):
    """One account on a Mastodon instance (channels.mastodon); statuses in the account's `lang`."""

    instance: str
    """The instance's base URL, https (http only to a loopback address, for drills), no secret in it."""
    credential: Name
    """Name of the credential holding the account's access token (scopes write:statuses, write:media)."""
    timeout: Duration = 10.0
    picture_wait: Duration = 2.0
    """How long a status that is not life-safety waits for its map (life safety: 0.2 s at most,
    and no longer than this; 0: the text never waits, the map follows as a reply)."""

    @field_validator("instance")
    @classmethod
    def _https(cls, v: str) -> str:
        u = urlsplit(v)
        if not u.hostname or u.path.strip("/") or u.query or u.fragment:
            raise ValueError(f"{redact_url(v)!r} must be an instance's base URL, e.g. https://mastodon.example")
        if u.scheme != "https" and not (u.scheme == "http" and is_loopback(u.hostname)):
            raise ValueError(f"{redact_url(v)!r} must be https (http only to a loopback address)")
        return _no_secret(v.rstrip("/"))


class TelegramChannel(Strict):
    """A Telegram channel or group a bot posts to (Bot API sendMessage / sendPhoto)."""

    credential: Name
    """Name of the credential holding the bot token (environment or systemd, never YAML)."""
    chat_id: Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)] = Field(
        pattern=r"^(@[A-Za-z][A-Za-z0-9_]{3,}|-?[0-9]+)$"
    )
    """The channel's @username or the chat's numeric id (-100... for channels and supergroups)."""
    api_base: str = "https://api.telegram.org"
    """The Bot API's base URL: https (http only to a loopback address, for drills): the bot
    token travels in every request's path."""
    timeout: Duration = 10.0
    # Below Telegram's limits (about 20 messages a minute in one group or channel, 30 a second
    # per bot overall) so a burst never meets 429; the reserve is for life safety.
    chat_budget: Budget = Field(default_factory=lambda: Budget(posts=18, window=60.0, reserve=4))
    chat_pace: Budget = Field(default_factory=lambda: Budget(posts=1, window=1.0))
    """Telegram asks for no more than one message a second in one chat: two warnings in a row
    go a second apart (the parts of one thread go back to back)."""
    bot_budget: Budget = Field(default_factory=lambda: Budget(posts=25, window=1.0, reserve=5))

    @model_validator(mode="after")
    def _under_telegram(self) -> TelegramChannel:
        if not _drill(self.api_base):
            under("chat_budget", self.chat_budget, 20, 60.0, "Telegram's limit on messages to one group or channel")
            under("bot_budget", self.bot_budget, 30, 1.0, "Telegram's limit on one bot's messages")
        return self

    @field_validator("api_base")
    @classmethod
    def _https_api(cls, v: str) -> str:
        u = urlsplit(v)
        if not u.hostname or u.query or u.fragment:
            raise ValueError(f"{redact_url(v)!r} must be the Bot API's base URL, e.g. https://api.telegram.org")
        if u.scheme != "https" and not (u.scheme == "http" and is_loopback(u.hostname)):
            raise ValueError(f"{redact_url(v)!r} must be https (http only to a loopback address)")
        return v.rstrip("/")


class BlueskyChannel(Strict):
    """A Bluesky account, posted to through its PDS (AT Protocol XRPC)."""

    handle: str = Field(min_length=3, pattern=r"^(did:[a-z]+:\S+|[A-Za-z0-9.-]+\.[A-Za-z]{2,})$")
    """The account's handle (bmkg-ntt.bsky.social) or DID: createSession's identifier."""
    credential: Name
    """Name of the credential holding the account's app password (<credential>.app_password)."""
    pds: HttpUrl = "https://bsky.social"
    """The account's PDS (or the entryway that finds it)."""
    timeout: Duration = 10.0
    # Below Bluesky's documented 5,000 points an hour and 35,000 a day per account (a post is
    # 3 points: 1,666 and 11,666 posts), the last of each kept for life safety.
    hour_budget: Budget = Field(default_factory=lambda: Budget(posts=1500, window=3600.0, reserve=150))
    day_budget: Budget = Field(default_factory=lambda: Budget(posts=10500, window=86400.0, reserve=1000))

    @model_validator(mode="after")
    def _under_bluesky(self) -> BlueskyChannel:
        if not _drill(self.pds):
            under("hour_budget", self.hour_budget, 1666, 3600.0, "Bluesky's 5,000 points an hour at 3 points a post")
            under("day_budget", self.day_budget, 11_666, 86_400.0, "Bluesky's 35,000 points a day at 3 points a post")
        return self


class FileAccount(_Account, FileChannel):
    channel: Literal["file"]


class XAccount(_Account, XChannel):
    channel: Literal["x"]


class MastodonAccount(_Account, MastodonChannel):
    channel: Literal["mastodon"]


class TelegramAccount(_Account, TelegramChannel):
    channel: Literal["telegram"]


class BlueskyAccount(_Account, BlueskyChannel):
    channel: Literal["bluesky"]


SingleAccount = FileAccount | XAccount | MastodonAccount | TelegramAccount | BlueskyAccount
_SINGLE: dict[str, type[SingleAccount]] = {
    "file": FileAccount,
    "x": XAccount,
    "mastodon": MastodonAccount,
    "telegram": TelegramAccount,
    "bluesky": BlueskyAccount,
}


class ChannelSet(Strict):
    """The channels one account publishes on, each at most once."""

    x: XChannel | None = None
    telegram: TelegramChannel | None = None
    mastodon: MastodonChannel | None = None
    bluesky: BlueskyChannel | None = None
    file: FileChannel | None = None


class MultiAccount(_Account):
    """An account that publishes on several channels at once (X, Telegram, Mastodon, Bluesky,
    a file). Each channel is a target of its own, `account:<name>/<channel>`, with its own lane,
    holds, budgets and dead letters: one platform's outage never delays another's. The text is
    the account's, in its language and for its regions; each channel fits it to its own limits."""

    channels: ChannelSet

    @property
    def channel(self) -> str:
        return "+".join(self.channel_names())

    def channel_names(self) -> list[str]:
        return [k for k in ChannelSet.model_fields if getattr(self.channels, k) is not None]

    @model_validator(mode="after")
    def _some(self) -> MultiAccount:
        if not self.channel_names():
            raise ValueError("channels: name at least one of " + ", ".join(ChannelSet.model_fields))
        return self


def _account_kind(v: Any) -> str | None:
    if isinstance(v, dict):
        if "channels" in v and "channel" not in v:
            return "multi"
        kind = v.get("channel")
        return kind if isinstance(kind, str) else None
    return "multi" if isinstance(v, MultiAccount) else getattr(v, "channel", None)


Account = Annotated[
    Annotated[FileAccount, Tag("file")]
    | Annotated[XAccount, Tag("x")]
    | Annotated[MastodonAccount, Tag("mastodon")]
    | Annotated[TelegramAccount, Tag("telegram")]
    | Annotated[BlueskyAccount, Tag("bluesky")]
    | Annotated[MultiAccount, Tag("multi")],
    Discriminator(
        _account_kind,
        custom_error_type="account_channel",
        custom_error_message=(
            "an account names its channel (channel: x, telegram, mastodon, bluesky or file)"
            " or, to publish on several, its channels (channels: {x: {...}, telegram: {...}})"
        ),
    ),
]


def outlets(name: str, account: SingleAccount | MultiAccount) -> list[tuple[str | None, SingleAccount]]:
    """Where an account publishes: (None, itself) for a one-channel account, and (channel, that
    channel's settings as a one-channel account of the same name, language and regions) for
    each channel of a several-channel account, in a fixed order."""
    if not isinstance(account, MultiAccount):
        return [(None, account)]
    out: list[tuple[str | None, SingleAccount]] = []
    for kind in account.channel_names():
        settings = getattr(account.channels, kind)
        fields: dict[str, Any] = {k: getattr(settings, k) for k in type(settings).model_fields}
        fields.update(name=account.name, lang=account.lang, regions=account.regions, channel=kind)
        # Validated already, field by field, as the channel's settings and the account's.
        out.append((kind, _SINGLE[kind].model_construct(**fields)))
    return out


class Partner(Strict):
    """A media partner: every warning of the accounts it subscribes to (optionally only some
    hazards, levels, severities or regions) is POSTed to its webhook, signed."""

    name: str
    url: HttpUrl | None = None
    url_credential: Name | None = None
    """Name of the credential holding the webhook URL, when the URL itself is a secret (a token
    in its path or query). Exactly one of url and url_credential."""
    secret: Name
    """Name of the credential holding the HMAC signing secret (never the secret itself)."""
    accounts: list[str] = Field(min_length=1)
    format: Literal["json", "cap"] = "json"
    hazards: list[Hazard] | None = None
    levels: list[str] | None = None
    """Warning levels wanted (awas, siaga, waspada, siaga1 ... siaga4); unset: all."""
    severities: list[Literal["extreme", "severe", "moderate", "minor", "unknown"]] | None = None
    regions: list[str] | None = None
    """Region codes (a province code covers its regencies); unset: all the accounts' regions."""
    timeout: Duration = 10.0
    probe: bool = True
    """Send a signed test delivery (`X-Warnd-Kind: probe`, schema warnd.probe/1) at start and every
    `credential_checks.every`, so a changed endpoint or secret is found before an emergency."""

    @field_validator("levels")
    @classmethod
    def _lower(cls, v: list[str] | None) -> list[str] | None:
        return [x.lower() for x in v] if v is not None else None

    @model_validator(mode="after")
    def _one_url(self) -> Partner:
        _exactly_one_url(self.url, self.url_credential)
        return self


class Budget(Strict):
    posts: int = Field(gt=0)
    window: Duration
    reserve: int = Field(default=0, ge=0)
    """The last posts of the window kept for life-safety warnings: a day of ordinary posts never
    leaves a tsunami or a Siaga 1 gate waiting for the window to empty."""

    @model_validator(mode="after")
    def _reserve_below_posts(self) -> Budget:
        if self.reserve >= self.posts:
            raise ValueError(f"reserve {self.reserve} leaves nothing of {self.posts} posts for other warnings")
        return self


def _drill(base: str) -> bool:
    """An endpoint on this machine is a drill's fake (warnd.testing), not the platform: the
    platform's limits are not its."""
    host = urlsplit(base).hostname
    return host is not None and is_loopback(host)


def under(key: str, budget: Budget, limit: int, window: float, what: str) -> Budget:
    """`budget` never lets more than `limit` requests through in any `window` seconds, the
    platform's documented limit (`what` names it): a budget over it meets 429s in a burst, the
    moment warnings matter most. A budget of a shorter window repeats within the platform's."""
    most = budget.posts if budget.window >= window else budget.posts * math.ceil(window / budget.window)
    if most > limit:
        raise ValueError(
            f"{key}: {budget.posts} posts per {budget.window:g} s allows up to {most} in {window:g} s, over {what}"
            f" ({limit} per {window:g} s)"
        )
    return budget


class XSettings(Strict):
    """How warnd talks to the X API (all accounts share the app)."""

    api_base: str = "https://api.x.com"
    app_credential: Name = "x-app"
    """Credential name of the app's consumer key and secret (<name>.consumer_key, ...)."""
    connect_timeout: Duration = 3.05
    read_timeout: Duration = 10.0
    # Below X's limits (100 posts / 15 min / user, 10,000 / 24 h / app) so a burst never meets 429.
    account_budget: Budget = Field(default_factory=lambda: Budget(posts=90, window=900.0, reserve=10))
    app_budget: Budget = Field(default_factory=lambda: Budget(posts=9000, window=86400.0, reserve=900))
    user_limit: Budget = Field(default_factory=lambda: Budget(posts=100, window=900.0))
    """X's own limit on posts per user, which `account_budget` must stay under: 100 per 15 min
    on every paid tier today; an agreement with X for more is written here."""
    app_limit: Budget = Field(default_factory=lambda: Budget(posts=10_000, window=86_400.0))
    """X's own limit on posts per app (every account's together), for `app_budget`."""

    @model_validator(mode="after")
    def _under_x(self) -> XSettings:
        if not _drill(self.api_base):
            under(
                "account_budget",
                self.account_budget,
                self.user_limit.posts,
                self.user_limit.window,
                "X's limit on posts per user",
            )
            under(
                "app_budget", self.app_budget, self.app_limit.posts, self.app_limit.window, "X's limit on posts per app"
            )
        return self


class CredentialChecks(Strict):
    """Each X account's token (GET /2/users/me) and each partner's endpoint (a signed probe) are
    checked at start and then on this schedule, so a revoked token is found before it is needed."""

    enabled: bool = True
    every: Duration = 6 * 3600.0
    failed_every: Duration = 600.0
    """After a failed check: soon enough to see the fix, rarely enough to stay far below X's
    limit on users/me (75 per 15 min per user)."""
    jitter: Annotated[float, Field(ge=0, le=0.5)] = 0.1
    """Each next check moves by up to this fraction of its interval, so accounts spread out."""


class DispatchSettings(Strict):
    give_up_after: Duration = 7200.0
    """A warning not delivered this long after it was issued is dead-lettered with a notice."""
    retry_min: Duration = 2.0
    retry_max: Duration = 600.0
    probe_every: Duration = 5.0
    """While a platform is down (server errors, no connection), one waiting delivery of its lanes
    is tried this often whatever its backoff; the first that goes through releases the rest."""
    backlog_alarm: Duration = 600.0
    """A target with a warning waiting longer than this raises a notice (held, failing or disabled)."""


class SubscriptionSettings(Strict):
    """Partners subscribing themselves (`POST /subscriptions`, docs/partners.md): off unless
    enabled. Each request is verified by a challenge to the partner's URL and waits for an
    operator's approval (`warnd subscription approve`)."""

    enabled: bool = False
    challenge_timeout: Duration = 5.0
    """How long the partner's URL has to echo the challenge."""
    requests_per_minute: int = Field(default=6, gt=0)
    """Subscription requests taken per client address per minute; more get 429."""
    max_pending: int = Field(default=50, gt=0)
    """Requests waiting for an operator at most; more get 503 until some are decided."""
    pending_expire_after: Duration = 7 * 86400.0
    """A request no operator approved within this long is dropped (revoked, `expired`)."""
    body_timeout: Duration = 5.0
    """How long a request's body may take to arrive once its head is in; then 408."""
    concurrent: int = Field(default=8, gt=0)
    """Requests handled at once (each may be waiting for its body or its challenge); more get 503."""
    concurrent_per_client: int = Field(default=2, gt=0)
    """...of which from one client network (its /24, or /64 for IPv6) at most."""
    allow_loopback: bool = False
    """Let a subscription's URL be on this machine's loopback (tests, drills). Off: every address
    its name resolves to must be globally routable, at the challenge and at each delivery."""
    pause_after_dead: int = Field(default=3, gt=0)
    """An active subscription is paused (with an operator notice) after this many dead
    deliveries in a row..."""
    pause_after: Duration = 3600.0
    """...or when a warning to it has been failing for this long."""
    timeout: Duration = 10.0
    """Each delivery's timeout, as a partner's `timeout`."""


class OpsFile(Strict):
    """Operator notices appended to a file as JSON lines."""

    channel: Literal["file"]
    path: str


class OpsWebhook(Strict):
    """Operator notices POSTed as JSON (with a `text` line, as chat webhooks expect), signed like
    partner webhooks when `secret` names a credential."""

    channel: Literal["webhook"]
    url: HttpUrl | None = None
    url_credential: Name | None = None
    """Name of the credential holding the webhook URL: a chat webhook's URL is its credential.
    Exactly one of url and url_credential."""
    secret: Name | None = None
    timeout: Duration = 10.0

    @model_validator(mode="after")
    def _one_url(self) -> OpsWebhook:
        _exactly_one_url(self.url, self.url_credential)
        return self


OpsChannel = Annotated[OpsFile | OpsWebhook, Field(discriminator="channel")]


class CapSettings(Strict):
    sender: str = Field(default="warnd@warnd.invalid", pattern=r"^[^\s,<&]+$")
    """CAP <sender>: globally unique, e.g. an address at the agency's domain."""
    sender_name: str = "warnd"
    feed_entries: int = Field(default=50, ge=1, le=1000)


def _base_url(v: str | None) -> str | None:
    """A published base URL (maps, the WebSub hub): paths are added to it."""
    if v is None:
        return v
    u = urlsplit(v)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError("must be an http(s) URL with a host, e.g. https://warnd.example.org")
    if u.username is not None or u.password is not None:
        raise ValueError("must not hold credentials: it is published in every alert")
    if u.query or u.fragment:
        raise ValueError("must have no query or fragment: paths are added to it")
    return v.rstrip("/")


class MapsSettings(Strict):
    """Each warning's map (warnd.maps): made beside the text post, attached to X posts, served on
    the listeners at /maps/<warning id>.png."""

    enabled: bool = True
    wait: float = Field(default=2.0, ge=0, le=30)
    """How long a post that is not life-safety waits for its map (seconds); a life-safety post
    waits at most 0.2 s, and no longer than this. A map not ready in time follows the post as a
    reply; 0: the text never waits for its map (every map is a reply)."""
    public_url: str | None = None
    """The base URL under which the public listener is reachable from outside, e.g.
    https://warnd.example.org: partners' webhook bodies and CAP alerts then name each map's URL.
    Unset: no URL is published (maps are still made, attached and served)."""

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str | None) -> str | None:
        return _base_url(v)


class WebSubSettings(Strict):
    """A W3C WebSub hub for every account's CAP feed (docs/partners.md): subscribers are pushed
    each new alert of the feed as it is published, instead of polling it."""

    enabled: bool = True
    """false: POST /websub answers 404 and the feeds name no hub. The hub also needs a public
    URL (public_url, or maps.public_url): topics and the hub are named by absolute URLs."""
    public_url: str | None = None
    """The base URL under which the listeners are reachable from outside, e.g.
    https://warnd.example.org: the hub is <public_url>/websub, each feed's topic
    <public_url>/cap/<account>/index.atom. Unset: maps.public_url."""
    lease: Duration = 10 * 86400.0
    """The lease given when a subscriber asks for none."""
    lease_max: Duration = 30 * 86400.0
    """The longest lease given; a longer hub.lease_seconds is cut to it (the hub says so in its
    verification request)."""
    lease_min: Duration = 3600.0
    """The shortest lease given: a shorter ask is raised to it."""
    timeout: Duration = 10.0
    """How long an intent verification or a push may take."""
    dead_after: int = Field(default=3, ge=1, le=1000)
    """A subscription whose last this-many pushes all ended dead is paused, with a notice."""
    failing_for: Duration = 3600.0
    """A subscription with a push still failing this long after it was issued is paused, with a
    notice (its pushes are not retried forever). Below dispatch.give_up_after, which would
    otherwise end the push dead first."""
    requests_per_minute: int = Field(default=20, ge=1, le=10000)
    """Subscription requests taken from one client address per minute; more get 429."""
    max_subscriptions: int = Field(default=1000, ge=1, le=100000)
    """Subscriptions the hub holds at most (all feeds); a subscriber beyond it is denied."""
    allow_loopback: bool = False
    """Callbacks on this machine (127.0.0.1, ::1) taken: for drills and tests only. Otherwise a
    callback must lead to public addresses only (runtime.public_address): a stranger names it,
    and the hub must not reach what only it can reach."""

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str | None) -> str | None:
        return _base_url(v)

    @model_validator(mode="after")
    def _leases(self) -> WebSubSettings:
        if not self.lease_min <= self.lease <= self.lease_max:
            raise ValueError("lease: must lie between lease_min and lease_max")
        return self


class BulletinsSettings(Strict):
    """Operators' bulletins (`warnd bulletin`, the console): written by one operator, approved by
    another, then sent as every warning is."""

    two_person: bool = True
    """A bulletin needs the approval of an operator other than its author. false: the author's
    own approval is enough (a deployment with one operator on duty)."""


class SilenceSpec(Strict):
    """A planned mute (maintenance, a drill day). Life-safety posts are never muted."""

    rule: str | None = None
    account: str | None = None
    region: str | None = None
    until: datetime
    reason: str = Field(min_length=1)

    @field_validator("until")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("give the time zone, e.g. 2026-12-01T06:00:00+07:00")
        return v


class StoreSettings(Strict):
    """Where the state lives. Without `dsn`: one SQLite file in state_dir (one node). With a
    PostgreSQL `dsn`: several nodes may share it, one polling at a time, all delivering."""

    dsn: str | None = None
    """libpq connection string or URI, without a password: postgresql://warnd@db1:5432/warnd"""
    schema_name: str = Field(default="public", alias="schema", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """PostgreSQL schema holding warnd's tables (created if missing)."""
    password_credential: Name = "pg-password"  # noqa: S105 (the name of a credential, not one)
    """Credential holding the database password, if the server asks for one."""
    node: Name | None = None
    """This node's name among the nodes sharing the database (default: the host name)."""
    lease: Duration = Field(default=10.0, ge=2, le=120)
    """How long the leader's lease (and a node's claim on a lane) lasts without renewal. A dead
    leader is replaced within lease + lease/4 (12.5 s at the default)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("dsn")
    @classmethod
    def _no_password(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from psycopg.conninfo import conninfo_to_dict

        try:
            parts = conninfo_to_dict(v)
        except Exception as e:
            # The message of a bad DSN may quote it; only the reason is kept.
            raise ValueError(f"not a PostgreSQL connection string ({type(e).__name__})") from None
        if parts.get("password"):
            raise ValueError(
                "holds a password: passwords never go in YAML; remove it and put it in the credential"
                " named by store.password_credential (default pg-password)"
            )
        return v


class HttpSettings(Strict):
    """How every outbound request (feed polls, X, partner and ops webhooks, their checks) reaches
    the network: one proxy and one CA policy for all of them."""

    proxy: Literal["environment", "none"] = "environment"
    """environment: HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY (upper or lower case), as
    curl reads them; none: always connect directly, whatever the environment says."""
    ca: Literal["system", "certifi"] = "system"
    """system: the operating system's CA store (with an organisation's own CA, if installed
    there; SSL_CERT_FILE / SSL_CERT_DIR override it as OpenSSL does); certifi: Mozilla's bundle
    as shipped with the certifi package, for hosts without a usable store."""


class HostSettings(Strict):
    """What warnd allows itself towards one host its feeds are read from."""

    per_minute: int | None = Field(default=None, ge=1, le=100_000)
    """Requests to this host in any sliding minute, at most (feed polls and the documents they
    link to). A poll that would exceed it waits for a free slot (critical feeds first); it is
    never dropped. Unset: no limit, the requests are still counted and shown."""
    cache_bust: bool = False
    """Add a changing query parameter (`_warnd=<second>`) to every request to this host, so that
    a cache in front of it cannot answer with a stale copy. Off by default: it makes every poll
    a miss at the cache and a full request to the origin, which the host did not ask for."""


# The hosts whose documented limits warnd knows: BMKG's data.bmkg.go.id and www.bmkg.go.id
# allow 60 requests a minute per address; warnd keeps a margin of 10 under it.
DEFAULT_HOSTS: dict[str, HostSettings] = {
    "data.bmkg.go.id": HostSettings(per_minute=50),
    "www.bmkg.go.id": HostSettings(per_minute=50),
}


class ConsoleSettings(Strict):
    """The operator console: a web page on the operator listener under /console/ (never on the
    public listener), with its API (docs/operator/console.md)."""

    enabled: bool = True
    """false: /console/ answers 404."""
    auth: Literal["users", "proxy"] = "users"
    """users: named operators in the state database (`warnd operator add`), logged in with a
    password; proxy: a reverse proxy in front authenticates and names the user in proxy_header."""
    proxy_header: str = Field(default="X-Remote-User", pattern=r"^[A-Za-z0-9-]{1,64}$")
    """auth: proxy: the request header naming the user the proxy authenticated."""
    proxy_secret: str | None = None
    """Name of the credential holding the secret a trusted proxy sends in X-Warnd-Proxy-Secret on
    every request (never the secret itself: secrets never come from YAML). Required with
    auth: proxy: without it, anyone on the proxy's host could name any user. With auth: users,
    when set, X-Forwarded-For and X-Forwarded-Proto are believed only with it."""
    trusted_proxies: list[str] = Field(default_factory=list)
    """Addresses (or networks, 10.0.0.0/8) whose proxy_header, X-Forwarded-For and
    X-Forwarded-Proto are believed (with proxy_secret). No default: required with auth: proxy."""
    hosts: list[str] | None = None
    """The Host header values the console answers (name or name:port, as the browser sends it);
    any other gets 421, which defeats DNS rebinding. Unset: the listen address, localhost,
    127.0.0.1 and [::1], each with the listener's port. Behind a proxy that passes its public
    Host, add that name."""
    session_hours: float = Field(default=12.0, gt=0, le=720)
    """How long a login lasts."""
    demo_login: bool = False
    """The demo only: a user "demo" with a random password, printed at start and offered by the
    page. Refused unless `listen` is a loopback address."""

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for k, item in enumerate(v):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"item {k}: {item!r} is not an IP address or network") from None
        return v

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        for k, item in enumerate(v):
            if not _HOST.match(item):
                raise ValueError(
                    f"item {k}: {item!r} is not a Host header value (a name or address, optionally :port;"
                    " no scheme, no path)"
                )
        return [item.lower() for item in v]

    @model_validator(mode="after")
    def _proxy_guarded(self) -> ConsoleSettings:
        if self.auth == "proxy" and not self.proxy_secret:
            raise ValueError(
                "auth: proxy needs proxy_secret, the name of a credential holding a secret the proxy sends in"
                " X-Warnd-Proxy-Secret: without it anyone who can reach the listener (any user or container"
                " on the proxy's host) could name any operator"
            )
        if self.auth == "proxy" and not self.trusted_proxies:
            raise ValueError("auth: proxy needs trusted_proxies: the proxy's address (127.0.0.1 for one on this host)")
        return self


# A Host header value: a DNS name, an IPv4 address or a bracketed IPv6 one, and an optional port.
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$")


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach; a host name other than localhost is not
    taken on trust (it may resolve anywhere)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- the main file ---------------------------------------------------------------------------


class ConfigFile(Strict):
    state_dir: str
    listen: str = "127.0.0.1:8790"
    """The operator listener: /healthz, /metrics, /status (and /cap). Loopback unless
    operator_token is set."""
    public_listen: str | None = None
    """The public listener: the CAP feeds and nothing else, for partners and the public. Unset: none."""
    operator_token: str | None = None
    """Name of the credential holding the bearer token the operator listener asks for."""
    user_agent: str = "warnd/0.1 (+https://github.com/warnd; disaster early-warning broadcaster)"
    feed_catalogue: str | None = None
    feeds: list[FeedEntry] = Field(min_length=1)
    replay: bool = False
    """Treat every document as current: no event is too old to post (max_age is not applied) and
    a feed's first poll takes no baseline. For replaying recorded documents (the demo, drills
    on recorded data); never for live feeds, which would post their whole past on a first start."""
    regions: list[RegionLayer] = Field(min_length=1)
    region_tolerance_km: float = Field(default=2.0, ge=0, le=50)
    district_points: str | None = None
    """CSV (code,name,lat,lon) of one representative point per district, where predicted shaking
    is evaluated (`warnd points` makes it from a district layer). Unset: one point per polygon
    of the finest layer loaded."""
    place_aliases: str | None = None
    """CSV (name,code,source) of town names that are neither a kecamatan nor a regency, each with
    the code of the kecamatan (or regency) it lies in, for reading BMKG's felt lists and nowcast
    descriptions. Unset: only the names of the loaded regions and district points are known."""
    templates: str = "templates"
    rules: list[str] = Field(min_length=1)
    """Glob patterns of rule files, relative to this file."""
    accounts: dict[Name, Account] = Field(min_length=1)
    partners: dict[Name, Partner] = Field(default_factory=dict)
    region_groups: dict[Name, list[str]] = Field(default_factory=dict)
    """Named lists of region codes, for rules: {pantai-selatan-jawa: ["32.02", "33.01", ...]}."""
    silences: list[SilenceSpec] = Field(default_factory=list)
    ops: dict[Name, OpsChannel] = Field(default_factory=dict)
    """Where operator notices go besides the log (feed stale, dead letter, account disabled, ...)."""
    x: XSettings = Field(default_factory=XSettings)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    subscriptions: SubscriptionSettings = Field(default_factory=SubscriptionSettings)
    credential_checks: CredentialChecks = Field(default_factory=CredentialChecks)
    cap: CapSettings = Field(default_factory=CapSettings)
    maps: MapsSettings = Field(default_factory=MapsSettings)
    bulletins: BulletinsSettings = Field(default_factory=BulletinsSettings)
    websub: WebSubSettings = Field(default_factory=WebSubSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    hosts: dict[str, HostSettings] = Field(default_factory=dict)
    """Per host name (as in the feed URLs: data.bmkg.go.id): its request budget and cache
    policy. Merged over the built-in defaults (data.bmkg.go.id and www.bmkg.go.id: 50 a minute)."""

    @property
    def host_settings(self) -> dict[str, HostSettings]:
        return {**DEFAULT_HOSTS, **{h.lower(): s for h, s in self.hosts.items()}}

    @property
    def websub_base(self) -> str | None:
        """The public base URL of the WebSub hub and its topics; None: no hub."""
        return (self.websub.public_url or self.maps.public_url) if self.websub.enabled else None

    @field_validator("listen", "public_listen")
    @classmethod
    def _listen(cls, v: str | None) -> str | None:
        # Port 0: any free port, written to <state_dir>/listen (public_listen) for `warnd status`
        # and tests.
        if v is None:
            return v
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError(f"{v!r} is not host:port")
        return v

    @model_validator(mode="after")
    def _operator_guarded(self) -> ConfigFile:
        if self.operator_token is None and not is_loopback(self.listen.rpartition(":")[0]):
            raise ValueError(
                f"listen: {self.listen!r} is reachable beyond this machine and operator_token is not set:"
                " /status and /metrics would be open to anyone who can reach it; name a credential in"
                " operator_token, or listen on 127.0.0.1 and publish the CAP feeds on public_listen"
            )
        if self.console.demo_login and not is_loopback(self.listen.rpartition(":")[0]):
            raise ValueError(
                f"console.demo_login: true offers a known login to anyone who can reach {self.listen!r};"
                " it is for the demo on a loopback listen address only"
            )
        if self.public_listen == self.listen and not self.listen.endswith(":0"):
            raise ValueError("public_listen: must differ from listen (one listener cannot be both)")
        return self


# --- rules ----------------------------------------------------------------------------------


class RuleMatch(Strict):
    hazard: list[Hazard] = Field(min_length=1)
    feeds: list[str] | None = None
    magnitude: list[Threshold] | None = None
    depth_km: list[Threshold] | None = None
    height_m: list[Threshold] | None = None
    """Highest tsunami height observed at a tide gauge (InaTEWS PD-3)."""
    value_cm: list[Threshold] | None = None
    """A gauge's water level in centimetres."""
    level: list[str] | None = None
    """Warning level: tsunami awas / siaga / waspada (each zone is checked), gauge siaga1 / siaga2 /
    siaga3 / normal, GDACS red / orange / green, USGS PAGER colours."""
    severity: list[Literal["extreme", "severe", "moderate", "minor", "unknown"]] | None = None
    urgency: list[Literal["immediate", "expected", "future", "past", "unknown"]] | None = None
    certainty: list[Literal["observed", "likely", "possible", "unlikely", "unknown"]] | None = None
    event: list[str] | None = None
    """Words of the source's event name or headline (any, case-insensitive): ["hujan lebat", "petir"]."""
    tsunami: bool | None = None
    """Only quakes the source says may (true) or may not (false) cause a tsunami."""
    status: list[Status] = Field(default_factory=lambda: [Status.ACTUAL])

    @field_validator("hazard", "status", "level", "severity", "urgency", "certainty", "event", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        v = [v] if isinstance(v, str) else v
        return [x.lower() if isinstance(x, str) else x for x in v] if isinstance(v, list) else v

    @field_validator("magnitude", "depth_km", "height_m", "value_cm", mode="before")
    @classmethod
    def _one_or_range(cls, v: Any) -> Any:
        """'>= 5' or a list such as ['>= 3', '< 5'] (all must hold)."""
        return v if isinstance(v, list) or v is None else [v]


class RuleWhere(Strict):
    regions: list[str] = Field(default_factory=list)
    """Region codes; a code also covers everything inside it ('33' covers '33.74'). Empty: anywhere
    inside the loaded regions."""
    groups: list[Name] = Field(default_factory=list)
    """Names of region groups (config `region_groups`), added to `regions`."""
    within_km: float | None = Field(default=None, gt=0, le=2000)
    """Also match regions within this geodesic distance of the epicentre (offshore quakes)."""
    intensity: Threshold | None = None
    """Regions whose predicted shaking (MMI, from magnitude, depth and distance) meets this,
    e.g. '>= 4'. Replaces within_km for quakes."""
    level: Literal["province", "regency", "district"] = "regency"
    """Which level of region the warning names."""


class RuleThen(Strict):
    accounts: list[str] = Field(min_length=1)
    """Account names, or "*" for every account (each still posts only about its own regions)."""
    template: Name = "earthquake"
    priority: Priority = Priority.NORMAL
    cooldown: Duration | None = None
    """After a post from this rule, the same account gets no other NEW post from it for this long
    (updates, cancellations and life-safety posts are never held back)."""
    all_clear_after: Duration = 3600.0
    """Gauges: a return to normal is announced only once the last level post is this old, so a
    level flapping around a threshold does not post back and forth."""


class Rule(Strict):
    id: Name
    description: str | None = None
    enabled: bool = True
    match: RuleMatch
    where: RuleWhere = Field(default_factory=RuleWhere)
    then: RuleThen


class RulesFile(Strict):
    rules: list[Rule] = Field(default_factory=list)
