"""Staff hours: what a resident passed to staff is told about when a person will see it."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.settings import ConfigError, load_settings
from bot.staff.hours import parse_hours

ZONE = "America/Los_Angeles"


def at(text: str) -> datetime:
    """A moment given in the city's local time, as the server's clock (UTC) reads it."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(ZONE)).astimezone(UTC)


def test_weekday_hours_are_open_inside_and_closed_outside() -> None:
    hours = parse_hours("Mon-Fri 08:00-17:00", ZONE)
    assert hours.is_open(at("2026-12-02T10:00"))  # a Wednesday morning
    assert not hours.is_open(at("2026-12-02T17:00"))  # closing time is closed
    assert not hours.is_open(at("2026-12-02T07:59"))
    assert not hours.is_open(at("2026-12-05T10:00"))  # Saturday
    assert hours.describe() == "Monday to Friday, 8:00 to 17:00"


def test_the_next_opening_is_said_as_a_resident_reads_it() -> None:
    hours = parse_hours("Mon-Fri 08:00-17:00", ZONE)
    evening = at("2026-12-02T19:30")  # Wednesday evening
    assert hours.when(hours.next_opening(evening), evening) == "tomorrow at 8:00"
    early = at("2026-12-03T06:00")
    assert hours.when(hours.next_opening(early), early) == "today at 8:00"
    friday_night = at("2026-12-04T18:00")
    assert hours.when(hours.next_opening(friday_night), friday_night) == "Monday at 8:00"


def test_round_the_clock_and_wrapping_weeks() -> None:
    assert parse_hours("24/7", ZONE).is_open(at("2026-12-06T03:00"))
    weekend = parse_hours("Sat-Sun 09:00-13:00", ZONE)
    assert weekend.is_open(at("2026-12-06T10:00")) and not weekend.is_open(at("2026-12-07T10:00"))
    wrap = parse_hours("Fri-Mon 09:00-13:00", ZONE)
    assert wrap.days == frozenset({4, 5, 6, 0})


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("weekdays 9-5", "must look like"),
        ("Mon-Fri 17:00-08:00", "after the opening"),
        ("Mon-Fri 08:00-25:00", "HH:MM"),
        ("Mon-Fry 08:00-17:00", "days are written"),
    ],
)
def test_bad_hours_are_refused_with_what_is_wrong(spec: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        parse_hours(spec, ZONE)
    with pytest.raises(ConfigError) as refused:
        load_settings(STAFF_HOURS=spec)
    assert "STAFF_HOURS" in str(refused.value) and said in str(refused.value)


@pytest.mark.parametrize(
    ("values", "said"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1-2-abc"}, "SLACK_SIGNING_SECRET: required"),
        ({"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "s3cretvalue"}, "SLACK_STAFF_CHANNEL"),
        ({"SLACK_SIGNING_SECRET": "s3cretvalue"}, "SLACK_BOT_TOKEN: required"),
        ({"SLACK_BOT_TOKEN": "xoxp-user-token", "SLACK_SIGNING_SECRET": "s3cretvalue"}, "xoxb-"),
        ({"SLACK_APP_TOKEN": "xoxb-wrong", "SLACK_BOT_TOKEN": "xoxb-1-2-abc"}, "xapp-"),
        ({"SLACK_STAFF_CHANNEL": "#staff"}, "channel id"),
        ({"SLACK_ALLOWED_USERS": "U123ABC, jane"}, "user ids"),
        ({"SLACK_API_URL": "slack.example"}, "http"),
    ],
)
def test_slack_settings_are_checked_at_start(values: dict[str, str], said: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(**values)
    message = str(refused.value)
    assert said in message
    assert "xoxp-user-token" not in message and "s3cretvalue" not in message  # secrets never echoed


def test_socket_mode_needs_no_signing_secret() -> None:
    settings = load_settings(
        SLACK_BOT_TOKEN="xoxb-1-2-abc", SLACK_APP_TOKEN="xapp-1-abc", SLACK_STAFF_CHANNEL="C0STAFF"
    )
    assert settings.SLACK_SIGNING_SECRET is None and settings.SLACK_API_URL == "https://slack.com/api/"
