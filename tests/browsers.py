"""Headless Chromium for page tests: Debian's package, driven by Playwright (a browser
download does not work offline). Without it the page tests skip, unless CI requires them."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> str:
    """Call at a page-test module's top: skips the module when Chromium is missing."""
    if CHROMIUM is None:
        if os.environ.get("CIVIC311_REQUIRE_BROWSER"):
            raise RuntimeError("CIVIC311_REQUIRE_BROWSER is set but Debian's chromium is not installed")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
    return CHROMIUM
