"""Places as pure functions: the sample city's boundary, distances, typed coordinates and
address keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.geo import (
    Boundary,
    BoundaryError,
    degrees_box,
    distance_m,
    normalise_address,
    parse_coordinates,
)
from knowledge.loader import SAMPLE_DIR


@pytest.fixture(scope="module")
def city() -> Boundary:
    return Boundary.from_geojson(SAMPLE_DIR / "boundary.geojson")


# --- boundary -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (37.7829, -122.4074),  # Market St & 5th St
        (37.7793, -122.4193),  # City Hall
        (37.7694, -122.4862),  # Golden Gate Park
    ],
)
def test_places_in_the_city_are_inside(city: Boundary, lat: float, lon: float) -> None:
    assert city.contains(lat, lon)


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (37.75, -122.55),  # the Pacific
        (37.80, -122.27),  # Oakland
        (37.6879, -122.4702),  # Daly City
        (37.8100, -122.3680),  # Yerba Buena Island: inside the box, left out of the polygon
        (-122.4074, 37.7829),  # lon and lat swapped
    ],
)
def test_places_outside_the_city_are_outside(city: Boundary, lat: float, lon: float) -> None:
    assert not city.contains(lat, lon)


def test_the_box_holds_the_whole_city(city: Boundary) -> None:
    min_lon, min_lat, max_lon, max_lat = city.bounds()
    assert min_lon < -122.5 < -122.36 < max_lon and min_lat < 37.71 < 37.81 < max_lat
    lat, lon = city.centre()
    assert city.contains(lat, lon)
    assert city.name.startswith("Sample City")


def test_a_multipolygon_boundary_covers_each_part(tmp_path: Path) -> None:
    square = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]
    island = [[[x + 5, y] for x, y in square]]
    path = tmp_path / "two.geojson"
    path.write_text(json.dumps({"type": "MultiPolygon", "coordinates": [[square], island]}))
    two = Boundary.from_geojson(path)
    assert two.contains(0.5, 0.5) and two.contains(0.5, 5.5) and not two.contains(0.5, 3.0)
    assert two.name == "two"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json", "cannot read GeoJSON"),
        ('{"type": "Point", "coordinates": [0, 0]}', "no Polygon"),
        ('{"type": "FeatureCollection", "features": []}', "no Polygon"),
        (
            '{"type": "Polygon", "coordinates": [[[0,0],[1,1],[1,0],[0,1],[0,0]]]}',
            "not valid",
        ),
    ],
)
def test_a_bad_boundary_file_is_refused_with_the_reason(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "city.geojson"
    path.write_text(content)
    with pytest.raises(BoundaryError, match=reason) as raised:
        Boundary.from_geojson(path)
    assert str(path) in str(raised.value)


def test_a_missing_boundary_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BoundaryError, match="cannot read"):
        Boundary.from_geojson(tmp_path / "nowhere.geojson")


# --- distance -----------------------------------------------------------------------------


def test_distances() -> None:
    assert distance_m(37.7793, -122.4193, 37.7793, -122.4193) == 0
    # City Hall to Market & 5th: about 1.2 km.
    assert 1100 < distance_m(37.7793, -122.4193, 37.7829, -122.4074) < 1200
    # One thousandth of a degree of latitude is about 111 m anywhere.
    assert distance_m(37.0, -122.0, 37.001, -122.0) == pytest.approx(111.2, abs=0.5)
    assert distance_m(37.7829, -122.4074, 37.7793, -122.4193) == distance_m(
        37.7793, -122.4193, 37.7829, -122.4074
    )


def test_a_degrees_box_contains_the_radius() -> None:
    dlat, dlon = degrees_box(37.78, 50)
    assert distance_m(37.78, -122.41, 37.78 + dlat, -122.41) == pytest.approx(50, abs=0.1)
    assert distance_m(37.78, -122.41, 37.78, -122.41 + dlon) == pytest.approx(50, abs=0.1)


# --- typed coordinates --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "37.7793, -122.4193",
        "37.7793,-122.4193",
        "37.7793 -122.4193",
        "(37.7793, -122.4193)",
        "I'm at 37.779300,-122.419300 right now",
        "geo:37.7793,-122.4193",
        "geo:37.7793,-122.4193;u=35",
        "geo:37.7793,-122.4193?z=19",
        "https://www.google.com/maps/@37.7793,-122.4193,17z",
        "https://www.google.com/maps/place/City+Hall/@37.7793,-122.4193,17z/data=!3m1",
        "https://maps.google.com/?q=37.7793,-122.4193",
        "https://www.google.com/maps/search/?api=1&query=37.7793%2C-122.4193",
        "https://maps.apple.com/?ll=37.7793,-122.4193",
        "https://www.openstreetmap.org/?mlat=37.7793&mlon=-122.4193#map=17/37.7793/-122.4193",
        "https://www.openstreetmap.org/#map=17/37.7793/-122.4193",
        "37.7793° N, 122.4193° W",
    ],
)
def test_coordinates_are_read(text: str) -> None:
    assert parse_coordinates(text) == (37.7793, -122.4193)


def test_southern_and_eastern_hemispheres() -> None:
    assert parse_coordinates("33.8688° S, 151.2093° E") == (-33.8688, 151.2093)
    assert parse_coordinates("-33.8688, 151.2093") == (-33.8688, 151.2093)


@pytest.mark.parametrize(
    "text",
    [
        "123 Main St",
        "5/12",
        "10234",
        "1/2/2024",
        "status 10234",
        "call 415.555.1234",
        "37.77, -122.41",  # two decimals: could be anything
        "12.5/3.75",
        "91.0000, 10.0000",  # no such latitude
        "https://goo.gl/maps/abc123",
        "",
    ],
)
def test_things_that_are_not_coordinates(text: str) -> None:
    assert parse_coordinates(text) is None


# --- address keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("5th and Market", "Market Street & 5th St"),
        ("5th and Market", "market/5th st"),
        ("5th and Market", "Fifth St at Market"),
        ("5th and Market", "at the corner of 5th & Market"),
        ("5th and Market", "Market St & 5th St, San Francisco, CA 94103"),
        ("5th and Market", "Fifth and Market Streets"),
        ("123 Main St", "123 Main Street, San Francisco, CA 94103"),
        ("123 Main St", "123  MAIN street"),
        ("1 Dr Carlton B Goodlett Pl", "1 Doctor Carlton B Goodlett Place"),
        ("St Francis Wood", "Saint Francis Wood"),
        ("outside the Civic Center library", "Civic Center Library"),
        ("in front of City Hall", "City Hall"),
        ("Café Réveille", "cafe reveille"),
        ("39001 Spruce St", "39001 Spruce Street, San Francisco, CA 94110-1234"),
    ],
)
def test_the_same_place_typed_two_ways_has_one_key(one: str, other: str) -> None:
    assert normalise_address(one) == normalise_address(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("5th and Market", "6th and Market"),
        ("123 Main St", "125 Main St"),
        ("123 Main St", "Main St"),
        ("123 Front St", "123 California St"),  # streets named like the state and filler words
        ("Front St & California St", "Front St"),
        ("Francisco St & Powell", "Powell"),
        ("5th and Market", "5th and Mission"),
        ("39001 Spruce Street", "42001 Spruce St"),  # five-digit house numbers are not zip codes
        ("39001 Spruce Street", "Spruce Street"),
    ],
)
def test_different_places_have_different_keys(one: str, other: str) -> None:
    assert normalise_address(one) != normalise_address(other)


def test_address_keys_are_readable_and_bounded() -> None:
    assert normalise_address("Market Street & 5th St") == "5th & market"
    assert normalise_address("123 California St, San Francisco") == "123 california"
    assert normalise_address("") == ""
    assert len(normalise_address("Market " * 200)) <= 300
