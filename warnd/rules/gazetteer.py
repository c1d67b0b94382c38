"""Place names as BMKG writes them, to Kemendagri regions.

BMKG's felt lists ("Dirasakan") and nowcast descriptions name places in free text: regencies with
or without a prefix ("Kab. Gorontalo", "Bonebolango", "Kulonprogo"), kecamatan ("Malili",
"Sumedang Utara"), the root shared by several kecamatan ("Tondano" for Tondano Barat, Tondano
Timur, ...), provinces, and towns that are none of these (Sorowako, Sinabang, Labuan Bajo: the
operator's `place_aliases` table says which kecamatan each lies in). A name is compared by its
letters only, in lower case: "Bone Bolango", "Bonebolango" and "BONE-BOLANGO" are one key.

How a name is read, in this order:

1. A written prefix says the kind: "Kab."/"Kabupaten" a kabupaten, "Kota" a kota (or else a
   kecamatan whose own name starts with Kota: "Kota Waingapu"), "Kec."/"Kecamatan" a kecamatan,
   "Provinsi" a province.
2. Candidates with exactly that name: regencies (also without "Kepulauan"/"Pulau": "Mentawai",
   "Morotai"), kecamatan (also without a leading "Kota": "Waingapu", "Sigli", "Tambolaka"),
   aliases and provinces (also BMKG's abbreviations, "Sulteng"). An alias is the operator's
   reading of a town's name and outranks a kecamatan or regency of the same name. When no name
   matches: the kecamatan whose names are this name followed by compass words only ("Tondano",
   "Siberut"). When none: a near spelling, a rapidfuzz ratio of at least 90 over the letter keys
   (one letter added or changed in a long name: "Soroako" for Sorowako, "Padang Sidempuan" for
   Padangsidimpuan, "Gerogol" for Grogol); rapidfuzz does this over every key in a fraction of a
   millisecond, and the strict cutoff keeps short names, where one letter makes another place,
   out of reach.
3. Among the candidates:
   - only those in the province, when it is known (a nowcast names its province);
   - a province only when nothing finer bears the name ("Bengkulu" is the kota, "Jakarta" the
     province);
   - a kota before a kabupaten of the same name in the same province (and before that
     kabupaten's kecamatan of the name): BMKG writes "Kab." when it means the kabupaten
     ("III Gorontalo, ..., II-III Kab. Gorontalo" in one list);
   - then the one nearest to the event (the epicentre; a nowcast's area and the other places it
     names), measured to the candidate's nearest kecamatan point;
   - with no position to judge by, a name left in two regencies is not resolved: it is reported,
     never guessed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process

from warnd.geo import EARTH_RADIUS_KM, RegionIndex
from warnd.model import Region
from warnd.rules.zones import PROVINCES

# Province, kota, kabupaten, kecamatan, alias: the kinds of place a name can be.
PROVINCE, KOTA, KABUPATEN, DISTRICT, ALIAS = "province", "kota", "kabupaten", "district", "alias"
# How a name was found.
BY_NAME, BY_ROOT, BY_SPELLING = "name", "root", "spelling"

FUZZY_CUTOFF = 90.0
_FUZZY_MIN_LETTERS = 6
# Equal distances (a regency and its own kecamatan of the same name) go to the first of these.
_RANK = {ALIAS: 0, KOTA: 1, KABUPATEN: 2, DISTRICT: 3, PROVINCE: 4}
_COMPASS = {
    "utara",
    "selatan",
    "timur",
    "barat",
    "tengah",
    "tenggara",
    "daya",
    "laut",
    "kulon",
    "wetan",
    "kidul",
    "lor",
}

_HINTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), kind)
    for p, kind in (
        (r"^kota\s+administrasi\s+", KOTA),
        (r"^kabupaten(?:\s+administrasi)?\s+", KABUPATEN),
        (r"^kab\s*\.\s*", KABUPATEN),
        (r"^kab\s+", KABUPATEN),
        (r"^kota\s+", KOTA),
        (r"^kecamatan\s+|^kec\s*\.\s*|^kec\s+", DISTRICT),
        (r"^provinsi\s+|^prov\s*\.\s*|^prov\s+", PROVINCE),
    )
)
_REGENCY_PREFIX = re.compile(r"^(?:kabupaten|kota)(?:\s+administrasi)?\s+", re.IGNORECASE)
_ISLANDS_PREFIX = re.compile(r"^(?:kepulauan|pulau)\s+", re.IGNORECASE)
_PROVINCE_PREFIX = re.compile(r"^daerah\s+(?:khusus\s+ibukota|khusus|istimewa)\s+", re.IGNORECASE)


# Every ASCII character but a-z, deleted by str.translate (several times faster than a regex over
# the 8,000 names read at each load).
_NOT_LETTERS = str.maketrans("", "", "".join(chr(c) for c in range(128) if not chr(c).islower()))


def letters(text: str) -> str:
    """The key of a name: its letters, lower case, accents dropped."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return text.lower().translate(_NOT_LETTERS)


def split_hint(text: str) -> tuple[str | None, str]:
    """('kabupaten', 'Gorontalo') for 'Kab. Gorontalo'; (None, text) without a prefix."""
    text = " ".join(text.split())
    for pattern, kind in _HINTS:
        m = pattern.match(text)
        if m and text[m.end() :].strip():
            return kind, text[m.end() :]
    return None, text


@dataclass(frozen=True, slots=True)
class Place:
    """What a place name was read as."""

    text: str
    region: Region
    kind: str
    how: str
    distance_km: float | None = None


@dataclass(frozen=True, slots=True)
class _Entry:
    region: Region
    kind: str
    # Indices into the index's points (one per kecamatan): where the place's people are.
    idx: npt.NDArray[np.intp]


class Near:
    """Distances from some anchor points (the epicentre, a nowcast polygon's corners and named
    places) to the candidates of names, measured only for the candidates asked about."""

    def __init__(self, gazetteer: Gazetteer, anchors: Iterable[tuple[float, float]]) -> None:
        pairs = np.array(list(anchors), dtype=float).reshape(-1, 2)
        self._lat = np.radians(pairs[:, 0])[None, :]
        self._lon = np.radians(pairs[:, 1])[None, :]
        self._points = gazetteer.index.points
        self._km: dict[int, float] = {}

    def to(self, entry: _Entry) -> float:
        """Great-circle km from the nearest anchor to the entry's nearest kecamatan point."""
        km = self._km.get(id(entry))
        if km is None:
            if not len(entry.idx) or not self._lat.size:
                km = float("inf")
            else:
                lat = np.radians(self._points.lat[entry.idx])[:, None]
                lon = np.radians(self._points.lon[entry.idx])[:, None]
                dlat, dlon = np.sin((lat - self._lat) / 2), np.sin((lon - self._lon) / 2)
                a = dlat**2 + np.cos(lat) * np.cos(self._lat) * dlon**2
                km = float(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(1.0, a))).min())
            self._km[id(entry)] = km
        return km


class Gazetteer:
    """Every name of one loaded region set; built once per set (see `gazetteer`)."""

    def __init__(self, index: RegionIndex) -> None:
        self.index = index
        points = index.points
        by_regency: dict[str, list[int]] = {}
        by_province: dict[str, list[int]] = {}
        own: dict[str, int] = {}
        for i, code in enumerate(points.codes):
            parts = code.split(".")
            by_province.setdefault(parts[0], []).append(i)
            if len(parts) >= 2:
                by_regency.setdefault(".".join(parts[:2]), []).append(i)
            own[code] = i

        every = np.arange(len(points), dtype=np.intp)

        def where(codes: list[int]) -> npt.NDArray[np.intp]:
            return np.array(codes, dtype=np.intp)

        self._exact: dict[str, list[_Entry]] = {}
        self._roots: dict[str, list[_Entry]] = {}
        self._provinces: dict[str, Region] = {}
        for r in index.regions:
            if r.level == "province":
                self._provinces[r.code] = r
                entry = _Entry(r, PROVINCE, where(by_province.get(r.code, [])))
                # "Daerah Khusus Ibukota Jakarta" is also "Jakarta" and "DKI Jakarta".
                m = _PROVINCE_PREFIX.match(r.name)
                bare = r.name[m.end() :] if m else r.name
                initials = "".join(w[0] for w in m.group(0).split()) if m else ""
                self._add({letters(r.name), letters(bare), letters(initials + bare)}, entry)
            elif r.level == "regency":
                kind = KOTA if int(r.code.split(".")[1]) >= 71 else KABUPATEN
                bare = _REGENCY_PREFIX.sub("", r.name)
                keys = {letters(bare), letters(_ISLANDS_PREFIX.sub("", bare))}
                self._add(keys, _Entry(r, kind, where(by_regency.get(r.code, []))))
        for abbreviation, codes in PROVINCES.items():
            # An abbreviation of a province split since 2022 (PAPUABAR) names, as a place, the one
            # that kept its name, listed first.
            code = codes[0]
            region = self._provinces.get(code)
            if region is not None:
                self._add({letters(abbreviation)}, _Entry(region, PROVINCE, where(by_province.get(code, []))))
        for i, (code, name) in enumerate(zip(points.codes, points.names, strict=True)):
            if code.count(".") != 2:
                continue
            region = index.by_code.get(code) or Region(code, name, "district", code.rsplit(".", 1)[0])
            entry = _Entry(region, DISTRICT, every[i : i + 1])
            names = [name]
            if name[:5].lower() == "kota ":
                names.append(name[5:])
            for n in names:
                self._add((letters(n),), entry)
                root = _root(n)
                if root is not None:
                    self._roots.setdefault(root, []).append(entry)
        for alias in index.aliases:
            region = index.by_code.get(alias.code)
            if region is None and alias.code in own:
                i = own[alias.code]
                region = Region(alias.code, points.names[i], "district", alias.code.rsplit(".", 1)[0])
            if region is None:
                continue  # the configuration check reports it
            idx = [own[alias.code]] if alias.code in own else by_regency.get(alias.code, [])
            self._add({letters(alias.name)}, _Entry(region, ALIAS, where(idx)))
        self._keys = list(self._exact)
        self._where = {**by_province, **by_regency, **{c: [i] for c, i in own.items()}}

    def points_of(self, code: str) -> list[tuple[float, float]]:
        """(lat, lon) of the kecamatan points of a region (its own, for a kecamatan)."""
        points = self.index.points
        return [(float(points.lat[i]), float(points.lon[i])) for i in self._where.get(code, ())]

    def _add(self, keys: Iterable[str], entry: _Entry) -> None:
        for key in keys:
            if key:
                self._exact.setdefault(key, []).append(entry)

    def near(self, anchors: Iterable[tuple[float, float]]) -> Near:
        return Near(self, anchors)

    def province(self, text: str) -> Region | None:
        """The province a text names ("Banten", "DKI Jakarta", "Sulteng"), if it names one."""
        _, rest = split_hint(text)
        for e in self._exact.get(letters(rest), ()):
            if e.kind == PROVINCE:
                return e.region
        return None

    def candidates(self, text: str) -> tuple[str, list[_Entry]]:
        """How a name could be read and what it could be, before any choice."""
        hint, rest = split_hint(text)
        key = letters(rest)
        if not key:
            return BY_NAME, []
        found = list(self._exact.get(key, ()))
        if hint is not None:
            kinds = {hint, ALIAS} if hint != KOTA else {KOTA, ALIAS}
            hinted = [e for e in found if e.kind in kinds]
            if not hinted:
                # "Kota Waingapu" is a kecamatan's own name, not the kota of Waingapu.
                hinted = list(self._exact.get(letters(text), ()))
            found = hinted or found
        if found:
            return BY_NAME, found
        if key in self._roots:
            return BY_ROOT, list(self._roots[key])
        if len(key) >= _FUZZY_MIN_LETTERS:
            scored = process.extract(key, self._keys, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=None)
            if scored:
                top = max(score for _, score, _ in scored)
                return BY_SPELLING, [e for k, score, _ in scored if score == top for e in self._exact[k]]
        return BY_NAME, []

    def lookup(self, text: str, near: Near | None = None, province: str | None = None) -> Place | None:
        """The region a place name stands for, or None when it names nothing known (or, with no
        position to judge by, several regencies)."""
        how, found = self.candidates(text)
        if province is not None:
            found = [e for e in found if e.region.code.split(".")[0] == province]
        if not found:
            return None
        aliases = [e for e in found if e.kind == ALIAS]
        if aliases and how == BY_NAME:
            found = aliases
        finer = [e for e in found if e.kind != PROVINCE]
        found = finer or found
        # The kabupaten of a kota's name goes, and so does its own kecamatan of that name (the
        # old town the kabupaten was named after: kecamatan Madiun of Kabupaten Madiun).
        kota_in = {e.region.code.split(".")[0] for e in found if e.kind == KOTA}
        gone = {e.region.code for e in found if e.kind == KABUPATEN and e.region.code.split(".")[0] in kota_in}
        found = [e for e in found if e.region.code not in gone and _regency_code(e.region.code) not in gone]
        unique: dict[str, _Entry] = {}
        for e in sorted(found, key=lambda e: _RANK[e.kind]):
            unique.setdefault(e.region.code, e)
        entries = list(unique.values())
        if near is not None:
            best = min(entries, key=lambda e: (near.to(e), _RANK[e.kind], e.region.code))
            return Place(text, best.region, best.kind, how, near.to(best))
        if len({_regency_code(e.region.code) for e in entries}) > 1:
            return None
        best = entries[0]
        return Place(text, best.region, best.kind, how)


def _regency_code(code: str) -> str:
    return ".".join(code.split(".")[:2])


def _root(name: str) -> str | None:
    """'Tondano Barat' -> 'tondano'; None when the name ends in no compass word."""
    words = name.split()
    n = len(words)
    while n > 1 and words[n - 1].lower() in _COMPASS:
        n -= 1
    return letters(" ".join(words[:n])) if n < len(words) else None


def gazetteer(index: RegionIndex) -> Gazetteer:
    """One Gazetteer per loaded region set."""
    return index.derived(Gazetteer)


def regions_at(index: RegionIndex, region: Region, level: str) -> Sequence[Region]:
    """A found place as regions of a rule's level: a kecamatan names its regency or province; a
    regency at district level stands for its kecamatan; a province stands only for itself."""
    if region.level == level:
        return (region,)
    coarser = index.region_at(region.code, level)
    if coarser is not None:
        return (coarser,)
    if level == "district" and region.level == "regency":
        points = index.points
        return tuple(
            index.by_code.get(c) or Region(c, n, "district", region.code)
            for c, n in zip(points.codes, points.names, strict=True)
            if c.startswith(region.code + ".") and c.count(".") == 2
        )
    return ()
