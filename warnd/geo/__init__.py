"""Regions and places: where a point falls among the regions (regions), their outlines for CAP
(outlines), the points where people are (points), towns known by another name (aliases), the
files they are read from (layers) and distances on the sphere (sphere).

What the rest of warnd uses is named here, so that callers need not know which module holds it.
"""

from warnd.geo.aliases import ALIASES_HEADER, PlaceAlias, read_place_aliases
from warnd.geo.layers import MAX_REGION_FILE_MB, RegionError, read_geojson
from warnd.geo.outlines import CAP_DECIMALS, HULL, OUTLINE_TOLERANCES, Outlines
from warnd.geo.points import POINTS_HEADER, Points, points_from_layer, read_points, representative_point, write_points
from warnd.geo.regions import MIN_OVERLAP, ZONES, Hit, RegionIndex, covers, load_layers, zone_name
from warnd.geo.sphere import EARTH_RADIUS_KM, haversine_km

__all__ = [
    "ALIASES_HEADER",
    "CAP_DECIMALS",
    "EARTH_RADIUS_KM",
    "HULL",
    "MAX_REGION_FILE_MB",
    "MIN_OVERLAP",
    "OUTLINE_TOLERANCES",
    "POINTS_HEADER",
    "ZONES",
    "Hit",
    "Outlines",
    "PlaceAlias",
    "Points",
    "RegionError",
    "RegionIndex",
    "covers",
    "haversine_km",
    "load_layers",
    "points_from_layer",
    "read_geojson",
    "read_place_aliases",
    "read_points",
    "representative_point",
    "write_points",
    "zone_name",
]
