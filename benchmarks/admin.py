"""Benchmark: the admin pages, in-process on `serve`'s real application (aiohttp's test
server and client over 127.0.0.1).

Measures, on the sample city (SQLite):
- argon2id: hashing a password and checking one (the cost every sign-in pays, in a thread);
- a sign-in (the whole POST);
- the knowledge-base list (every entry), a search, and the entry editor: median and slowest;
- a saved edit (the request; the regression set then runs in the background), and the time
  from the save until the bot answers with the new text (the process rebuilds its index
  from the database: what "an edit reaches the bot on the next message" costs);
- the regression set asked again, with N questions;
- the unanswered inbox with N open questions (grouped by similar phrasing);
- the process's peak RSS.

The first start of a database prepares the sample city (a minute or two), not measured;
`--sqlite-copy FILE` starts from a copy of a prepared database instead. `--small` is CI's
size. Not a test: it asserts nothing, it prints figures (and writes benchmarks/results/admin.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from bot.admin import accounts, regression
from bot.admin.web.changes import RERUNS
from bot.ask import Asker
from bot.content import unanswered
from bot.hub import build_hub
from bot.settings import load_settings
from bot.timeutil import utcnow
from bot.web.server import ADMIN_APP, create_app

PASSWORD = "benchmark password 1"
RESULTS = Path(__file__).resolve().parent / "results"


async def timed(fn: Callable[[], Awaitable[Any]], runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def csrf_of(html: str) -> str:
    marker = 'name="csrf" value="'
    at = html.index(marker) + len(marker)
    return html[at : html.index('"', at)]


async def run(folder: Path, *, questions: int, unanswered_n: int, runs: int) -> dict[str, Any]:
    settings = load_settings(
        DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'admin.db'}", MEDIA_DIR=folder / "media", _env_file=None
    )
    from bot.bootstrap import prepare

    hub = build_hub(settings)
    await prepare(hub.db, auto_upgrade=True, knowledge=hub.services.knowledge)
    out: dict[str, Any] = {}
    out["argon2_hash"] = await timed(lambda: accounts.hash_password(PASSWORD), runs)
    stored = await accounts.hash_password(PASSWORD)
    out["argon2_check"] = await timed(lambda: accounts.password_matches(stored, PASSWORD), runs)
    async with hub.db.transaction() as session:
        await accounts.add(session, "bench@city.example", "admin", stored, utcnow())
        now = utcnow()
        for n in range(unanswered_n):
            await unanswered.record(
                session, f"question {n % 97} about topic {n} please", channel="web", now=now, guesses=[]
            )
    asker = Asker(hub)
    await asker.ask("When is 311 open?")  # the index is built once before anything is measured

    app = create_app(hub, deliver_outbox=False, sweep_media=False)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:

            async def get(path: str) -> str:
                async with http.get(base + path) as r:
                    assert r.status == 200, (path, r.status)
                    return await r.text()

            async def sign_in() -> None:
                token = csrf_of(await get("/admin/login"))
                form = {"email": "bench@city.example", "password": PASSWORD, "csrf": token}
                async with http.post(base + "/admin/login", data=form) as r:
                    assert r.status == 200

            out["sign_in"] = await timed(sign_in, runs)
            out["kb_list"] = await timed(lambda: get("/admin/kb"), runs)
            out["kb_search"] = await timed(lambda: get("/admin/kb?q=trash pickup"), runs)
            out["entry_editor"] = await timed(lambda: get("/admin/kb/311-hours"), runs)

            async with hub.db.transaction() as session:
                for n in range(questions):
                    await regression.add(
                        session, f"benchmark question {n} about trash", "", actor="bench", now=now
                    )
            out["regression_rerun"] = {
                "questions": questions,
                **await timed(lambda: regression.rerun(hub), 1),
            }

            answers = ["311 is open from 7 to 7.", "311 is open **24 hours a day**."]
            reruns = app[ADMIN_APP][RERUNS]

            async def quiet() -> None:
                while reruns.busy:  # noqa: ASYNC110 - a benchmark polls what it measures
                    await asyncio.sleep(0.05)

            async def save() -> None:
                html = await get("/admin/kb/311-hours")
                form = {
                    "csrf": csrf_of(html),
                    "question": "When is 311 open?",
                    "answer": answers[0],
                    "active": "on",
                    "action": "save",
                }
                async with http.post(base + "/admin/kb/311-hours", data=form) as r:
                    assert r.status == 200

            saves, reaches = [], []
            for _ in range(3):
                await quiet()
                start = time.perf_counter()
                await save()
                saves.append((time.perf_counter() - start) * 1000)
                said = answers[0].replace("**", "")
                while said not in (await asker.ask("When is 311 open?"))["text"]:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                reaches.append((time.perf_counter() - start) * 1000)
                answers.reverse()
            out["save_edit"] = {
                "median_ms": round(statistics.median(saves), 1),
                "max_ms": round(max(saves), 1),
            }
            out["edit_reaches_the_bot"] = {
                "median_ms": round(statistics.median(reaches), 1),
                "max_ms": round(max(reaches), 1),
            }
            await quiet()
            out["inbox"] = {"open_questions": unanswered_n, **await timed(lambda: get("/admin/inbox"), runs)}
    finally:
        await server.close()
        await hub.db.dispose()
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI's size")
    parser.add_argument("--sqlite-copy", type=Path, help="a prepared sample-city SQLite file to copy")
    args = parser.parse_args()
    questions, unanswered_n, runs = (5, 100, 3) if args.small else (50, 1000, 9)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.sqlite_copy:
            shutil.copyfile(args.sqlite_copy, folder / "admin.db")
        figures = asyncio.run(run(folder, questions=questions, unanswered_n=unanswered_n, runs=runs))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "admin.json").write_text(json.dumps(figures, indent=2))
    for name, value in figures.items():
        print(f"{name:26} {value}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
