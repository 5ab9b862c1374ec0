"""Benchmark: the memory of a running `civic311 serve`.

Starts a real `serve` subprocess on the sample city and reads its resident set size
(VmRSS, and the peak VmHWM) from /proc: once it is up and idle, after N chat turns over
HTTP (the web chat's JSON API, as the page sends them), and idle again after them.
Beside it, in the same run, a bare baseline: a Python process that imports only numpy,
onnxruntime and aiohttp, the floor any process of this kind starts from.

A fresh database makes `serve` prepare the sample city first (migrations, content,
training: a minute or two on 2 cores). Set CIVIC311_BENCH_SQLITE_TEMPLATE to a database
that `serve` (or the tests) already prepared, and it is copied instead.
Run by hand: `python benchmarks/memory.py` (60 turns); CI runs `--small` (8 turns).
Linux only (/proc). Not a test: it asserts nothing, it prints figures (and writes
benchmarks/results/*.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from _serve import free_port, start_serve  # benchmarks/ is on the path when run as a script

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_ENV = "CIVIC311_BENCH_SQLITE_TEMPLATE"
START_TIMEOUT = 900.0  # seconds: preparing a fresh database trains the models
SETTLE = 3.0  # seconds of quiet before an idle reading (background loads finish)

# What residents send, in the proportions of a day: questions, reports, typos, small talk,
# an emergency, another language. Repeated in order for as many turns as asked.
MESSAGES = (
    "when is 311 open?",
    "how do i pay a parking ticket",
    "there is a big pothole on 5th and market",
    "graffitti on my wal",
    "hello",
    "my neighbour's house is on fire",
    "hola necesito ayuda con la basura por favor",
    "when is my trash picked up",
    "the streetlight outside 1420 Noe St is out",
    "can I talk to a person",
    "thanks!",
    "how do i get a permit for a yard sale",
    "someone dumped a couch on the sidewalk",
    "what is the status of report 10234",
)

BASELINE = (
    "import numpy, onnxruntime, aiohttp\n"
    "for line in open('/proc/self/status'):\n"
    "    if line.startswith(('VmRSS', 'VmHWM', 'RssAnon', 'RssFile')):\n"
    "        print(line.split()[0].rstrip(':'), line.split()[1])\n"
)


def status(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM (peak), RssAnon (private) and RssFile (mapped files: code, and the model
    files mapped from the cache, shared by processes and dropped under pressure), in MB."""
    figures = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM", "RssAnon", "RssFile")):
                figures[line.split(":")[0]] = round(int(line.split()[1]) / 1024, 1)
    return figures


def baseline() -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", BASELINE], capture_output=True, text=True, check=True)
    return {name: round(int(kb) / 1024, 1) for name, kb in (line.split() for line in out.stdout.splitlines())}


def post(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=120) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < START_TIMEOUT:
        if process.poll() is not None:
            raise SystemExit(f"serve exited with {process.returncode} before it was up")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"serve was not up after {START_TIMEOUT:.0f} s")


def measure_serve(folder: Path, turns: int) -> dict[str, Any]:
    database = folder / "bench.db"
    template = os.environ.get(TEMPLATE_ENV)
    if template:
        shutil.copy(template, database)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_serve(f"sqlite+aiosqlite:///{database}", folder, port, CHAT_RATE_LIMIT_PER_MINUTE="10000")
    try:
        start_s = wait_until_up(base, process)
        time.sleep(SETTLE)
        idle = status(process.pid)
        session = post(f"{base}/api/chat/session", {})
        token = str(session["token"])
        times = []
        for i in range(turns):
            started = time.perf_counter()
            post(
                f"{base}/api/chat/messages",
                {"client_id": f"m{i}", "text": MESSAGES[i % len(MESSAGES)]},
                token,
            )
            times.append(time.perf_counter() - started)
        after = status(process.pid)
        time.sleep(SETTLE)
        idle_after = status(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    times.sort()
    return {
        "database": "copied template" if template else "prepared by serve",
        "start_s": round(start_s, 1),
        "idle": idle,
        "turns": turns,
        "after_turns": after,
        "idle_after_turns": idle_after,
        "turn_median_ms": round(times[len(times) // 2] * 1000, 1) if times else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="8 turns (CI)")
    parser.add_argument("--turns", type=int, default=60)
    args = parser.parse_args()
    turns = 8 if args.small else args.turns
    bare = baseline()
    with tempfile.TemporaryDirectory() as folder:
        serve = measure_serve(Path(folder), turns)
    results = {"baseline_numpy_onnxruntime_aiohttp": bare, "serve": serve}
    print(
        f"  {'bare python + numpy, onnxruntime, aiohttp (baseline)':<54} RSS {bare['VmRSS']:6.1f} MB"
        f"   private {bare['RssAnon']:6.1f}   files {bare['RssFile']:6.1f}"
    )
    for label, key in (
        ("serve, idle after start", "idle"),
        (f"serve, after {turns} chat turns", "after_turns"),
        ("serve, idle after them", "idle_after_turns"),
    ):
        figures = serve[key]
        print(
            f"  {label:<54} RSS {figures['VmRSS']:6.1f} MB   private {figures['RssAnon']:6.1f}"
            f"   files {figures['RssFile']:6.1f}   peak {figures['VmHWM']:6.1f}"
        )
    print(json.dumps(results, indent=2))
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    (out / ("memory-small.json" if args.small else "memory.json")).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
