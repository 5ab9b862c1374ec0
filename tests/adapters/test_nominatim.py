"""The Nominatim adapter against a fake Nominatim on 127.0.0.1: what it asks, what it accepts,
how it fails, and how it keeps to the usage policy (identified, spaced, cached)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from adapters.nominatim import (
    DEFAULT_USER_AGENT,
    NominatimGeocoder,
    NominatimPlugin,
    RequestSpacer,
    cross_streets,
    search_forms,
    shared_spacer,
    shorten_label,
)
from bot.geocoding import GeocodingUnavailable, NoGeocoder
from bot.hub import build_hub
from bot.plugin import ADAPTERS_GROUP, adapter_plugins
from bot.services import city_boundary
from bot.settings import ConfigError, load_settings
from knowledge.geo import Boundary, distance_m
from tests.fakes.nominatim import FakeNominatim, nominatim_server  # noqa: F401 (a fixture)

UA = "civic311-tests (ops@example.org)"


class VirtualClock:
    """Time that only moves when told: the spacing is checked by what the spacer asks to
    sleep, never by measuring. With `advance`, a sleep moves the clock on (for look-ups one
    after another); without, it stands still (for look-ups queued at the same moment)."""

    def __init__(self, *, advance: bool = True) -> None:
        self.now = 1000.0
        self.advance = advance
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        if self.advance:
            self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def boundary() -> Boundary:
    return city_boundary(load_settings(_env_file=None))


@pytest.fixture
def fake(nominatim_server: FakeNominatim) -> FakeNominatim:  # noqa: F811 (the imported fixture)
    return nominatim_server


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def geocoder(
    fake: FakeNominatim, boundary: Boundary, clock: VirtualClock
) -> AsyncIterator[NominatimGeocoder]:
    """Spaced on a virtual clock, so tests making several requests do not sleep for real."""
    spacer = RequestSpacer(clock=clock, sleep=clock.sleep)
    geocoder = NominatimGeocoder(fake.url, user_agent=UA, boundary=boundary, timeout_s=2.0, spacer=spacer)
    try:
        yield geocoder
    finally:
        await geocoder.close()


def on_virtual_time(
    fake: FakeNominatim, boundary: Boundary | None, *, timeout_s: float = 2.0, cache_size: int = 512
) -> NominatimGeocoder:
    clock = VirtualClock()
    spacer = RequestSpacer(clock=clock, sleep=clock.sleep)
    return NominatimGeocoder(
        fake.url, user_agent=UA, boundary=boundary, spacer=spacer, timeout_s=timeout_s, cache_size=cache_size
    )


# --- found, and what was asked ------------------------------------------------------------


async def test_an_address_is_found_with_a_short_label(geocoder: NominatimGeocoder) -> None:
    place = await geocoder.geocode("1 Dr Carlton B Goodlett Pl")
    assert place is not None
    assert distance_m(place.lat, place.lon, 37.7793, -122.4193) < 30
    assert place.label == "San Francisco City Hall, 1 Doctor Carlton B Goodlett Place"
    assert "California" not in place.label and "United States" not in place.label


async def test_the_request_identifies_the_app_and_is_bounded_to_the_city(
    fake: FakeNominatim, geocoder: NominatimGeocoder, boundary: Boundary
) -> None:
    await geocoder.geocode("City Hall")
    [seen] = fake.requests
    assert seen.headers["User-Agent"] == UA
    min_lon, min_lat, max_lon, max_lat = boundary.bounds()
    assert seen.query == {
        "q": "City Hall",
        "format": "jsonv2",
        "limit": "1",
        "addressdetails": "1",
        "viewbox": f"{min_lon},{max_lat},{max_lon},{min_lat}",
        "bounded": "1",
    }


async def test_an_empty_user_agent_still_identifies_the_app(fake: FakeNominatim, boundary: Boundary) -> None:
    geocoder = NominatimGeocoder(fake.url, user_agent="  ", boundary=boundary, spacer=RequestSpacer())
    try:
        await geocoder.geocode("City Hall")
    finally:
        await geocoder.close()
    assert fake.requests[0].headers["User-Agent"] == DEFAULT_USER_AGENT


async def test_a_landmark_is_searched_without_the_words_around_it(
    fake: FakeNominatim, geocoder: NominatimGeocoder
) -> None:
    place = await geocoder.geocode("outside the Civic Center library")
    assert place is not None and place.label == "Main Library, 100 Larkin Street"
    assert fake.queries == ["Civic Center library"]


async def test_a_named_area_is_labelled_by_its_name(geocoder: NominatimGeocoder) -> None:
    place = await geocoder.geocode("Civic Center")
    assert place is not None and place.label == "Civic Center"


async def test_a_street_on_its_own_is_found(geocoder: NominatimGeocoder) -> None:
    place = await geocoder.geocode("Market Street")
    assert place is not None and place.label == "Market Street"


# --- not found ----------------------------------------------------------------------------


async def test_nothing_found_is_none(fake: FakeNominatim, geocoder: NominatimGeocoder) -> None:
    assert await geocoder.geocode("Nonexistent Plaza") is None
    assert fake.queries == ["Nonexistent Plaza"]


@pytest.mark.parametrize("text", ["", "   ", "outside the", "x" * 201])
async def test_text_that_is_no_place_name_asks_nothing(
    fake: FakeNominatim, geocoder: NominatimGeocoder, text: str
) -> None:
    assert await geocoder.geocode(text) is None
    assert fake.requests == []


async def test_a_place_in_another_city_is_not_found(fake: FakeNominatim, geocoder: NominatimGeocoder) -> None:
    assert await geocoder.geocode("Oakland City Hall") is None


async def test_a_place_outside_the_city_but_inside_its_box_is_not_found(geocoder: NominatimGeocoder) -> None:
    # The bounded search returns it (it is inside the rectangle); the polygon says no.
    assert await geocoder.geocode("Yerba Buena Island") is None


async def test_a_server_ignoring_the_box_cannot_place_reports_elsewhere(
    fake: FakeNominatim, geocoder: NominatimGeocoder
) -> None:
    fake.honour_bounded = False
    assert await geocoder.geocode("Oakland City Hall") is None
    assert len(fake.requests) == 1


async def test_without_a_boundary_the_search_is_not_bounded(fake: FakeNominatim) -> None:
    geocoder = on_virtual_time(fake, None)
    try:
        place = await geocoder.geocode("Oakland City Hall")
    finally:
        await geocoder.close()
    assert place is not None and place.label.startswith("Oakland City Hall")
    assert "viewbox" not in fake.requests[0].query and "bounded" not in fake.requests[0].query


# --- cross streets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "asked"),
    [
        ("5th and Market", ["5th & Market"]),
        ("Market & 5th", ["Market & 5th"]),
        ("corner of Fifth St and Market", ["Fifth St & Market"]),
        ("market/5th st", ["market & 5th st"]),
    ],
)
async def test_cross_streets_find_the_corner(
    fake: FakeNominatim, geocoder: NominatimGeocoder, typed: str, asked: list[str]
) -> None:
    place = await geocoder.geocode(typed)
    assert place is not None and place.label == "Market St & 5th St"
    assert distance_m(place.lat, place.lon, 37.7829, -122.4074) < 30
    assert fake.queries == asked


async def test_a_whole_street_is_never_taken_for_a_corner(
    fake: FakeNominatim, geocoder: NominatimGeocoder
) -> None:
    # "6th & Market" matches 6th Street (in South of Market): its point is the middle of
    # the street, not the corner. The text as typed is tried next, then nothing is found.
    assert await geocoder.geocode("6th and Market") is None
    assert fake.queries == ["6th & Market", "6th and Market"]


@pytest.mark.parametrize(
    ("text", "streets"),
    [
        ("5th and Market", ("5th", "Market")),
        ("Market St & 5th St", ("Market St", "5th St")),
        ("Fifth St at Market", ("Fifth St", "Market")),
        ("mission/24th", ("mission", "24th")),
        ("Van Ness Ave @ Market St", ("Van Ness Ave", "Market St")),
        ("123 Main St and 4th", None),  # a house number: an address, not a corner
        ("1 Dr Carlton B Goodlett Pl", None),
        ("Civic Center library", None),
        ("between 5th and 6th and Mission", None),
        ("the big old library building and the park", None),
    ],
)
def test_cross_streets_are_recognised(text: str, streets: tuple[str, str] | None) -> None:
    assert cross_streets(text) == streets


def test_search_forms() -> None:
    assert search_forms("  near   the City Hall. ") == ["City Hall"]
    assert search_forms("at the corner of 5th and Market") == ["5th & Market", "5th and Market"]
    assert search_forms("Market & 5th") == ["Market & 5th"]


# --- the service failing ------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["500", "429", "bad_json", "not_a_list", "no_position"])
async def test_a_failing_service_is_unavailable_not_nothing_found(
    fake: FakeNominatim, geocoder: NominatimGeocoder, failure: str
) -> None:
    fake.fail = failure  # type: ignore[assignment]
    with pytest.raises(GeocodingUnavailable):
        await geocoder.geocode("City Hall")


async def test_a_slow_service_is_given_up_on_after_the_timeout(
    fake: FakeNominatim, boundary: Boundary
) -> None:
    # The fake holds its (valid) answer for a minute: getting the exception, not a place,
    # shows the timeout was honoured.
    fake.fail = "slow"
    geocoder = on_virtual_time(fake, boundary, timeout_s=0.2)
    try:
        with pytest.raises(GeocodingUnavailable, match="did not answer"):
            await geocoder.geocode("City Hall")
    finally:
        await geocoder.close()
    assert len(fake.requests) == 1


async def test_an_unreachable_service_is_unavailable(boundary: Boundary) -> None:
    server = await FakeNominatim().start()
    url = server.url
    await server.close()
    geocoder = NominatimGeocoder(url, user_agent=UA, boundary=boundary, spacer=RequestSpacer())
    try:
        with pytest.raises(GeocodingUnavailable, match="could not be reached"):
            await geocoder.geocode("City Hall")
    finally:
        await geocoder.close()


async def test_failures_are_not_cached(fake: FakeNominatim, geocoder: NominatimGeocoder) -> None:
    fake.fail = "500"
    with pytest.raises(GeocodingUnavailable):
        await geocoder.geocode("City Hall")
    fake.fail = None
    assert await geocoder.geocode("City Hall") is not None
    assert len(fake.requests) == 2


# --- cache, connection reuse --------------------------------------------------------------


async def test_a_repeated_query_is_answered_from_the_cache(
    fake: FakeNominatim, geocoder: NominatimGeocoder
) -> None:
    first = await geocoder.geocode("City Hall")
    assert await geocoder.geocode("city   HALL") == first
    assert await geocoder.geocode("Nonexistent Plaza") is None
    assert await geocoder.geocode("Nonexistent Plaza") is None
    assert fake.queries == ["City Hall", "Nonexistent Plaza"]


async def test_the_cache_is_bounded(fake: FakeNominatim, boundary: Boundary) -> None:
    geocoder = on_virtual_time(fake, boundary, cache_size=2)
    try:
        for text in ["City Hall", "Civic Center", "Market Street", "City Hall", "Market Street"]:
            await geocoder.geocode(text)
    finally:
        await geocoder.close()
    # City Hall was the least recently used when Market Street came in, so it was asked again.
    assert fake.queries == ["City Hall", "Civic Center", "Market Street", "City Hall"]


async def test_one_connection_serves_many_look_ups(fake: FakeNominatim, geocoder: NominatimGeocoder) -> None:
    for text in ["City Hall", "Civic Center", "Market Street"]:
        await geocoder.geocode(text)
    assert len({str(r.client) for r in fake.requests}) == 1


async def test_a_closed_geocoder_opens_a_new_connection_when_used_again(
    fake: FakeNominatim, geocoder: NominatimGeocoder
) -> None:
    await geocoder.geocode("City Hall")
    await geocoder.close()
    await geocoder.close()  # twice is harmless
    assert await geocoder.geocode("Civic Center") is not None


# --- at most one request a second ---------------------------------------------------------


async def test_look_ups_one_after_another_are_spaced(fake: FakeNominatim, boundary: Boundary) -> None:
    clock = VirtualClock()
    spacer = RequestSpacer(clock=clock, sleep=clock.sleep)
    geocoder = NominatimGeocoder(fake.url, user_agent=UA, boundary=boundary, spacer=spacer)
    try:
        for text in ["City Hall", "Civic Center", "Market Street"]:
            await geocoder.geocode(text)
        clock.now += 5  # a quiet spell: the next one goes at once
        await geocoder.geocode("Main Library")
    finally:
        await geocoder.close()
    assert clock.sleeps == [1.0, 1.0]
    assert fake.queries == ["City Hall", "Civic Center", "Market Street", "Main Library"]


async def test_simultaneous_look_ups_queue_one_second_apart(fake: FakeNominatim, boundary: Boundary) -> None:
    clock = VirtualClock(advance=False)
    spacer = RequestSpacer(clock=clock, sleep=clock.sleep)
    geocoder = NominatimGeocoder(fake.url, user_agent=UA, boundary=boundary, spacer=spacer)
    try:
        await asyncio.gather(*(geocoder.geocode(t) for t in ["City Hall", "Civic Center", "Market Street"]))
    finally:
        await geocoder.close()
    assert clock.sleeps == [1.0, 2.0]
    assert sorted(fake.queries) == ["City Hall", "Civic Center", "Market Street"]


async def test_cross_streets_second_form_waits_its_turn(
    fake: FakeNominatim, geocoder: NominatimGeocoder, clock: VirtualClock
) -> None:
    await geocoder.geocode("6th and Market")
    assert clock.sleeps == [1.0]
    assert len(fake.requests) == 2


async def test_a_long_queue_gives_up_at_once_without_asking(fake: FakeNominatim, boundary: Boundary) -> None:
    clock = VirtualClock(advance=False)
    spacer = RequestSpacer(clock=clock, sleep=clock.sleep)
    geocoder = NominatimGeocoder(fake.url, user_agent=UA, boundary=boundary, timeout_s=2.0, spacer=spacer)
    try:
        results = await asyncio.gather(
            *(geocoder.geocode(t) for t in ["City Hall", "Civic Center", "Market Street", "Main Library"]),
            return_exceptions=True,
        )
    finally:
        await geocoder.close()
    # Slots at +0, +1, +2 s are within the 2 s a resident may wait; +3 s is not.
    assert [type(r).__name__ for r in results] == ["Place", "Place", "Place", "GeocodingUnavailable"]
    assert len(fake.requests) == 3


# --- plugged in through configuration -----------------------------------------------------


def test_the_plugin_is_registered() -> None:
    assert "nominatim" in {ep.name for ep in entry_points(group=ADAPTERS_GROUP)}
    assert any(isinstance(p, NominatimPlugin) for p in adapter_plugins())


async def test_without_geocoder_url_addresses_stay_text(tmp_path: Path) -> None:
    settings = load_settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 't.db'}", _env_file=None)
    hub = build_hub(settings)
    try:
        assert isinstance(hub.services.geocoder, NoGeocoder)
        assert not any(isinstance(p, NominatimPlugin) for p in hub.plugins)
    finally:
        await hub.close()


async def test_with_geocoder_url_the_hub_geocodes_through_it(fake: FakeNominatim, tmp_path: Path) -> None:
    settings = load_settings(
        GEOCODER_URL=fake.url + "/",
        GEOCODER_USER_AGENT=UA,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 't.db'}",
        _env_file=None,
    )
    hub = build_hub(settings)
    try:
        geocoder = hub.services.geocoder
        assert isinstance(geocoder, NominatimGeocoder)
        assert geocoder.base_url == fake.url and geocoder.boundary is hub.services.boundary
        place = await geocoder.geocode("City Hall")
    finally:
        await hub.close()
    assert place is not None and place.label.startswith("San Francisco City Hall")
    assert fake.requests[0].headers["User-Agent"] == UA
    assert fake.requests[0].query["bounded"] == "1"


@pytest.mark.parametrize("url", ["nominatim.internal", "ftp://nominatim.internal", "http://", "/search"])
def test_settings_refuse_a_bad_geocoder_url(url: str) -> None:
    with pytest.raises(ConfigError, match="GEOCODER_URL"):
        load_settings(GEOCODER_URL=url, _env_file=None)


def test_a_blank_geocoder_url_means_off() -> None:
    assert load_settings(GEOCODER_URL="  ", _env_file=None).GEOCODER_URL is None


@pytest.mark.parametrize(
    ("result", "label"),
    [
        ({"name": "", "address": {"house_number": "123", "road": "Main Street"}}, "123 Main Street"),
        ({"name": "Dolores Park", "address": {"road": "Dolores Street"}}, "Dolores Park"),
        (
            {"name": "", "address": None, "display_name": "Hayes Valley, San Francisco, California"},
            "Hayes Valley, San Francisco",
        ),
        ({"display_name": ""}, ""),
        ({"name": "x" * 500}, "x" * 120),
    ],
)
def test_labels_are_short(result: dict[str, object], label: str) -> None:
    assert shorten_label(result) == label


def test_geocoders_of_one_server_share_one_spacing_per_process(fake: FakeNominatim) -> None:
    one = NominatimGeocoder(fake.url, user_agent=UA, boundary=None)
    two = NominatimGeocoder(fake.url + "/", user_agent=UA, boundary=None)
    other = NominatimGeocoder("http://nominatim.invalid", user_agent=UA, boundary=None)
    assert one.spacer is two.spacer is shared_spacer(fake.url)
    assert other.spacer is not one.spacer
    assert one.spacer.interval_s == 1.0
