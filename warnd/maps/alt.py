"""What a screen reader says for a warning's map, in Indonesian: the hazard and its strength,
where, the warned regions by level, the time in their zone, the source, and that it is an
exercise when it is one. Made from the same shading as the image, so the two agree."""

from __future__ import annotations

from collections.abc import Mapping

from warnd.geo import RegionIndex
from warnd.maps.style import shading
from warnd.maps.words import exercise, groups, heading, local_time, zone_of
from warnd.model import HazardEvent, Warning

# X accepts up to 1000 characters of alt text.
MAX_CHARS = 1000


def alt_text(
    event: HazardEvent,
    warning: Warning,
    regions: RegionIndex,
    *,
    credit: str,
    notes: Mapping[str, str] | None = None,
) -> str:
    shade = shading(event, warning, regions, notes)
    zone = zone_of(event, warning, regions)
    lines = []
    if exercise(event, warning):
        lines.append("LATIHAN, bukan kejadian sebenarnya.")
    lines.append(f"Peta {heading(event, warning).replace(' · ', ', ')}.")
    if event.place:
        lines.append(f"Lokasi: {event.place}.")
    found = groups(shade, warning)
    if found:
        parts = [f"{label}: {', '.join(names)}" for label, names in found]
        lines.append(f"Wilayah diwarnai menurut {shade.title[0].lower() + shade.title[1:]}. " + "; ".join(parts) + ".")
    lines.append(f"Waktu: {local_time(event.time, zone)}.")
    lines.append(f"Sumber: {credit}.")
    text = " ".join(lines)
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS - 1].rstrip() + "…"
    return text
