"""Where a sent post can be read on the web, from what the outbox keeps of it (`remote_id`):
the operator console links each sent delivery to it.

- X: `https://x.com/i/web/status/<id>` works for any account, its handle unknown.
- Telegram: a public channel (`@name`) has `https://t.me/<name>/<message id>`; a private channel
  or supergroup (`-100...`) has `https://t.me/c/<id without -100>/<message id>`, which opens
  for its members only; a basic group's messages have no link.
- Bluesky: `https://bsky.app/profile/<did>/post/<record key>`, from the post's at:// URI.
- Mastodon: none. A status's web address names the account (`/@name/<id>`), which the id alone
  does not give; the console shows the id.
"""

from __future__ import annotations

from warnd.channels.bluesky import parse_remote_id
from warnd.config.schema import SingleAccount, TelegramAccount

X_STATUS = "https://x.com/i/web/status/"
TELEGRAM = "https://t.me/"
BLUESKY = "https://bsky.app/profile/"


def post_url(settings: SingleAccount, remote_id: str | None) -> str | None:
    """The web address of the post an account's channel made, or None when it has none."""
    if not remote_id:
        return None
    channel = settings.channel
    if channel == "x":
        return X_STATUS + remote_id
    if isinstance(settings, TelegramAccount):
        chat = settings.chat_id
        if chat.startswith("@"):
            return f"{TELEGRAM}{chat[1:]}/{remote_id}"
        if chat.startswith("-100") and chat[4:].isdigit():
            return f"{TELEGRAM}c/{chat[4:]}/{remote_id}"
        return None
    if channel == "bluesky":
        refs = parse_remote_id(remote_id)
        if refs is None:
            return None
        # at://<did>/app.bsky.feed.post/<record key>; anything else a server answered has no link.
        parts = refs[0].uri.removeprefix("at://").split("/")
        if len(parts) != 3 or parts[1] != "app.bsky.feed.post" or not parts[0] or not parts[2]:
            return None
        return f"{BLUESKY}{parts[0]}/post/{parts[2]}"
    return None
