"""Clients that open connections and never finish their request (issue 10, item 1).

A real `serve` listener (`start_serving`, as the CLI uses it) on 127.0.0.1, attacked from
127.0.0.2 (Linux routes all of 127/8 to loopback, so one machine has two client addresses).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import aiohttp

from bot.settings import Settings
from bot.web.connections import Serving, start_serving
from bot.web.server import create_app
from tests.hubs import prepared_hub

ATTACKER = "127.0.0.2"
PER_ADDRESS = 20


@asynccontextmanager
async def serving(
    settings: Settings,
    *,
    header_timeout_s: float = 1.0,
    per_address: int = PER_ADDRESS,
    trusted: str | None = None,
) -> AsyncIterator[tuple[Serving, str]]:
    settings = settings.model_copy(update={"HTTP_BODY_TIMEOUT_S": 1.0, "TRUSTED_PROXIES": trusted})
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    async with prepared_hub(settings) as hub:
        served = await start_serving(
            create_app(hub, deliver_outbox=False),
            sock,
            header_timeout_s=header_timeout_s,
            per_address=per_address,
            exempt=settings.trusted_proxies,
        )
        try:
            yield served, f"http://127.0.0.1:{port}"
        finally:
            await served.close()


async def stalled(port: int, first_bytes: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0))
    writer.write(first_bytes)
    await writer.drain()
    return reader, writer


async def closed_by_server(reader: asyncio.StreamReader, within_s: float = 15) -> bytes:
    """What the server sent before closing (b'' for a plain close or a reset)."""
    received = b""
    try:
        async with asyncio.timeout(within_s):
            while chunk := await reader.read(65536):
                received += chunk
    except ConnectionResetError:
        pass
    return received


async def healthy(base: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as response:
        return response.status


async def test_half_sent_headers_are_cut_off_and_capped_per_address(settings: Settings) -> None:
    async with serving(settings) as (served, base):
        port = int(base.rsplit(":", 1)[1])
        attackers = [
            await stalled(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n") for _ in range(3 * PER_ADDRESS)
        ]
        await asyncio.sleep(0.2)  # let the server accept them all
        assert served.limits.open_by_address[ATTACKER] == PER_ADDRESS
        assert served.limits.refused == 2 * PER_ADDRESS
        # The city's own checks and other residents still get through during the attack.
        assert await healthy(base) == 200
        # Every stalled connection is closed by the server without an answer, none by us.
        results = await asyncio.gather(*(closed_by_server(reader) for reader, _ in attackers))
        assert results == [b""] * len(attackers)
        await asyncio.sleep(0.1)
        assert served.limits.open_by_address[ATTACKER] == 0
        for _, writer in attackers:
            writer.close()
        assert await healthy(base) == 200


async def test_a_trickled_request_line_is_cut_off_at_the_header_deadline(settings: Settings) -> None:
    async with serving(settings) as (_, base):
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await stalled(port, b"G")
        rest = b"ET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200
        sent = 0

        async def trickle() -> None:  # a byte every 0.3 s: never idle, never finished
            nonlocal sent
            with suppress(ConnectionError):
                for byte in rest:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    sent += 1
                    await asyncio.sleep(0.3)

        sender = asyncio.create_task(trickle())
        assert await closed_by_server(reader) == b""
        # Closed by the deadline from the connection's start, not kept alive by each byte.
        assert sent < len(rest)
        sender.cancel()
        with suppress(asyncio.CancelledError):
            await sender
        writer.close()


async def test_a_stalled_body_gets_408_and_the_connection_is_closed(settings: Settings) -> None:
    async with serving(settings) as (served, base):
        port = int(base.rsplit(":", 1)[1])
        head = (
            b"POST /api/chat/session HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        reader, writer = await stalled(port, head)
        answer = await closed_by_server(reader)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"too slowly" in answer
        assert served.limits.open_by_address[ATTACKER] == 0


async def test_a_trusted_proxy_is_not_capped_per_address(settings: Settings) -> None:
    async with serving(settings, header_timeout_s=5.0, per_address=2, trusted=ATTACKER) as (served, base):
        port = int(base.rsplit(":", 1)[1])
        connections = [await stalled(port, b"GET / HTTP/1.1\r\n") for _ in range(10)]
        await asyncio.sleep(0.2)
        assert served.limits.open_by_address[ATTACKER] == 10
        assert served.limits.refused == 0
        for _, writer in connections:
            writer.close()


async def test_a_gzip_bomb_is_refused_without_inflating_it(settings: Settings) -> None:
    """1 MB of gzip that inflates to 1 GiB: aiohttp would inflate it on the event loop, in
    its parser, before any handler could refuse it. `serve` reads bodies as sent."""
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(packer.compress(b"a" * 2**20) for _ in range(1024)) + packer.flush()
    async with serving(settings) as (_, base), aiohttp.ClientSession(auto_decompress=False) as http:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        async with http.post(f"{base}/api/chat/session", data=bomb, headers=headers) as response:
            assert response.status == 415
            assert "uncompressed" in (await response.json())["error"]
        for encoding in ("gzip", "deflate", "br"):  # and bodies that are not what they say
            said = {**headers, "Content-Encoding": encoding}
            async with http.post(f"{base}/api/chat/messages", data=b"not packed", headers=said) as response:
                assert response.status == 415, encoding


async def test_this_machine_still_connects_when_the_cap_in_all_is_full(settings: Settings) -> None:
    """Slow clients from many addresses may fill the connections in all; a health check
    from this machine (and a trusted proxy) still has room of its own."""
    async with serving(settings, per_address=1000) as (served, base):
        served.limits.total = 10
        port = int(base.rsplit(":", 1)[1])
        held = [await stalled(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n") for _ in range(15)]
        try:
            await asyncio.sleep(0.2)
            assert served.limits.open == 10 and served.limits.refused >= 5
            assert await healthy(base) == 200  # from 127.0.0.1
        finally:
            for _, writer in held:
                writer.close()
