"""What dialogs and adapters may use besides the turn's session: settings and shared
read-only resources, built once per process."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.content.kb_store import KnowledgeCache
from bot.geocoding import Geocoder, NoGeocoder
from bot.media import MediaStore
from bot.settings import Settings
from knowledge.geo import Boundary
from knowledge.loader import SAMPLE_DIR

BOUNDARY_FILE = "boundary.geojson"


def city_boundary(settings: Settings) -> Boundary:
    return Boundary.from_geojson(settings.CITY_BOUNDARY or SAMPLE_DIR / BOUNDARY_FILE)


@dataclass(slots=True)
class Services:
    settings: Settings
    knowledge: KnowledgeCache = field(default_factory=KnowledgeCache)
    boundary: Boundary | None = None
    geocoder: Geocoder = field(default_factory=NoGeocoder)
    media: MediaStore | None = None
    # A staff desk (Slack) is configured: reports, changes and handoffs are sent to staff,
    # and a resident may be passed to a person. Set when the hub is built.
    staff_desk: bool = False

    def __post_init__(self) -> None:
        if self.boundary is None:
            self.boundary = city_boundary(self.settings)
        if self.media is None:
            self.media = MediaStore(
                self.settings.MEDIA_DIR,
                max_bytes=self.settings.max_photo_bytes,
                public_url=self.settings.PUBLIC_URL,
            )
