"""A warning's text as each channel would send it: the parts of its thread (X, Mastodon,
Bluesky) or its single message (Telegram, a file), for `warnd simulate --parts`. The channels'
own splitters, with their default limits: Mastodon's is the instance's, read when the daemon
posts; offline it is the common 500 characters."""

from __future__ import annotations

from warnd.channels import bluesky_text, mastodon, telegram, x
from warnd.model import Warning


def parts(channel: str, w: Warning) -> list[str]:
    """The texts `channel` would post for `w`, in order (one for a channel without threads)."""
    if channel == "x":
        return x.split(w.text, lang=w.lang, label=w.thread_label)
    if channel == "telegram":
        return telegram.split(w.text, lang=w.lang, label=w.thread_label)
    if channel == "mastodon":
        return mastodon.split(w.text, mastodon.DEFAULT_LIMIT, w.lang, w.thread_label)
    if channel == "bluesky":
        return bluesky_text.split(w.text, lang=w.lang, label=w.thread_label)
    return [w.text]
