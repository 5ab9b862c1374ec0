"""A real `civic311 serve` subprocess for benchmarks that measure it from outside."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Taken out of the environment: a benchmark's server talks to no platform and links to itself.
NOT_INHERITED = ("TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "PUBLIC_URL", "PORT", "HOST")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(database_url: str, folder: Path, port: int, **settings: str) -> subprocess.Popen[bytes]:
    """`serve` on 127.0.0.1:`port`, photos and its log in `folder`, this checkout's code first
    on the path; `settings` are more environment variables (limits a load generator needs)."""
    env = {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}
    env.update(
        DATABASE_URL=database_url,
        MEDIA_DIR=str(folder / "media"),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        PYTHONPATH=os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
        **settings,
    )
    with (folder / f"serve-{port}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
