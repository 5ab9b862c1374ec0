"""Benchmark: chat turns through real `civic311 serve` processes.

Residents (aiohttp clients, each its own web chat session) send messages as fast as the
answers come back, at several concurrencies, for a fixed time. Measured from outside:
- turns per second and latency (median, p99);
- CPU per turn of the serve process (its user+system time from /proc over the turns);
- memory (RSS) of an idle serve process, and after the run;
- with PostgreSQL, two serve processes on one database (residents split between them).

Bare baseline, in the same run: a minimal aiohttp server answering the same POSTs with a
fixed JSON body, driven by the same client at the same concurrency, so the figures can be
read against what HTTP alone costs on this machine.

SQLite by default; set CIVIC311_BENCH_POSTGRES_URL to run PostgreSQL too.
Run by hand: `python benchmarks/turns.py` (10 s per level); CI runs `--small` (SQLite, 3 s, 8
residents). Not a test: it asserts nothing, it prints figures (and writes benchmarks/results/turns.json).
The first start of a database prepares the sample city (a minute or two), not measured;
`--sqlite-copy FILE` starts from a copy of an already prepared SQLite database instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from _scratch import scratch_postgres  # benchmarks/ is on the path when run as a script
from _serve import free_port, start_serve

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("results")
MESSAGES = [
    "when is 311 open?",
    "how do I pay a parking ticket",
    "what day is trash pickup",
    "hello",
    "there is a pothole on 5th and market",
    "cancel",
    "where can I get a dog license",
    "thanks",
]
BARE_SERVER = """
import sys
from aiohttp import web

async def answer(request):
    await request.read()
    return web.json_response({"replies": [{"text": "ok"}], "duplicate": False})

app = web.Application()
app.router.add_post("/api/chat/messages", answer)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], within_s: float = 600) -> None:
    deadline = time.monotonic() + within_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                async with http.get(f"{url}/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError("server did not become healthy")


@asynccontextmanager
async def serve(database_url: str, folder: Path) -> AsyncIterator[tuple[str, int]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_serve(
        database_url,
        folder,
        port,
        CHAT_RATE_LIMIT_PER_MINUTE="10000",  # residents here are a load generator
        TRUSTED_PROXIES="127.0.0.1",  # each resident's own X-Forwarded-For: no shared limit
    )
    try:
        await wait_healthy(url, proc)
        yield url, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


@asynccontextmanager
async def bare_server() -> AsyncIterator[tuple[str, int]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port)])  # noqa: ASYNC220
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                await asyncio.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


async def resident(
    http: aiohttp.ClientSession, url: str, n: int, until: float, latencies: list[float], bare: bool
) -> None:
    headers = {"X-Forwarded-For": f"10.{n // 250}.{n % 250}.1"}
    if not bare:
        async with http.post(f"{url}/api/chat/session", json={}, headers=headers) as r:
            assert r.status == 201, await r.text()
            headers["Authorization"] = f"Bearer {(await r.json())['token']}"
    i = 0
    while time.monotonic() < until:
        body = {"client_id": f"m{i}", "text": MESSAGES[(n + i) % len(MESSAGES)]}
        started = time.perf_counter()
        async with http.post(f"{url}/api/chat/messages", json=body, headers=headers) as r:
            await r.read()
            if r.status != 200:
                raise RuntimeError(f"{r.status}: {await r.text()}")
        latencies.append(time.perf_counter() - started)
        i += 1


async def drive(
    servers: list[tuple[str, int]], residents: int, seconds: float, bare: bool = False
) -> dict[str, Any]:
    latencies: list[float] = []
    cpu_before = [cpu_seconds(pid) for _, pid in servers]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        until = time.monotonic() + seconds
        started = time.perf_counter()
        await asyncio.gather(
            *(
                resident(http, servers[n % len(servers)][0], n, until, latencies, bare)
                for n in range(residents)
            )
        )
        elapsed = time.perf_counter() - started
    cpu = sum(cpu_seconds(pid) - before for (_, pid), before in zip(servers, cpu_before, strict=True))
    latencies.sort()
    return {
        "residents": residents,
        "processes": len(servers),
        "turns": len(latencies),
        "turns_per_s": len(latencies) / elapsed,
        "median_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "cpu_ms_per_turn": cpu / max(1, len(latencies)) * 1000,
    }


def show(label: str, r: dict[str, Any]) -> None:
    print(
        f"  {label:<34} {r['turns_per_s']:7.1f} turns/s   median {r['median_ms']:6.1f} ms   "
        f"p99 {r['p99_ms']:7.1f} ms   CPU {r['cpu_ms_per_turn']:5.2f} ms/turn"
    )


async def run(database_url: str, name: str, levels: list[int], seconds: float, two: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"database": name, "levels": {}, "bare": {}}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        subprocess.run(  # noqa: ASYNC221 - before anything is measured
            [sys.executable, "-m", "bot.cli", "db", "upgrade"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": database_url},
            check=True,
            capture_output=True,
        )
        print(f"{name}:")
        async with serve(database_url, folder) as first:
            await asyncio.sleep(2)  # settle after start
            out["idle_rss_mb"] = rss_mb(first[1])
            print(f"  serve idle RSS                     {out['idle_rss_mb']:7.1f} MB")
            await drive([first], 2, 1.0)  # warm up: the first turns load what they need
            for residents in levels:
                async with bare_server() as bare:
                    out["bare"][residents] = await drive([bare], residents, seconds, bare=True)
                show(f"bare aiohttp, {residents} concurrent (baseline)", out["bare"][residents])
                out["levels"][residents] = await drive([first], residents, seconds)
                show(f"serve, {residents} concurrent", out["levels"][residents])
            out["rss_after_mb"] = rss_mb(first[1])
            print(f"  serve RSS after the run            {out['rss_after_mb']:7.1f} MB")
            if two:
                async with serve(database_url, folder) as second:
                    await drive([second], 2, 1.0)
                    residents = max(levels)
                    out["two_processes"] = await drive([first, second], residents, seconds)
                    show(f"two serve, {residents} concurrent", out["two_processes"])
                    one = out["levels"][residents]["turns_per_s"]
                    ratio = out["two_processes"]["turns_per_s"] / one
                    print(f"  two processes / one                {ratio:7.2f}x")
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true", help="CI size: SQLite, 8 residents, 3 s")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sqlite-copy", type=Path, help="a prepared SQLite database to start from")
    args = parser.parse_args()
    levels, seconds = ([8], 3.0) if args.small else ([8, 32], args.seconds)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        if args.sqlite_copy:
            shutil.copyfile(args.sqlite_copy, Path(folder) / "bench.db")
        sqlite_url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        results.append(await run(sqlite_url, "SQLite", levels, seconds, False))
    pg = os.environ.get("CIVIC311_BENCH_POSTGRES_URL")
    if pg and not args.small:
        async with scratch_postgres(pg) as url:
            results.append(await run(url, "PostgreSQL", levels, seconds, True))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "turns.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
