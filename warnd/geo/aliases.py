"""Place aliases: towns BMKG names that are neither a kecamatan nor a regency, with the
kecamatan an operator found them in and where that fact comes from."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from warnd.geo.layers import RegionError

# BMKG names felt places by towns that are neither a kecamatan nor a regency (Sorowako, Sinabang,
# Labuan Bajo). Which kecamatan such a town lies in is a fact an operator can look up and add,
# one row each, with where the fact comes from.
ALIASES_HEADER = ("name", "code", "source")


@dataclass(frozen=True)
class PlaceAlias:
    name: str
    code: str
    source: str
    path: str
    line: int


def read_place_aliases(path: Path) -> tuple[PlaceAlias, ...]:
    """An aliases file: CSV with the header name,code,source; lines starting with '#' are
    comments. Every row is checked, and a problem names the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegionError(f"{path}: file not found") from None
    except (OSError, ValueError) as e:
        raise RegionError(f"{path}: not a readable aliases file: {e}") from None
    content: list[tuple[int, list[str]]] = []
    # Line by line, so that every problem can name its line.
    for n, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#") or not line.strip():
            continue
        try:
            content.append((n, next(csv.reader([line]))))
        except csv.Error as e:
            raise RegionError(f"{path}:{n}: not a readable CSV line: {e}") from None
    if not content or tuple(c.strip() for c in content[0][1]) != ALIASES_HEADER:
        first = content[0][0] if content else 1
        raise RegionError(f"{path}:{first}: the header must be {','.join(ALIASES_HEADER)}")
    out: list[PlaceAlias] = []
    seen: dict[str, int] = {}
    for n, row in content[1:]:
        if len(row) != len(ALIASES_HEADER):
            raise RegionError(f"{path}:{n}: {len(row)} fields, expected {len(ALIASES_HEADER)} (quote a comma)")
        name, code, source = (c.strip() for c in row)
        if not name or not code:
            raise RegionError(f"{path}:{n}: name and code must not be empty")
        if not source:
            raise RegionError(f"{path}:{n}: say where the fact comes from in the source column")
        if not re.fullmatch(r"\d{2}(\.\d{2}){1,2}", code):
            raise RegionError(f"{path}:{n}: {code!r} is not a regency (33.26) or kecamatan (33.26.07) code")
        folded = " ".join(name.lower().split())
        if folded in seen:
            raise RegionError(f"{path}:{n}: {name!r} is already on line {seen[folded]}")
        seen[folded] = n
        out.append(PlaceAlias(name, code, source, str(path), n))
    return tuple(out)
