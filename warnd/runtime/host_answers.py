"""What a host's answers teach about it: whether it honours conditional requests, and whether a
cache in front of it may serve copies older than the document at the origin.

Judged per host from the answers to polls that sent validators (ETag, Last-Modified):
- a 304 shows the host (or its cache) honours them;
- a 200 carrying the very body warnd already had shows it ignored them (a full download for
  nothing); after a few of those and no 304, the host is "ignored".
A cache in front is seen in an `Age` header or a `Cache-Control: max-age`/`s-maxage` above zero:
such a cache may answer with a copy up to max-age seconds old (a storage bucket's default is an
hour), so a new quake can reach warnd that much later through this host. warnd does not defeat
the cache (a cache-busting query makes every poll a full request to the origin, which is the
opposite of polite); it shows the lag and keeps polling the other documents of the group, which
may live behind another cache. An operator may opt in per host (`hosts: {h: {cache_bust: true}}`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from warnd.obs import get_logger

log = get_logger("warnd.hosts")

# Full answers to a conditional request with an unchanged body, before "ignored" is said.
IGNORED_AFTER = 3


@dataclass
class _Answers:
    conditional: int = 0
    not_modified: int = 0
    same_body: int = 0
    changed: int = 0
    max_age: float | None = None
    age: float | None = None
    most_age: float = 0.0

    @property
    def conditional_verdict(self) -> str:
        if self.not_modified and self.same_body:
            return "partly"
        if self.not_modified:
            return "honoured"
        if self.same_body >= IGNORED_AFTER:
            return "ignored"
        return "unknown"

    @property
    def cache(self) -> str:
        if (self.max_age or 0) > 0 or self.most_age > 0:
            return "yes"
        if self.max_age == 0:
            return "no"
        return "unknown"


class HostAnswers:
    def __init__(self) -> None:
        self.hosts: dict[str, _Answers] = {}

    def observe(
        self,
        host: str,
        feed: str,
        *,
        conditional: bool,
        not_modified: bool,
        same_body: bool,
        age: float | None,
        max_age: float | None,
    ) -> None:
        a = self.hosts.setdefault(host, _Answers())
        before = (a.conditional_verdict, a.cache)
        if conditional:
            a.conditional += 1
            if not_modified:
                a.not_modified += 1
            elif same_body:
                a.same_body += 1
            else:
                a.changed += 1
        if max_age is not None:
            a.max_age = max_age
        if age is not None:
            a.age = age
            a.most_age = max(a.most_age, age)
        after = (a.conditional_verdict, a.cache)
        if after != before:
            log.info(
                "host.learned",
                host=host,
                feed=feed,
                conditional=after[0],
                cache=after[1],
                max_age_s=a.max_age,
                age_s=a.age,
                detail=_detail(a),
            )

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {
            host: {
                "conditional": a.conditional_verdict,
                "conditional_requests": a.conditional,
                "not_modified": a.not_modified,
                "full_answers_unchanged": a.same_body,
                "cache": a.cache,
                "cache_max_age_s": a.max_age,
                "cache_age_s": a.age,
                "cache_most_age_s": a.most_age,
                "note": _detail(a),
            }
            for host, a in sorted(self.hosts.items())
        }

    def collect(self) -> Iterator[Metric]:
        nm = CounterMetricFamily(
            "warnd_host_not_modified",
            "304 answers to conditional requests, per host (the host honours them).",
            labels=["host"],
        )
        same = CounterMetricFamily(
            "warnd_host_unchanged_full_answers",
            "Full answers to a conditional request that carried the body already known, per host.",
            labels=["host"],
        )
        max_age = GaugeMetricFamily(
            "warnd_host_cache_max_age_seconds",
            "The freshness a cache in front of the host may give a copy (Cache-Control), last seen.",
            labels=["host"],
        )
        age = GaugeMetricFamily(
            "warnd_host_cache_age_seconds", "The Age header of the host's last answer that had one.", labels=["host"]
        )
        for host, a in sorted(self.hosts.items()):
            nm.add_metric([host], a.not_modified)
            same.add_metric([host], a.same_body)
            if a.max_age is not None:
                max_age.add_metric([host], a.max_age)
            if a.age is not None:
                age.add_metric([host], a.age)
        yield from (nm, same, max_age, age)


def _detail(a: _Answers) -> str:
    parts = []
    if a.conditional_verdict == "ignored":
        parts.append("the host answers conditional requests in full: every poll downloads the whole document")
    if a.cache == "yes":
        parts.append(
            f"a cache in front may serve copies up to {a.max_age or a.most_age:g} s old: a new event can reach"
            " warnd that much later through this host; warnd does not bust the cache unless hosts.cache_bust is set"
        )
    return "; ".join(parts)
