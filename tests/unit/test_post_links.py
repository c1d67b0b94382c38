"""The web address of a sent post, per channel, from what the outbox keeps of it: the console's
link on each sent delivery."""

from __future__ import annotations

from warnd.channels.bluesky import Ref, remote_id
from warnd.channels.links import post_url
from warnd.config.schema import BlueskyAccount, FileAccount, MastodonAccount, TelegramAccount, XAccount

COMMON = {"name": "NTT", "regions": ["53"]}


def test_x_links_the_status_whatever_the_handle() -> None:
    x = XAccount(channel="x", credential="x-ntt", **COMMON)
    assert post_url(x, "1790000000000000001") == "https://x.com/i/web/status/1790000000000000001"
    assert post_url(x, None) is None and post_url(x, "") is None


def test_telegram_links_a_public_channel_and_a_private_one_but_not_a_basic_group() -> None:
    def chat(chat_id: str) -> TelegramAccount:
        return TelegramAccount(channel="telegram", credential="tg", chat_id=chat_id, **COMMON)

    assert post_url(chat("@infogempa_ntt"), "412") == "https://t.me/infogempa_ntt/412"
    assert post_url(chat("-1001234567890"), "412") == "https://t.me/c/1234567890/412"
    assert post_url(chat("-4012345"), "412") is None


def test_bluesky_links_the_post_not_its_threads_root() -> None:
    bsky = BlueskyAccount(channel="bluesky", credential="bs", handle="bmkg-ntt.bsky.social", **COMMON)
    root = Ref("at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3lroot", "bafyroot")
    part = Ref("at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3lpart", "bafypart")
    assert post_url(bsky, remote_id(root, None)) == (
        "https://bsky.app/profile/did:plc:ewvi7nxzyoun6zhxrhs64oiz/post/3lroot"
    )
    assert post_url(bsky, remote_id(part, root)).endswith("/post/3lpart")  # type: ignore[union-attr]
    assert post_url(bsky, "1790000000000000001") is None  # not a ref: no link made up
    # An id a server answered oddly never breaks the console's state: no link.
    assert post_url(bsky, "at://did:plc:abc bafyx") is None
    assert post_url(bsky, "at://did:plc:abc/app.bsky.feed.like/3l bafyx") is None
    assert post_url(bsky, "at://did:plc:abc/app.bsky.feed.post/3l/more bafyx") is None


def test_mastodon_and_files_have_no_link() -> None:
    masto = MastodonAccount(channel="mastodon", credential="m", instance="https://mastodon.example", **COMMON)
    assert post_url(masto, "113000000000000001") is None
    assert post_url(FileAccount(channel="file", path="/tmp/p.jsonl", **COMMON), "line-3") is None
