"""InaTEWS warning zones to region codes.

A zone (`wzarea`) names a province by BMKG's abbreviation ("SUMUT", "PAPUABAR") and a coastal
stretch of one regency, in capitals: "NIAS-SELATAN PULAU TANABALA", "FLORES-TIMUR BAGIAN UTARA",
"KOTA-PALOPO", "LUWU BAGIAN TIMUR", "RAJAAMPAT BAGIAN UTARA", "PULAU ENDE", "SELAYAR".

How a zone is read:
- Hyphens join the words of one name ("FLORES-TIMUR" is Kabupaten Flores Timur, "KOTA-BAU-BAU"
  is Kota Bau Bau); some names are run together ("BIAKNUMFOR", "RAJAAMPAT"). Names are compared
  by their letters only, and exactly: a zone is never the regency whose name merely begins its text.
- A space separates the name from its qualifier, the part of the regency the zone covers:
  "BAGIAN <direction>" (a side of it) or "PULAU <island>" (one of its islands). So "LUWU BAGIAN
  TIMUR" is the eastern part of Kabupaten Luwu, not Kabupaten Luwu Timur (that would be written
  "LUWU-TIMUR"), and "SORONG BAGIAN SELATAN" the southern part of Kabupaten Sorong.
- A leading "PULAU" ("PULAU ENDE") is the islands of the regency named after it.
- "KOTA-" names the Kota; a bare name is the Kabupaten, or the Kota when no Kabupaten bears it.
  "Kepulauan X" also answers to "X" ("SELAYAR"), "Kabupaten/Kota Administrasi X" to "X".
- A name written with spaces instead of hyphens ("NIAS SELATAN") is read too: the longest run of
  leading words that names a regency is the name, the words after it join the qualifier.
- The province is searched together with the provinces split from it since 2022: "PAPUABAR" is
  Papua Barat (92) and Papua Barat Daya (96), "PAPUA" is Papua (91), Papua Selatan (93), Papua
  Tengah (94) and Papua Pegunungan (95). The province's full name ("NUSATENGGARATIMUR") works too.
  An unknown abbreviation searches every province.

A zone whose name matches no regency is not dropped: the caller is told which provinces BMKG
named, so the warning can stand in their name and quote the zone as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from warnd.geo import RegionIndex
from warnd.model import Region, Zone

# BMKG's province abbreviations, each to the provinces that now hold its coast.
PROVINCES: dict[str, tuple[str, ...]] = {
    "ACEH": ("11",), "NAD": ("11",), "SUMUT": ("12",), "SUMBAR": ("13",), "RIAU": ("14",), "JAMBI": ("15",),
    "SUMSEL": ("16",), "BENGKULU": ("17",), "LAMPUNG": ("18",), "BABEL": ("19",), "KEPRI": ("21",),
    "DKI": ("31",), "JAKARTA": ("31",), "JABAR": ("32",), "JATENG": ("33",), "DIY": ("34",),
    "YOGYAKARTA": ("34",), "JATIM": ("35",), "BANTEN": ("36",), "BALI": ("51",), "NTB": ("52",),
    "NTT": ("53",), "KALBAR": ("61",), "KALTENG": ("62",), "KALSEL": ("63",), "KALTIM": ("64",),
    "KALTARA": ("65",), "SULUT": ("71",), "SULTENG": ("72",), "SULSEL": ("73",), "SULTRA": ("74",),
    "GORONTALO": ("75",), "SULBAR": ("76",), "MALUKU": ("81",), "MALUT": ("82",),
    # Split in 2022: the old names cover every province carved out of them.
    "PAPUA": ("91", "93", "94", "95"), "PAPUABAR": ("92", "96"), "PAPUABRT": ("92", "96"),
    "PABAR": ("92", "96"), "PAPUABARAT": ("92", "96"),
    "PAPUASELATAN": ("93",), "PAPUATENGAH": ("94",), "PAPUAPEGUNUNGAN": ("95",), "PAPUABARATDAYA": ("96",),
}  # fmt: skip
# Words that begin a qualifier: the name of the regency ends before them.
QUALIFIERS = ("BAGIAN", "PULAU")
_LEVEL_RANK = {"awas": 0, "siaga": 1, "waspada": 2}


def letters(text: str) -> str:
    return re.sub(r"[^A-Z]", "", text.upper())


@dataclass(frozen=True, slots=True)
class Reading:
    """One way to read a zone's text: the letters of a regency name and the qualifier after it
    (as written, upper case; "" when the zone is the whole regency)."""

    name: str
    part: str


def readings(district: str) -> list[Reading]:
    """The readings of a zone's text, the one to try first first."""
    words = district.upper().split()
    if not words:
        return []
    if words[0] == "PULAU" and len(words) > 1:
        # "PULAU ENDE": the islands of Kabupaten Ende; the whole text is the part.
        return [Reading(r.name, " ".join(words)) for r in readings(" ".join(words[1:])) if not r.part]
    cut = next((i for i, w in enumerate(words) if i > 0 and w in QUALIFIERS), len(words))
    return [
        Reading(letters(" ".join(words[:k])), " ".join(words[k:]))
        for k in range(cut, 0, -1)
        if letters(" ".join(words[:k]))
    ]


@dataclass(frozen=True, slots=True)
class ZoneHit:
    """A zone and where it is: its regency and the part of it ("" for all of it); or, when its
    name matches no regency, `region` None and the provinces BMKG named (none if unknown)."""

    zone: Zone
    region: Region | None
    part: str = ""
    provinces: tuple[Region, ...] = ()

    @property
    def text(self) -> str:
        """The zone as BMKG wrote it."""
        return f"{self.zone.province}/{self.zone.district}"


class ZoneMap:
    """Built once per load from the province and regency layers."""

    def __init__(self, index: RegionIndex) -> None:
        self._provinces = {r.code: r for r in index.regions if r.level == "province"}
        self._abbrev = dict(PROVINCES)
        for code, r in self._provinces.items():
            self._abbrev.setdefault(letters(r.name), (code,))
        primary: dict[str, dict[str, Region]] = {}
        secondary: dict[str, dict[str, Region]] = {}
        for r in index.regions:
            if r.level != "regency":
                continue
            province = r.code.split(".")[0]
            first, *others = _keys(r.name)
            primary.setdefault(province, {}).setdefault(first, r)
            for key in others:
                secondary.setdefault(province, {}).setdefault(key, r)
        # A regency's own name wins over another's shortened one ("BIMA" is Kabupaten Bima,
        # never Kota Bima).
        self._by_province = {p: {**secondary.get(p, {}), **keys} for p, keys in primary.items()}
        for p, keys in secondary.items():
            self._by_province.setdefault(p, dict(keys))

    def province_codes(self, abbreviation: str) -> tuple[str, ...]:
        """The provinces an abbreviation names, () when it is unknown."""
        return self._abbrev.get(letters(abbreviation), ())

    def locate(self, zone: Zone) -> tuple[Region, str] | None:
        """The zone's regency and the part of it, or None."""
        codes = self.province_codes(zone.province) or tuple(self._by_province)
        pools = [self._by_province[c] for c in codes if c in self._by_province]
        for reading in readings(zone.district):
            for pool in pools:
                region = pool.get(reading.name)
                if region is not None:
                    return region, reading.part
        return None

    def region(self, zone: Zone) -> Region | None:
        found = self.locate(zone)
        return found[0] if found else None

    def resolve(self, zones: Iterable[Zone]) -> list[ZoneHit]:
        """Every zone, worst level and earliest arrival first, with its regency or, failing
        that, the provinces it was named under."""
        out: list[ZoneHit] = []
        for z in sorted(zones, key=_severity):
            found = self.locate(z)
            if found is not None:
                out.append(ZoneHit(z, found[0], found[1]))
            else:
                named = tuple(self._provinces[c] for c in self.province_codes(z.province) if c in self._provinces)
                out.append(ZoneHit(z, None, "", named))
        return out


def _severity(z: Zone) -> tuple[int, str]:
    return (_LEVEL_RANK.get(z.level, 3), z.eta.isoformat() if z.eta else "~")


def _keys(name: str) -> list[str]:
    """A regency's own key first, then the shorter names it also answers to:
    'Kabupaten Nias Selatan' -> NIASSELATAN; 'Kota Palopo' -> KOTAPALOPO, PALOPO;
    'Kabupaten Kepulauan Selayar' -> KEPULAUANSELAYAR, SELAYAR;
    'Kota Administrasi Jakarta Utara' -> KOTAJAKARTAUTARA, JAKARTAUTARA, ..."""
    m = re.match(r"^(Kabupaten|Kab\.?|Kota)\s+(?:Administrasi\s+)?(.*)$", name, flags=re.IGNORECASE)
    kota = bool(m and m.group(1).lower() == "kota")
    bare = m.group(2) if m else name
    keys = [letters(("Kota " if kota else "") + bare)]
    if kota:
        keys.append(letters(bare))
    if bare.lower().startswith("kepulauan "):
        keys.append(letters(bare[len("kepulauan ") :]))
    keys.append(letters(name))
    return list(dict.fromkeys(keys))
