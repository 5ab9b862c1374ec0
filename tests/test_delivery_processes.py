"""Status updates delivered by outbox workers running as separate OS processes on PostgreSQL.

Two `tests.fakes.worker_process` processes share one outbox and deliver over real HTTP to
a platform that refuses every message twice (500, then 429 with retry_after 0) before it
accepts it. Each subscriber must hear of each status change exactly once, in the order the
changes were made; a worker killed with SIGKILL in mid-send must lose nothing.
PostgreSQL only: SQLite is one process's database, and row claims need FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import inspect
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.db import Database
from bot.messages import PLAIN_TEXT, Outgoing, degrade
from bot.migrate import upgrade
from bot.models import OutboxMessage, Subscription
from bot.reporting import reports
from bot.timeutil import utcnow
from tests.fakes.flaky_channel import CHANNEL_NAME, message_key
from tests.fakes.flaky_platform import FlakyPlatform, flaky_platform  # noqa: F401 (a fixture)

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 120.0  # generous: a bound on waiting, not a claim about speed


class WorkerProcess:
    """A `python -m tests.fakes.worker_process` child, its log kept in a file."""

    def __init__(self, label: str, database_url: str, platform_url: str, logs: Path, *options: str) -> None:
        self.label = label
        self.command = [
            sys.executable,
            "-m",
            "tests.fakes.worker_process",
            database_url,
            platform_url,
            "--label",
            label,
            *options,
        ]
        self.log = logs / f"worker-{label}.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> WorkerProcess:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.command, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=log
            )
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), DEADLINE_S)
        except TimeoutError:
            line = b""
        if line.strip() != b"ready":
            await self.kill()
            raise RuntimeError(f"worker {self.label} did not start:\n{self.log.read_text()[-3000:]}")
        return self

    async def stop(self) -> int | None:
        """SIGTERM, as a platform stops a worker: it finishes the message in flight and exits."""
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), DEADLINE_S)
        except TimeoutError:
            await self.kill()
            return None

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, claimed rows stay claimed until their lease ends."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()


@dataclass(frozen=True, slots=True)
class Change:
    report: int  # index into the reports filed
    status: str


@pytest.fixture
async def pg_db(database_url: str) -> AsyncIterator[tuple[str, Database]]:
    """A migrated PostgreSQL database (its URL for the workers, a handle for the test)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("several worker processes share an outbox on PostgreSQL only")
    db = Database(database_url)
    await upgrade(db)
    try:
        yield database_url, db
    finally:
        await db.dispose()


@pytest.fixture
async def workers(tmp_path: Path) -> AsyncIterator[list[WorkerProcess]]:
    """Worker processes the test starts; whatever is still running at the end is stopped."""
    started: list[WorkerProcess] = []
    try:
        yield started
    finally:
        for worker in started:
            await worker.kill()


async def file_reports(db: Database, subscribers: list[list[str]]) -> list[str]:
    """One report per list of addresses: the first files it, the others follow it."""
    numbers = []
    now = utcnow()
    async with db.transaction() as session:
        for i, addresses in enumerate(subscribers):
            report = await reports.file_report(
                session,
                service_code="pothole",
                description=f"pothole number {i}",
                now=now,
                channel=CHANNEL_NAME,
                address=addresses[0],
                place=f"{100 + i} Main St",
            )
            for follower in addresses[1:]:
                await reports.subscribe(session, report, CHANNEL_NAME, follower, now=now)
            assert report.number is not None
            numbers.append(report.number)
    return numbers


def shown(message: Outgoing) -> str:
    """What a plain-text platform shows: the outbox degrades the markdown."""
    return degrade(message, PLAIN_TEXT).text


async def make_changes(
    db: Database, numbers: list[str], bursts: list[list[Change]], expected: dict[str, list[str]]
) -> None:
    """Each change in its own transaction, as staff would make them; the changes of a burst
    back to back, a pause between bursts so workers are delivering while changes arrive.
    Appends each subscriber's expected message, in the order the changes were made."""
    step = 0
    for burst in bursts:
        for change in burst:
            step += 1
            note = f"change {step}"  # every message's text is distinct
            async with db.transaction() as session:
                done = await reports.set_status(
                    session, numbers[change.report], change.status, now=utcnow(), note=note
                )
                text = shown(Outgoing(reports.status_update_text(done.report, note)))
                followers = await session.scalars(
                    select(Subscription.address)
                    .where(Subscription.report_id == done.report.id)
                    .order_by(Subscription.id)
                )
                for address in followers:
                    expected.setdefault(address, []).append(text)
        await asyncio.sleep(0.1)


async def outbox_counts(db: Database) -> dict[str, int]:
    async with db.reading() as session:
        rows = await session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        )
        return {status: int(count) for status, count in rows.all()}


async def eventually(
    condition: Callable[[], Awaitable[bool] | bool], what: str, describe: Callable[[], str]
) -> None:
    """Poll until `condition` holds; fail with what was seen if it has not by the deadline."""
    deadline = asyncio.get_running_loop().time() + DEADLINE_S

    async def holds() -> bool:
        result = condition()
        return await result if inspect.isawaitable(result) else bool(result)

    while not await holds():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{what} did not happen within {DEADLINE_S:.0f} s: {describe()}")
        await asyncio.sleep(0.05)


async def wait_until_drained(db: Database, total: int, platform: FlakyPlatform) -> None:
    seen: dict[str, int] = {}

    async def drained() -> bool:
        seen.clear()
        seen.update(await outbox_counts(db))
        return sum(seen.values()) == total and not (seen.get("pending") or seen.get("sending"))

    await eventually(
        drained,
        "delivering the whole outbox",
        lambda: f"outbox {seen}, {len(platform.tries)} tries, {len(platform.deliveries)} deliveries",
    )


def assert_each_message_once_in_order(platform: FlakyPlatform, expected: dict[str, list[str]]) -> None:
    delivered = Counter((d.address, d.text) for d in platform.deliveries)
    wanted = Counter((a, text) for a, texts in expected.items() for text in texts)
    assert delivered == wanted  # every (subscriber, change) exactly once, nothing else
    for address, texts in expected.items():
        assert [d.text for d in platform.deliveries if d.address == address] == texts, address


async def outbox_rows(db: Database) -> list[OutboxMessage]:
    async with db.reading() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


SUBSCRIBERS = [
    ["resident-0", "watcher-all", "watcher-even"],
    ["resident-1", "watcher-all"],
    ["resident-2", "watcher-all", "watcher-even", "neighbour-2"],
    ["resident-3", "watcher-all", "neighbour-3a", "neighbour-3b"],
    ["resident-4", "watcher-all", "watcher-even"],
]
BURSTS = [
    [Change(0, "acknowledged"), Change(0, "in_progress"), Change(1, "acknowledged")],
    [Change(2, "in_progress")],
    [Change(3, "acknowledged"), Change(3, "in_progress"), Change(3, "closed"), Change(4, "acknowledged")],
    [Change(0, "closed"), Change(1, "in_progress")],
    [Change(2, "closed"), Change(2, "open"), Change(4, "in_progress")],  # closed, then reopened
    [Change(1, "closed"), Change(4, "closed"), Change(2, "closed")],
]


async def test_two_worker_processes_deliver_each_status_change_once_in_order(
    pg_db: tuple[str, Database],
    flaky_platform: FlakyPlatform,  # noqa: F811 (the imported fixture)
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    url, db = pg_db
    numbers = await file_reports(db, SUBSCRIBERS)
    options = ("--batch", "2", "--base-backoff-s", "0.05", "--idle-s", "0.05")
    for label in ("a", "b"):
        workers.append(await WorkerProcess(label, url, flaky_platform.url, tmp_path, *options).start())

    expected: dict[str, list[str]] = {}
    await make_changes(db, numbers, BURSTS, expected)
    total = sum(len(texts) for texts in expected.values())
    assert total == 52  # the scenario is as big as intended: 16 changes, 2-4 subscribers each
    await wait_until_drained(db, total, flaky_platform)
    assert [await w.stop() for w in workers] == [0, 0]  # SIGTERM: a clean exit

    assert_each_message_once_in_order(flaky_platform, expected)
    for address, texts in expected.items():
        for text in texts:  # two refusals, then accepted: never a fourth try, never one less
            assert flaky_platform.outcomes(message_key(address, text)) == [
                "refused-500",
                "refused-429",
                "accepted",
            ]
    rows = await outbox_rows(db)
    assert len(rows) == total
    assert {(r.status, r.attempts) for r in rows} == {("sent", 3)}
    # Both processes delivered: they shared the queue. With 2 rows a claim, 156 tries and
    # both workers polling before the first change, one taking it all is not a real outcome.
    assert {d.sender for d in flaky_platform.deliveries} == {"a", "b"}


async def test_a_worker_killed_mid_send_loses_nothing(
    pg_db: tuple[str, Database],
    flaky_platform: FlakyPlatform,  # noqa: F811 (the imported fixture)
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    url, db = pg_db
    numbers = await file_reports(db, [[f"r{i}-a", f"r{i}-b", f"r{i}-c"] for i in range(3)])
    lease_s = 3.0
    options = ("--batch", "3", "--lease-s", str(lease_s), "--base-backoff-s", "0.05", "--idle-s", "0.05")
    flaky_platform.hold_senders.add("a")  # worker a's platform hangs: it is stuck mid-send
    doomed = await WorkerProcess("a", url, flaky_platform.url, tmp_path, *options).start()
    workers.append(doomed)

    expected: dict[str, list[str]] = {}
    bursts = [[Change(i, "acknowledged")] for i in range(3)] + [[Change(i, "closed")] for i in range(3)]
    await make_changes(db, numbers, bursts, expected)
    await eventually(lambda: bool(flaky_platform.held("a")), "worker a sending", lambda: "no try")
    # What a holds, and until when: nobody may send those rows before a's lease runs out.
    leases = {r.id: r.lease_until for r in await outbox_rows(db) if r.status == "sending"}
    survivor = await WorkerProcess("b", url, flaky_platform.url, tmp_path, *options).start()
    workers.append(survivor)
    await eventually(
        lambda: bool(flaky_platform.delivered_by("b")),
        "worker b delivering beside the stuck one",
        lambda: f"{len(flaky_platform.tries)} tries",
    )
    stuck = flaky_platform.held("a")[0]
    await doomed.kill()
    flaky_platform.release()  # the hung request is finally answered (503), to nobody

    total = sum(len(texts) for texts in expected.values())
    await wait_until_drained(db, total, flaky_platform)
    assert await survivor.stop() == 0

    assert_each_message_once_in_order(flaky_platform, expected)
    assert not flaky_platform.delivered_by("a")
    for address, texts in expected.items():
        for text in texts:
            tries = [o for o in flaky_platform.outcomes(message_key(address, text)) if o != "held"]
            assert tries == ["refused-500", "refused-429", "accepted"]
    rows = await outbox_rows(db)
    assert {r.status for r in rows} == {"sent"} and len(rows) == total
    # The rows a claimed died with it: one claim by a, then b's three tries after the lease.
    orphans = [r for r in rows if r.attempts == 4]
    assert (stuck.address, stuck.text) in {(r.address, shown(Outgoing.from_json(r.payload))) for r in orphans}
    assert all(r.attempts in (3, 4) for r in rows)
    for row in orphans:
        # Sent by b once a's lease ran out (on a loaded machine that may be before the kill:
        # a was stuck, not dead, and the lease is what guards the row, not the kill).
        lease_until = leases.get(row.id)
        assert lease_until is not None and row.sent_at is not None and row.sent_at >= lease_until
        sender = {(d.address, d.text): d.sender for d in flaky_platform.deliveries}
        assert sender[(row.address, shown(Outgoing.from_json(row.payload)))] == "b"
