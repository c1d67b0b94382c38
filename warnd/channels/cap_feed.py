"""The CAP feed of one account: every alert it issued as a CAP 1.2 file, and an Atom index of
the newest ones with each alert embedded, for partners who poll rather than receive webhooks.

Files live in `<state_dir>/cap/<account>/`: `<sent>-<identifier>.xml` per alert (the name sorts
by time) and `index.atom`. Each is written to a temporary file and renamed, so a reader never
sees half a document. These files are the publishing node's copy, for a web server pointed at
the folder; the daemon's HTTP endpoint serves the feeds from the store instead
(runtime.cap_feeds), so that every node of a cluster serves the same feed.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree as ET  # building only; parsing is defusedxml

from defusedxml.ElementTree import fromstring

from warnd.channels.base import Budget, Job, Sent
from warnd.errors import DeliveryError, Failure
from warnd.model import Target

ATOM = "http://www.w3.org/2005/Atom"
CAP = "urn:oasis:names:tc:emergency:cap:1.2"
INDEX = "index.atom"


def alert_file_name(identifier: str, sent: datetime) -> str:
    stamp = sent.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{re.sub(r'[^A-Za-z0-9._-]', '_', identifier)}.xml"


class CapFeedSender:
    replies = False
    batch = 32
    channel = "cap_feed"
    hold_keys: tuple[str, ...] = ()
    budgets: tuple[Budget, ...] = ()

    def __init__(self, account: str, folder: Path, *, entries: int, title: str) -> None:
        self.target = Target.feed(account)
        self.account = account
        self.folder = folder
        self.entries = entries
        self.title = title

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
        return atom(self.account, self.title, ((p.name, p.read_bytes()) for p in files))

    async def aclose(self) -> None:
        return None


def atom(account: str, title: str, alerts: Iterable[tuple[str, bytes]]) -> bytes:
    """The Atom index of an account's CAP feed: each alert (its document name, its CAP text),
    newest first, embedded whole and linked by name."""
    ET.register_namespace("", ATOM)
    ET.register_namespace("cap", CAP)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"urn:warnd:cap-feed:{account}"
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    updated = ET.SubElement(feed, f"{{{ATOM}}}updated")
    ET.SubElement(ET.SubElement(feed, f"{{{ATOM}}}author"), f"{{{ATOM}}}name").text = "warnd"
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=INDEX)
    newest = ""
    for name, text in alerts:
        try:
            alert = fromstring(text)
        except Exception:  # noqa: S112 (a damaged document must not take the feed down)
            continue
        ident = alert.findtext(f"{{{CAP}}}identifier") or name.removesuffix(".xml")
        sent = alert.findtext(f"{{{CAP}}}sent") or ""
        newest = max(newest, sent)
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}id").text = f"urn:warnd:cap:{ident}"
        ET.SubElement(entry, f"{{{ATOM}}}title").text = alert.findtext(f"{{{CAP}}}info/{{{CAP}}}headline") or ident
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = sent
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", type="application/cap+xml", href=name)
        content = ET.SubElement(entry, f"{{{ATOM}}}content", type="application/cap+xml")
        content.append(alert)
    updated.text = newest or datetime.now(UTC).replace(microsecond=0).isoformat()
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
