"""The daemon's counters and histograms, in Prometheus form (prometheus_client).

Each daemon owns one `Metrics` with a registry of its own, so that two daemons in one process
(tests, the benchmark) never count into each other. What is read from the state database at
scrape time (queue depth, feed age, health) is a collector of the runtime, registered beside
these. Labels are feed ids, account and partner names and fixed words: bounded by the
configuration, never by the data.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

# The *_created series double the output and say only when the daemon started.
disable_created_metrics()  # type: ignore[no-untyped-call]

# From seconds (a webhook on a healthy day) to the give-up time of two hours.
LATENCY_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
# The feeds themselves lag the event by minutes (BMKG's automatic solution, a gauge's round).
EVENT_BUCKETS = (30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0)
# A map takes tens of milliseconds; the first after a region load up to a couple of seconds.
MAP_BUCKETS = (0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.0, 5.0)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.polls = Counter(
            "warnd_polls",
            "Feed polls by outcome: ok, not_modified (304 or same body), error.",
            ["feed", "outcome"],
            registry=r,
        )
        self.events = Counter(
            "warnd_events", "Events read from feeds, by what the ledger made of them.", ["feed", "change"], registry=r
        )
        self.rejected = Counter(
            "warnd_items_rejected", "Feed items rejected, by reason.", ["feed", "reason"], registry=r
        )
        self.warnings = Counter(
            "warnd_warnings", "Warnings queued, by kind (new, update, cancel).", ["kind"], registry=r
        )
        self.suppressed = Counter(
            "warnd_warnings_suppressed",
            "Warnings a rule matched but that were not issued, by reason.",
            ["reason"],
            registry=r,
        )
        self.deliveries = Counter(
            "warnd_deliveries",
            "Delivery attempts by channel and outcome (sent, duplicate, retry, disabled, dead, gave_up).",
            ["channel", "target", "outcome"],
            registry=r,
        )
        self.feed_to_post = Histogram(
            "warnd_feed_to_post_seconds",
            "From the poll that issued a warning to its delivery.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.event_to_post = Histogram(
            "warnd_event_to_post_seconds",
            "From the event's origin time to the delivery of its first warning (feed lag included).",
            ["channel"],
            buckets=EVENT_BUCKETS,
            registry=r,
        )
        self.config_generation = Gauge(
            "warnd_config_generation", "The configuration set running: 1 at start, +1 per applied reload.", registry=r
        )
        self.reload_ok = Gauge(
            "warnd_config_last_reload_success",
            "1 when the last reload was applied (or none was asked), 0 when it was refused.",
            registry=r,
        )
        self.reload_at = Gauge(
            "warnd_config_last_reload_timestamp_seconds",
            "When the last reload was asked (0: none since start).",
            registry=r,
        )
        self.reloads = Counter(
            "warnd_config_reloads", "Reloads by outcome (applied, rejected).", ["outcome"], registry=r
        )
        self.config_valid = Gauge(
            "warnd_config_valid",
            "1 when the configuration on disk loaded at the last start or reload, 0 when it was refused.",
            registry=r,
        )
        self.config_from_snapshot = Gauge(
            "warnd_config_from_snapshot",
            "1 while the set running is the saved last good one because the files on disk were refused at start.",
            registry=r,
        )
        self.felt_unmapped = Counter(
            "warnd_felt_places_unmapped",
            "Places of BMKG felt lists (Dirasakan) that name no known region (each is logged with its text).",
            ["feed"],
            registry=r,
        )
        self.described_unmapped = Counter(
            "warnd_described_places_unmapped",
            "Places named in an alert's description (BMKG nowcast) that name no known region of its province.",
            ["feed"],
            registry=r,
        )
        self.zones_unmapped = Counter(
            "warnd_zones_unmapped",
            "Tsunami warning zones whose name matched no regency (the province named carried the warning), by feed.",
            ["feed"],
            registry=r,
        )
        self.credential_checks = Counter(
            "warnd_credential_checks",
            "Credential checks (X GET /2/users/me, partner probes) by target and outcome"
            " (ok, refused, unreachable, rate_limited).",
            ["target", "outcome"],
            registry=r,
        )
        self.credential_ok = Gauge(
            "warnd_credential_check_ok",
            "1 when the target's last conclusive credential check passed, 0 when it failed.",
            ["target"],
            registry=r,
        )
        self.notices = Counter("warnd_notices", "Operator notices raised, by kind.", ["kind"], registry=r)
        self.websub = Counter(
            "warnd_websub_requests",
            "WebSub subscription requests, by mode and outcome (accepted, refused, limited, busy, verified,"
            " unverified, denied).",
            ["mode", "outcome"],
            registry=r,
        )
        self.cap_failed = Counter(
            "warnd_cap_failed",
            "CAP documents that could not be made (their CAP deliveries went without one).",
            registry=r,
        )
        self.maps_made = Counter("warnd_maps_made", "Warning maps drawn and stored.", registry=r)
        self.maps_failed = Counter(
            "warnd_maps_failed",
            "Warning maps not made, by reason (render, store); their posts went without them.",
            ["reason"],
            registry=r,
        )
        self.map_seconds = Histogram(
            "warnd_map_render_seconds",
            "Time to draw one warning's map (off the event loop).",
            buckets=MAP_BUCKETS,
            registry=r,
        )
        r.register(_MediaFailures())
        self.reload_ok.set(1)
        self.config_valid.set(1)


# Map images that did not go out with their post, by channel, account and reason. Counted where
# the senders are, which are handed no Metrics of their own: process-wide, read by every
# daemon's registry.
_media_failed: dict[tuple[str, str, str], int] = {}
_media_lock = threading.Lock()
_MEDIA_REASONS = (
    ", the reason as the channel's `<channel>.media_failed` log line names it (source_failed, late,"
    " too_large, upload_refused, photo_refused, upload_rate_limited, attach_refused, reply_refused, ...)."
)


def count_media_failure(channel: str, account: str, reason: str) -> None:
    """One map image that did not go out with its post (the post went without it)."""
    with _media_lock:
        key = (channel, account, reason)
        _media_failed[key] = _media_failed.get(key, 0) + 1


class _MediaFailures(Collector):
    def collect(self) -> Iterator[Metric]:
        every = CounterMetricFamily(
            "warnd_media_failed",
            "Map images left off a post (the post went without it), by channel and account" + _MEDIA_REASONS,
            labels=["channel", "account", "reason"],
        )
        # The name X's maps were first counted under, kept for the dashboards that read it.
        x_only = CounterMetricFamily(
            "warnd_x_media_failed",
            'Map images left off an X post (warnd_media_failed{channel="x"}), by account' + _MEDIA_REASONS,
            labels=["account", "reason"],
        )
        with _media_lock:
            counts = sorted(_media_failed.items())
        for (channel, account, reason), n in counts:
            every.add_metric([channel, account, reason], n)
            if channel == "x":
                x_only.add_metric([account, reason], n)
        yield every
        yield x_only
