"""InaTEWS warning zones to region codes.

A zone names a province by BMKG's abbreviation ("SUMUT", "SULSEL") and a coastal stretch by its
regency in capitals with hyphens, often with a qualifier: "NIAS-SELATAN PULAU TANABALA",
"KOTA-PALOPO", "LUWU BAGIAN TIMUR" (= Kabupaten Luwu Timur), "SELAYAR" (= Kepulauan Selayar),
"PULAU ENDE". The regency is the one whose name is the longest prefix of the zone's text once
both are reduced to letters; a name that matches none is reported, never dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from warnd.geo import RegionIndex
from warnd.model import Region, Zone

PROVINCES = {
    "ACEH": "11", "NAD": "11", "SUMUT": "12", "SUMBAR": "13", "RIAU": "14", "JAMBI": "15", "SUMSEL": "16",
    "BENGKULU": "17", "LAMPUNG": "18", "BABEL": "19", "KEPRI": "21", "DKI": "31", "JAKARTA": "31",
    "JABAR": "32", "JATENG": "33", "DIY": "34", "YOGYAKARTA": "34", "JATIM": "35", "BANTEN": "36",
    "BALI": "51", "NTB": "52", "NTT": "53", "KALBAR": "61", "KALTENG": "62", "KALSEL": "63", "KALTIM": "64",
    "KALTARA": "65", "SULUT": "71", "SULTENG": "72", "SULSEL": "73", "SULTRA": "74", "GORONTALO": "75",
    "SULBAR": "76", "MALUKU": "81", "MALUT": "82", "PAPUA": "91", "PAPUABAR": "92", "PABAR": "92",
    "PAPUASELATAN": "93", "PAPUATENGAH": "94", "PAPUAPEGUNUNGAN": "95", "PAPUABARATDAYA": "96",
}  # fmt: skip
_DIRECTIONS = ("UTARA", "SELATAN", "TIMUR", "BARAT", "TENGAH")
_LEVEL_RANK = {"awas": 0, "siaga": 1, "waspada": 2}


def _letters(text: str) -> str:
    return re.sub(r"[^A-Z]", "", text.upper())


@dataclass(frozen=True, slots=True)
class ZoneHit:
    region: Region
    zone: Zone


class ZoneMap:
    """Built once per load from the regency layer."""

    def __init__(self, index: RegionIndex) -> None:
        self._by_province: dict[str, list[tuple[str, Region]]] = {}
        for r in index.regions:
            if r.level != "regency":
                continue
            for key in _keys(r.name):
                self._by_province.setdefault(r.code.split(".")[0], []).append((key, r))
        for keys in self._by_province.values():
            keys.sort(key=lambda kr: -len(kr[0]))

    def region(self, zone: Zone) -> Region | None:
        province = PROVINCES.get(_letters(zone.province))
        pools = [self._by_province.get(province, [])] if province else list(self._by_province.values())
        for text in _candidates(zone.district):
            for pool in pools:
                for key, region in pool:
                    if text.startswith(key):
                        return region
        return None

    def resolve(self, zones: tuple[Zone, ...]) -> tuple[list[ZoneHit], list[Zone]]:
        """Regions of the zones, worst level and earliest arrival first; and the zones that map
        to no region."""
        hits: dict[str, ZoneHit] = {}
        unmapped: list[Zone] = []
        for z in sorted(zones, key=_severity):
            region = self.region(z)
            if region is None:
                unmapped.append(z)
            elif region.code not in hits:
                hits[region.code] = ZoneHit(region, z)
        return list(hits.values()), unmapped


def _severity(z: Zone) -> tuple[int, str]:
    return (_LEVEL_RANK.get(z.level, 3), z.eta.isoformat() if z.eta else "~")


def _keys(name: str) -> list[str]:
    """'Kabupaten Nias Selatan' -> NIASSELATAN; 'Kota Palopo' -> KOTAPALOPO;
    'Kabupaten Kepulauan Selayar' -> KEPULAUANSELAYAR and SELAYAR."""
    bare = re.sub(r"^(Kabupaten|Kab\.?)\s+", "", name, flags=re.IGNORECASE)
    keys = [_letters(bare)]
    if bare.lower().startswith("kepulauan "):
        keys.append(_letters(bare[len("kepulauan ") :]))
    return keys


def _candidates(district: str) -> list[str]:
    """The zone text as letters, first with 'X BAGIAN TIMUR' read as 'X TIMUR' (a regency of its
    own where one exists), then as written, then without a leading 'PULAU'."""
    text = district.upper().replace("-", " ")
    out = []
    m = re.match(r"^(.*?)\s+BAGIAN\s+(" + "|".join(_DIRECTIONS) + r")\b", text)
    if m:
        out.append(_letters(m.group(1) + m.group(2)))
    out.append(_letters(text))
    if text.startswith("PULAU "):
        out.append(_letters(text[len("PULAU ") :]))
    return out
