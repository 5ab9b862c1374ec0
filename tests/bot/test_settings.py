"""Configuration: defaults that run with nothing set, and one clear line per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import ConfigError, load_settings


def test_defaults_need_no_configuration() -> None:
    s = load_settings(_env_file=None)
    assert s.DATABASE_URL == "sqlite+aiosqlite:///./civic311.db"
    assert s.telegram_mode == "polling" and s.open311_keys == frozenset()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db.example:5432/civic", "postgresql+asyncpg://u:p@db.example:5432/civic"),
        ("postgresql://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_platform_database_urls_are_accepted(given: str, expected: str) -> None:
    assert expected == load_settings(DATABASE_URL=given, _env_file=None).DATABASE_URL


TOKEN = "123456:AAE" + "x" * 32


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"PUBLIC_URL": "311.example.gov"}, "PUBLIC_URL"),
        ({"CONVERSATION_TIMEOUT_MINUTES": "soon"}, "CONVERSATION_TIMEOUT_MINUTES"),
        ({"TELEGRAM_BOT_TOKEN": TOKEN, "PUBLIC_URL": "https://a.example"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": "no spaces"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"TELEGRAM_API_BASE_URL": "api.telegram.org"}, "TELEGRAM_API_BASE_URL"),
        ({"SLACK_BOT_TOKEN": "xoxb-1-2-abc"}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_BOT_TOKEN": "xoxb"}, "SLACK_BOT_TOKEN"),
    ],
)
def test_a_wrong_value_names_the_variable(values: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(**values, _env_file=None)
    assert names in str(caught.value) and "\n" not in str(caught.value)


def test_a_wrong_token_is_refused_without_being_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(TELEGRAM_BOT_TOKEN="123456 AAEsecretsecretsecretsecret", _env_file=None)
    assert "TELEGRAM_BOT_TOKEN" in str(caught.value) and "secret" not in str(caught.value)


def test_telegram_mode_follows_the_public_url_unless_set() -> None:
    base = {"TELEGRAM_BOT_TOKEN": TOKEN, "_env_file": None}
    assert load_settings(**base).telegram_mode == "polling"
    https = load_settings(**base, PUBLIC_URL="https://311.example.gov", TELEGRAM_WEBHOOK_SECRET="s3cret")
    assert https.telegram_mode == "webhook"
    assert load_settings(
        **base, PUBLIC_URL="https://311.example.gov", TELEGRAM_MODE="polling"
    ).telegram_mode == ("polling")


def test_env_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("CITY_NAME=Springfield\nOPEN311_API_KEYS=a, b\n")
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.CITY_NAME == "Springfield" and s.open311_keys == {"a", "b"}


def test_environment_wins_over_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("CITY_NAME=Springfield\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CITY_NAME", "Shelbyville")
    assert load_settings().CITY_NAME == "Shelbyville"
