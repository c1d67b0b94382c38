"""Thread parts: each carries its post's label and number, within X's 280 weighted characters,
so no part of one post repeats a part of another post of the account."""

from dataclasses import replace
from datetime import UTC, datetime

from warnd.channels.x import split, weighted
from warnd.model import Hazard, HazardEvent, MsgType, Priority, Status, Warning, WarningKind
from warnd.pipeline.wording import thread_label

NOW = datetime(2026, 8, 14, 22, 0, tzinfo=UTC)
EVENT = HazardEvent(
    id="bmkg-tsunami-20260814T215823Z",
    feed="f",
    feed_format="bmkg-inatews",
    hazard=Hazard.TSUNAMI,
    msg_type=MsgType.UPDATE,
    status=Status.ACTUAL,
    time=NOW,
    magnitude=7.7,
    stage="PD-3.3",
)
HEAD = "TSUNAMI TERDETEKSI (gempa M7.7, 15 Agu 2026 05:58:24 WITA; info awal 15 Agu 2026 06:09:54 WITA)."
LISTS = (
    "SIAGA: Kabupaten Manggarai bagian utara, Kabupaten Ngada bagian utara, Kabupaten Manggarai Barat"
    " bagian utara, Kabupaten Ende bagian utara, Kabupaten Sikka bagian utara.\n"
    "WASPADA: Kabupaten Ende (Pulau Ende), Kabupaten Sikka (Pulau Sikka), Kabupaten Flores Timur bagian utara.\n"
    "Tetap ikuti arahan BPBD dan BMKG. #tsunami #BMKG"
)


def earlier(*labels):
    return [
        Warning(
            id=f"w-{i}",
            event_id=EVENT.id,
            revision=f"r{i}",
            rule="tsunami",
            account="ntt",
            kind=WarningKind.UPDATE,
            severity=None,
            priority=Priority.LIFE_SAFETY,
            regions=(),
            lang="id",
            text="x",
            status=Status.ACTUAL,
            created_at=NOW,
            thread_label=label,
        )
        for i, label in enumerate(labels)
    ]


def test_the_label_is_the_stage_or_the_post_s_place_and_never_one_an_earlier_post_had():
    assert thread_label(EVENT, [], "id") == "PD-3.3"
    assert thread_label(EVENT, earlier("PD-1", "PD-2", "PD-3.2"), "id") == "PD-3.3"
    # BMKG issued PD-3.3 again (a corrected message): the second one is told apart by its place.
    assert thread_label(EVENT, earlier("PD-1", "PD-3.3"), "id") == "PD-3.3, info ke-3"
    quake = replace(EVENT, hazard=Hazard.EARTHQUAKE, stage=None)
    assert thread_label(quake, [], "id") is None
    assert thread_label(quake, earlier(None), "id") == "info ke-2"
    assert thread_label(quake, earlier(None, "info ke-2"), "en") == "notice 3"
    labels = [None, *(thread_label(quake, earlier(*[None] * n), "id") for n in range(1, 30))]
    assert len(set(labels)) == len(labels)


def test_successive_updates_with_the_same_lists_share_no_part():
    pd32 = split(f"{HEAD}\nTinggi: Maurole-Ende 0.94 m (06:27).\n{LISTS}", label="PD-3.2")
    pd33 = split(f"{HEAD}\nTinggi: Maurole-Ende 0.94 m (06:27).\n{LISTS}", label="PD-3.3")
    assert len(pd33) == 3
    assert not set(pd32) & set(pd33)
    assert [p.rsplit(" ", 2)[-2:] for p in pd33] == [["PD-3.3", f"{i}/3"] for i in (1, 2, 3)]
    # Without the label the regency lists of one update are word for word those of the next.
    assert set(split(f"{HEAD}\nA.\n{LISTS}")[1:]) == set(split(f"{HEAD}\nB.\n{LISTS}")[1:])


def test_labelled_parts_stay_within_280_and_lose_no_word():
    text = HEAD + "\n" + "\n".join(f"WASPADA {i}: Kabupaten Contoh Nomor {i} bagian utara." for i in range(40))
    for label in (None, "PD-3.3", "PD-3.3, info ke-12", "x" * 200):
        parts = split(text, label=label)
        assert len(parts) > 3 and all(weighted(p) <= 280 for p in parts), label
        body = " ".join(p.split("(lanjutan)\n", 1)[-1] for p in parts)
        assert all(f"Kabupaten Contoh Nomor {i} bagian" in body for i in range(40)), label
    # A text that fits is one post, as written, whatever the label.
    assert split("Gempa M5.1 Aceh", label="PD-1") == ["Gempa M5.1 Aceh"]


def test_weighted_is_what_twitter_text_says():
    """`weighted` skips twitter-text's scans where they cannot find anything (an ASCII text has
    no emoji, a text without a dot before a letter has no URL): it must still agree with
    twitter-text's own parse on every text, with and without URLs, emoji and other scripts."""
    import random

    from twitter_text import parse_tweet

    corpus = [
        HEAD,
        LISTS,
        "Gempa M5.2, 3.1 LS 101.2 BT, kedalaman 10 km. Sumber: BMKG. #gempa",
        "Info: https://bmkg.go.id/gempa/ dan bmkg.go.id, peta warnd.example.org/maps/w-1.png.",
        "IDN: http://xn--80ak6aa92e.xn--p1ai dan foo.рф/x, IP http://192.168.1.1/x, 1.2.3.4",
        "Waspada \U0001f30a tsunami \u26a0\ufe0f di Pantai.Selatan \U0001f468\u200d\U0001f469\u200d\U0001f467",
        "Gempa\r\nbaris kedua.\rketiga a\u0301 e\u0301 caf\u00e9 Ä.B 地震 .地",
    ]
    pieces = [
        "a", "Z", "7", " ", ".", ",", "\n", ":", "/", "-", "#", "@", "?", "=", "https://", "www.",
        ".id", ".go", ".com", ".xn--p1ai", ".рф", "рф", "é", "e\u0301", "地", "\U0001f30a", "\u26a0\ufe0f",
        "M5.2", "3.1", "BMKG.", "bmkg", "\r\n",
    ]  # fmt: skip
    rnd = random.Random(26)
    corpus += ["".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 40))) for _ in range(3000)]
    wrong = [t for t in corpus if weighted(t) != parse_tweet(t).weightedLength]
    assert not wrong, wrong[:5]


def test_twitter_text_is_compiled_only_for_a_text_that_needs_it():
    """Its expressions take about a third of a second to compile: not on the daemon's way to
    READY, and not for an ASCII text without a URL (most warnings), which weighs its length."""
    import subprocess
    import sys

    probe = (
        "import sys, warnd.app\n"
        "from warnd.channels.x import weighted\n"
        "assert 'twitter_text' not in sys.modules, 'imported with the daemon'\n"
        "assert weighted('Gempa M5.2, 3.1 LS 101.2 BT. Sumber: BMKG. #gempa') == 49\n"
        "assert 'twitter_text' not in sys.modules, 'imported for an ASCII text without a URL'\n"
        "assert weighted('Info: bmkg.go.id') == 6 + 23\n"
        "assert 'twitter_text' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
