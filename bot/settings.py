"""One settings object, read from the environment and `.env`, validated at start.

A wrong value must stop start-up with one line naming the variable, because
the person reading it is usually an operator looking at a deploy log.
"""

from __future__ import annotations

import re
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from bot.staff.hours import StaffHours

_BOT_TOKEN = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{20,100}")
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_SLACK_TOKEN = re.compile(r"xoxb-[A-Za-z0-9-]{4,250}")
_SLACK_APP_TOKEN = re.compile(r"xapp-[A-Za-z0-9-]{4,250}")
_SLACK_CHANNEL = re.compile(r"[CG][A-Z0-9]{2,20}")
SECRET_SETTINGS = frozenset(
    {
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_WEBHOOK_SECRET",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
    }
)


class ConfigError(Exception):
    """A configuration value is wrong; the message is meant for the operator."""


def normalise_database_url(url: str) -> str:
    """Accept the URLs hosting platforms hand out and pick the async driver.

    Heroku-style platforms give `postgres://...`; SQLAlchemy wants an explicit
    async dialect, so plain forms are rewritten rather than rejected.
    """
    url = url.strip()
    for plain in ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return url
    raise ValueError("must be a sqlite+aiosqlite:/// or postgresql+asyncpg:// (or postgres://) URL")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    DATABASE_URL: str = "sqlite+aiosqlite:///./civic311.db"
    PUBLIC_URL: str = "http://127.0.0.1:8080"
    MEDIA_DIR: Path = Path("./media")
    CITY_NAME: str = "Sample City"

    TELEGRAM_BOT_TOKEN: str | None = None
    TELEGRAM_WEBHOOK_SECRET: str | None = None
    TELEGRAM_MODE: Literal["webhook", "polling"] | None = None
    TELEGRAM_API_BASE_URL: str = "https://api.telegram.org/bot"
    TELEGRAM_FILE_BASE_URL: str = "https://api.telegram.org/file/bot"

    SLACK_BOT_TOKEN: str | None = None
    SLACK_SIGNING_SECRET: str | None = None
    SLACK_APP_TOKEN: str | None = None
    SLACK_API_URL: str = "https://slack.com/api/"
    SLACK_STAFF_CHANNEL: str | None = None
    SLACK_ALLOWED_USERS: str | None = None  # comma-separated Slack user ids; unset = the workspace's members
    # When staff are at work, in CITY_TIME_ZONE: what a resident passed to staff is told.
    STAFF_HOURS: str = "Mon-Fri 08:00-17:00"
    # How a staff member is named to residents: "full" (Jane Doe), "first" (Jane) or "none".
    STAFF_NAMES_TO_RESIDENTS: Literal["full", "first", "none"] = "first"
    HANDOFF_HOURS: int = Field(48, ge=1, le=24 * 30)  # an unanswered, unheld handoff ends after this

    OPEN311_API_KEYS: str | None = None

    # Places and photos for reports.
    GEOCODER_URL: str | None = None  # a Nominatim-compatible search API; unset = addresses kept as text
    GEOCODER_USER_AGENT: str = "civic311 (self-hosted 311 assistant)"
    CITY_BOUNDARY: Path | None = None  # GeoJSON polygon; unset = the bundled sample city's
    CITY_TIME_ZONE: str = "America/Los_Angeles"
    MAX_PHOTO_MB: float = Field(10, gt=0, le=100)
    MAX_PHOTOS_PER_REPORT: int = Field(3, ge=0, le=10)
    DUPLICATE_RADIUS_M: float = Field(50, ge=0, le=5000)

    # Operational knobs; defaults suit a small city on one machine.
    CONVERSATION_TIMEOUT_MINUTES: int = Field(30, ge=1, le=60 * 24 * 7)
    CHAT_RATE_LIMIT_PER_MINUTE: int = Field(30, ge=1, le=10_000)
    WEBCHAT_SESSION_DAYS: int = Field(90, ge=1, le=3650)  # a web chat unused this long starts anew
    MAX_MESSAGE_CHARS: int = Field(2000, ge=100, le=100_000)
    OUTBOX_MAX_ATTEMPTS: int = Field(8, ge=1, le=100)
    OUTBOX_KEEP_SENT_DAYS: int = Field(30, ge=1, le=3650)  # sent messages are deleted after this
    # How often `serve` removes unused photos and unfinished uploads from MEDIA_DIR (0: never;
    # then run `civic311 media sweep` from cron on the machine that holds MEDIA_DIR).
    MEDIA_SWEEP_MINUTES: int = Field(60, ge=0, le=7 * 24 * 60)
    DELIVER_OUTBOX_IN_PROCESS: bool = True
    SQLITE_BUSY_TIMEOUT_S: float = Field(30, gt=0, le=600)  # a writer's wait for the lock, then 503
    # Reverse proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated):
    # behind one, every resident would otherwise share the proxy's per-address limits.
    TRUSTED_PROXIES: str | None = None
    # Slow or stalled clients: a request's headers must arrive within this many seconds of the
    # connection opening (or of its last answer), and its body within this many of its headers.
    HTTP_HEADER_TIMEOUT_S: float = Field(20, gt=0, le=3600)
    HTTP_BODY_TIMEOUT_S: float = Field(120, gt=0, le=3600)  # a 10 MB photo at ~0.7 Mbit/s
    HTTP_MAX_CONNECTIONS_PER_ADDRESS: int = Field(128, ge=1, le=100_000)

    @property
    def webchat_session_idle(self) -> timedelta:
        return timedelta(days=self.WEBCHAT_SESSION_DAYS)

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("PUBLIC_URL")
    @classmethod
    def _public_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL, e.g. https://311.example.gov")
        return value.strip().rstrip("/")

    @field_validator("GEOCODER_URL")
    @classmethod
    def _geocoder_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL of a Nominatim-compatible search API")
        return value.strip().rstrip("/")

    @field_validator("CITY_TIME_ZONE")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone name, e.g. America/Los_Angeles") from None
        return value

    @field_validator("CITY_BOUNDARY")
    @classmethod
    def _boundary(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("must be the path of a GeoJSON file with the city's boundary polygon")
        return value

    @field_validator("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET")
    @classmethod
    def _telegram_secrets(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if info.field_name == "TELEGRAM_BOT_TOKEN" and not _BOT_TOKEN.fullmatch(value):
            raise ValueError("is not a bot token as @BotFather gives it (digits, a colon, then letters)")
        if info.field_name == "TELEGRAM_WEBHOOK_SECRET" and not _WEBHOOK_SECRET.fullmatch(value):
            raise ValueError("must be 1-256 characters of letters, digits, '_' or '-' (Telegram's rule)")
        return value

    @field_validator("TELEGRAM_API_BASE_URL", "TELEGRAM_FILE_BASE_URL")
    @classmethod
    def _telegram_urls(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL, e.g. https://api.telegram.org/bot")
        return value.strip()

    @model_validator(mode="after")
    def _telegram(self) -> Settings:
        if self.TELEGRAM_BOT_TOKEN and self.telegram_mode == "webhook" and not self.TELEGRAM_WEBHOOK_SECRET:
            raise ValueError("TELEGRAM_WEBHOOK_SECRET: required with TELEGRAM_BOT_TOKEN in webhook mode")
        if self.SLACK_BOT_TOKEN:
            if not self.SLACK_APP_TOKEN and not self.SLACK_SIGNING_SECRET:
                raise ValueError(
                    "SLACK_SIGNING_SECRET: required with SLACK_BOT_TOKEN "
                    "(or set SLACK_APP_TOKEN for Socket Mode)"
                )
            if not self.SLACK_STAFF_CHANNEL:
                raise ValueError(
                    "SLACK_STAFF_CHANNEL: required with SLACK_BOT_TOKEN (the channel id where staff see "
                    "handoffs, and reports of departments without their own channel)"
                )
        elif self.SLACK_SIGNING_SECRET or self.SLACK_APP_TOKEN:
            raise ValueError("SLACK_BOT_TOKEN: required with SLACK_SIGNING_SECRET or SLACK_APP_TOKEN")
        return self

    @field_validator("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_STAFF_CHANNEL")
    @classmethod
    def _slack_values(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if info.field_name == "SLACK_BOT_TOKEN" and not _SLACK_TOKEN.fullmatch(value):
            raise ValueError("is not a bot token as Slack gives it (it starts with xoxb-)")
        if info.field_name == "SLACK_APP_TOKEN" and not _SLACK_APP_TOKEN.fullmatch(value):
            raise ValueError("is not an app-level token as Slack gives it (it starts with xapp-)")
        if info.field_name == "SLACK_SIGNING_SECRET" and not re.fullmatch(r"[A-Za-z0-9_-]{8,128}", value):
            raise ValueError("is not a signing secret as Slack gives it (Basic Information, App Credentials)")
        if info.field_name == "SLACK_STAFF_CHANNEL" and not _SLACK_CHANNEL.fullmatch(value):
            raise ValueError("must be a Slack channel id such as C0123ABCD (channel details, at the bottom)")
        return value

    @field_validator("SLACK_API_URL")
    @classmethod
    def _slack_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL, e.g. https://slack.com/api/")
        return value.strip().rstrip("/") + "/"

    @field_validator("SLACK_ALLOWED_USERS")
    @classmethod
    def _slack_users(cls, value: str | None) -> str | None:
        for part in (value or "").split(","):
            if part.strip() and not re.fullmatch(r"[UW][A-Z0-9]{2,20}", part.strip()):
                raise ValueError("must be Slack user ids (U0123ABCD), separated by commas")
        return value.strip() if value and value.strip() else None

    @field_validator("STAFF_HOURS")
    @classmethod
    def _staff_hours(cls, value: str) -> str:
        from bot.staff.hours import parse_hours

        parse_hours(value, "UTC")
        return value.strip()

    @property
    def slack_allowed_users(self) -> frozenset[str]:
        return frozenset(p.strip() for p in (self.SLACK_ALLOWED_USERS or "").split(",") if p.strip())

    @property
    def staff_hours(self) -> StaffHours:
        from bot.staff.hours import parse_hours

        return parse_hours(self.STAFF_HOURS, self.CITY_TIME_ZONE)

    @property
    def telegram_mode(self) -> str:
        if self.TELEGRAM_MODE:
            return self.TELEGRAM_MODE
        return "webhook" if self.PUBLIC_URL.startswith("https://") else "polling"

    @property
    def time_zone(self) -> ZoneInfo:
        return ZoneInfo(self.CITY_TIME_ZONE)

    @property
    def max_photo_bytes(self) -> int:
        return int(self.MAX_PHOTO_MB * 1024 * 1024)

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite")

    @property
    def trusted_proxies(self) -> tuple[IPv4Network | IPv6Network, ...]:
        raw = self.TRUSTED_PROXIES or ""
        return tuple(ip_network(p.strip(), strict=False) for p in raw.split(",") if p.strip())

    @field_validator("TRUSTED_PROXIES")
    @classmethod
    def _trusted_proxies(cls, value: str | None) -> str | None:
        for part in (value or "").split(","):
            if part.strip():
                try:
                    ip_network(part.strip(), strict=False)
                except ValueError:
                    raise ValueError(
                        f"'{part.strip()}' is not an IP address or network (e.g. 10.0.0.0/8)"
                    ) from None
        return value

    @property
    def open311_keys(self) -> frozenset[str]:
        raw = self.OPEN311_API_KEYS or ""
        return frozenset(k.strip() for k in raw.split(",") if k.strip())


def load_settings(**overrides: object) -> Settings:
    """Build the settings or raise ConfigError with one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "configuration"
            msg = str(err["msg"]).removeprefix("Value error, ")
            value = err.get("input")
            shown = f" (got {value!r})" if isinstance(value, str | int) and name != "configuration" else ""
            if name in SECRET_SETTINGS:
                shown = ""  # a token in a deploy log is a token leaked
            lines.append(f"{name}: {msg}{shown}" if name != "configuration" else msg)
        raise ConfigError("; ".join(lines)) from None
