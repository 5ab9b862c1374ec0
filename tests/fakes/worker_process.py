"""One outbox worker as its own OS process, delivering to the fake flaky platform.

    python -m tests.fakes.worker_process DATABASE_URL PLATFORM_URL [--label A] [--batch N]
        [--lease-s S] [--base-backoff-s S] [--idle-s S]

It runs the real `bot.delivery.worker.OutboxWorker` with a real `FlakyHttpChannel` until SIGTERM
(or SIGINT), finishing the message in flight, and exits 0. It prints `ready` once the
database answers, so a test starts making changes only when every worker is polling.
The label is sent with each try (`X-Sender`), so the platform can tell who delivered what.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from datetime import timedelta

from bot.db import Database
from bot.delivery.worker import BASE_BACKOFF_S, LEASE, OutboxWorker
from bot.settings import normalise_database_url
from tests.fakes.flaky_channel import CHANNEL_NAME, FlakyHttpChannel


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("platform_url")
    parser.add_argument("--label", default="", help="who this worker is, told to the platform")
    parser.add_argument("--batch", type=int, default=20, help="rows claimed at a time")
    parser.add_argument("--lease-s", type=float, default=LEASE.total_seconds())
    parser.add_argument("--base-backoff-s", type=float, default=BASE_BACKOFF_S)
    parser.add_argument("--idle-s", type=float, default=0.05, help="poll interval when nothing is due")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    db = Database(normalise_database_url(args.database_url))
    channel = FlakyHttpChannel(args.platform_url, sender=args.label)
    worker = OutboxWorker(
        db,
        {CHANNEL_NAME: channel},
        batch=args.batch,
        lease=timedelta(seconds=args.lease_s),
        base_backoff_s=args.base_backoff_s,
    )
    try:
        await db.ping()
        print("ready", flush=True)
        await worker.run_forever(stop, idle_s=args.idle_s)
    finally:
        await channel.close()
        await db.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.label} %(levelname)s %(message)s")
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
