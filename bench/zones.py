"""How many InaTEWS warning zones of the recorded documents map to a regency.

    .venv/bin/python -m bench.zones

Every `wzarea` of every InaTEWS document in feeds/samples/bmkg-inatews (all messages of a
history file) is read as written, without the poller, and mapped with the shipped regions.
`measure()` returns the figures; `main()` prints them as a table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from warnd.geo import load_layers
from warnd.model import Zone
from warnd.rules.zones import ZoneMap

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "feeds" / "samples" / "bmkg-inatews"
REGIONS = ROOT / "config" / "regions"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


def zones_of(path: Path) -> list[tuple[str, str]]:
    """The distinct (province, district) of a document's wzarea entries, in order."""
    data = path.read_bytes()
    found: list[tuple[str, str]] = []
    if path.suffix == ".json":
        info = json.loads(data).get("info") or {}
        items = info.get("wzarea") or []
        for z in [items] if isinstance(items, dict) else items:
            found.append((str(z.get("province", "")), str(z.get("district", ""))))
    elif path.suffix == ".xml":
        root = ET.fromstring(data)
        for w in root.iter(CAP + "wzarea"):
            found.append((w.findtext(CAP + "province") or "", w.findtext(CAP + "district") or ""))
    return list(dict.fromkeys(found))


def measure(samples: Path = SAMPLES, regions: Path = REGIONS) -> dict[str, Any]:
    """Zones seen, mapped and unmapped (by name), per document and in all."""
    zm = ZoneMap(load_layers([regions / "provinces.geojson", regions / "regencies.geojson"]))
    documents: dict[str, dict[str, Any]] = {}
    for path in sorted(samples.iterdir()):
        zones = zones_of(path)
        if not zones:
            continue
        mapped: dict[str, str] = {}
        unmapped: list[str] = []
        for province, district in zones:
            found = zm.locate(Zone(province, district, "waspada"))
            name = f"{province}/{district}"
            if found is None:
                unmapped.append(name)
            else:
                region, part = found
                mapped[name] = f"{region.code} {region.name}" + (f" ({part})" if part else "")
        documents[path.name] = {"zones": len(zones), "mapped": len(mapped), "unmapped": unmapped, "regions": mapped}
    seen = sum(d["zones"] for d in documents.values())
    ok = sum(d["mapped"] for d in documents.values())
    return {
        "documents": documents,
        "zones": seen,
        "mapped": ok,
        "unmapped": [n for d in documents.values() for n in d["unmapped"]],
        "mapped_share": ok / seen if seen else 1.0,
    }


def main() -> None:
    m = measure()
    out = sys.stdout
    out.write("| document | zones | mapped | unmapped |\n| --- | ---: | ---: | --- |\n")
    for name, d in m["documents"].items():
        out.write(f"| {name} | {d['zones']} | {d['mapped']} | {', '.join(d['unmapped']) or '-'} |\n")
    missing = ", ".join(m["unmapped"]) or "-"
    out.write(f"| all | {m['zones']} | {m['mapped']} ({m['mapped_share']:.0%}) | {missing} |\n\n")
    out.write("| zone | regency (part) |\n| --- | --- |\n")
    for d in m["documents"].values():
        for zone, region in d["regions"].items():
            out.write(f"| {zone} | {region} |\n")


if __name__ == "__main__":
    main()
