"""A report's place drawn on the city's outline: an inline SVG made here from the boundary
the bot already checks points against, so the page needs no map tiles, no outside server
and no script, and works behind any firewall.

The projection is equirectangular with longitude shrunk by the cosine of the middle
latitude: over one city that is within a fraction of a percent of what a web map shows,
and it keeps the outline the shape staff know. The outline is simplified to about one
unit of the drawing, so a boundary of many thousand points costs a few kilobytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

WIDTH = 480.0
PAD = 12.0
MIN_HEIGHT, MAX_HEIGHT = 160.0, 640.0


@dataclass(frozen=True, slots=True)
class Frame:
    """Degrees to drawing units: where the map's corner is and how many units a degree is."""

    min_lon: float
    max_lat: float
    x_scale: float  # units per degree of longitude (already shrunk by cos(latitude))
    y_scale: float  # units per degree of latitude
    height: float

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return PAD + (lon - self.min_lon) * self.x_scale, PAD + (self.max_lat - lat) * self.y_scale


def frame_of(bounds: tuple[float, float, float, float]) -> Frame:
    """The frame fitting (min_lon, min_lat, max_lon, max_lat) into the drawing's width."""
    min_lon, min_lat, max_lon, max_lat = bounds
    shrink = max(0.01, math.cos(math.radians((min_lat + max_lat) / 2)))
    span_x = max((max_lon - min_lon) * shrink, 1e-6)
    span_y = max(max_lat - min_lat, 1e-6)
    scale = min((WIDTH - 2 * PAD) / span_x, (MAX_HEIGHT - 2 * PAD) / span_y)
    height = min(MAX_HEIGHT, max(MIN_HEIGHT, span_y * scale + 2 * PAD))
    return Frame(min_lon, max_lat, scale * shrink, scale, height)


def _polygons(geometry: BaseGeometry) -> Iterable[Polygon]:
    if isinstance(geometry, Polygon):
        yield geometry
    elif isinstance(geometry, MultiPolygon):
        yield from geometry.geoms
    else:  # a collection left by simplifying: its polygons only
        for part in getattr(geometry, "geoms", ()):
            yield from _polygons(part)


def _ring(frame: Frame, coords: Sequence[Sequence[float]]) -> str:
    points = [frame.xy(lat, lon) for lon, lat, *_ in coords]
    return "M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in points) + "Z"


def outline_path(geometry: BaseGeometry, frame: Frame) -> str:
    """The boundary as one path's data: every polygon's outer ring and its holes (drawn
    with fill-rule evenodd, a hole stays a hole)."""
    unit = 1.0 / frame.y_scale  # one drawing unit, in degrees
    simple = geometry.simplify(unit, preserve_topology=True)
    rings = []
    for polygon in _polygons(simple):
        rings.append(_ring(frame, list(polygon.exterior.coords)))
        rings.extend(_ring(frame, list(hole.coords)) for hole in polygon.interiors)
    return "".join(rings)


def place_map(
    geometry: BaseGeometry | None,
    point: tuple[float, float] | None,
    *,
    ident: str,
    title: str,
    desc: str,
) -> Markup:
    """The outline with `point` (lat, lon) marked; a point outside the outline widens the
    view so that it is still shown. Nothing to draw (no boundary, no point) is an empty
    Markup: the page says so in words."""
    if geometry is None and point is None:
        return Markup("")
    if geometry is not None:
        min_lon, min_lat, max_lon, max_lat = geometry.bounds
    else:
        assert point is not None
        min_lat = max_lat = point[0]
        min_lon = max_lon = point[1]
    if point is not None:
        lat, lon = point
        min_lat, max_lat = min(min_lat, lat), max(max_lat, lat)
        min_lon, max_lon = min(min_lon, lon), max(max_lon, lon)
    frame = frame_of((min_lon, min_lat, max_lon, max_lat))
    parts = [
        f'<svg class="report-map" role="img" aria-labelledby="{ident}-title {ident}-desc" '
        f'viewBox="0 0 {WIDTH:.0f} {frame.height:.0f}" width="{WIDTH:.0f}" height="{frame.height:.0f}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(desc)}</desc>',
        f'<rect width="{WIDTH:.0f}" height="{frame.height:.0f}" fill="#f6f8fa"/>',
    ]
    if geometry is not None:
        parts.append(
            f'<path d="{outline_path(geometry, frame)}" fill="#dde7f0" stroke="#0b5cad" '
            'stroke-width="1.5" fill-rule="evenodd" stroke-linejoin="round"/>'
        )
    if point is not None:
        x, y = frame.xy(*point)
        parts.append(
            f'<g class="report-pin"><circle cx="{x:.1f}" cy="{y:.1f}" r="11" fill="none" stroke="#b42318" '
            f'stroke-width="2"/><circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="#b42318" stroke="#ffffff" '
            f'stroke-width="1.5"/></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
