"""Account config -> the sender that posts for it."""

from __future__ import annotations

from pathlib import Path

from warnd.channels.base import Sender
from warnd.channels.file import FileSender
from warnd.config.schema import FileAccount, XAccount


def make_sender(name: str, account: FileAccount | XAccount, path: Path | None) -> tuple[Sender | None, str | None]:
    """(sender, None) or (None, why it cannot be built)."""
    if isinstance(account, FileAccount):
        assert path is not None
        return FileSender(name, path, echo=account.echo), None
    return None, "the x channel cannot post from this build yet; use a file channel for this account"
