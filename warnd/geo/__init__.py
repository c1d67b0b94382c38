"""Regions and places: the region index (where a point falls, what is near), region outlines for
CAP, the layers read from GeoJSON, and the point and alias tables.

The package's public names are re-exported here, so callers import from `warnd.geo`."""

from warnd.geo.base import (
    EARTH_RADIUS_KM,
    MAX_REGION_FILE_MB,
    MIN_OVERLAP,
    ZONES,
    Hit,
    RegionError,
    covers,
    haversine_km,
    zone_name,
)
from warnd.geo.index import RegionIndex
from warnd.geo.layers import load_layers, points_from_layer, read_geojson
from warnd.geo.outlines import CAP_DECIMALS, HULL, OUTLINE_TOLERANCES, Outlines
from warnd.geo.places import (
    ALIASES_HEADER,
    POINTS_HEADER,
    PlaceAlias,
    Points,
    read_place_aliases,
    read_points,
    representative_point,
    write_points,
)

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
