"""The geocoder interface in the core: offline by default, chosen from plugins, closed with the hub."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.geocoding import Geocoder, NoGeocoder, Place
from bot.hub import Hub, build_hub
from bot.plugin import AdapterPlugin
from bot.settings import Settings, load_settings


class FixedGeocoder:
    """A geocoder that knows one place: enough to see which plugin's geocoder the hub uses."""

    def __init__(self, label: str) -> None:
        self.place = Place(37.7793, -122.4193, label)
        self.closed = 0

    async def geocode(self, query: str) -> Place | None:
        return self.place if query == self.place.label else None

    async def close(self) -> None:
        self.closed += 1


class GeocodingPlugin(AdapterPlugin):
    def __init__(self, geocoder: FixedGeocoder | None, *, on: bool = True) -> None:
        self._geocoder = geocoder
        self._on = on

    def enabled(self, hub: Hub) -> bool:
        return self._on

    def geocoder(self, hub: Hub) -> Geocoder | None:
        return self._geocoder


@pytest.fixture
def plain_settings(tmp_path: Path) -> Settings:
    return load_settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 't.db'}", _env_file=None)


async def test_no_geocoder_finds_nothing_and_sends_nothing() -> None:
    geocoder = NoGeocoder()
    assert await geocoder.geocode("1 Dr Carlton B Goodlett Pl") is None
    await geocoder.close()
    assert isinstance(geocoder, Geocoder)


def test_a_place_is_a_value() -> None:
    place = Place(37.7829, -122.4074, "Market St & 5th St")
    assert place == Place(37.7829, -122.4074, "Market St & 5th St")
    with pytest.raises(dataclasses.FrozenInstanceError):
        place.label = "elsewhere"  # type: ignore[misc]


async def test_without_a_geocoding_plugin_the_hub_stays_offline(plain_settings: Settings) -> None:
    hub = build_hub(plain_settings, plugins=[AdapterPlugin()])
    try:
        assert isinstance(hub.services.geocoder, NoGeocoder)
    finally:
        await hub.close()


async def test_the_first_enabled_plugin_with_a_geocoder_is_used_and_closed(plain_settings: Settings) -> None:
    disabled, first, second = FixedGeocoder("off"), FixedGeocoder("City Hall"), FixedGeocoder("other")
    plugins = [
        GeocodingPlugin(disabled, on=False),
        GeocodingPlugin(None),
        GeocodingPlugin(first),
        GeocodingPlugin(second),
    ]
    hub = build_hub(plain_settings, plugins=plugins)
    assert hub.services.geocoder is first
    assert await hub.services.geocoder.geocode("City Hall") == first.place
    await hub.close()
    assert (disabled.closed, first.closed, second.closed) == (0, 1, 0)


async def test_the_database_is_released_even_if_the_geocoder_fails_to_close(plain_settings: Settings) -> None:
    class Failing(FixedGeocoder):
        async def close(self) -> None:
            raise RuntimeError("connector already gone")

    hub = build_hub(plain_settings, plugins=[GeocodingPlugin(Failing("x"))])
    await hub.db.ping()
    assert hub.db.engine.sync_engine.pool.checkedin() == 1
    with pytest.raises(RuntimeError, match="connector already gone"):
        await hub.close()
    assert hub.db.engine.sync_engine.pool.checkedin() == 0
