"""Connections a client holds open without finishing its request.

aiohttp keeps a connection that sent half its headers for an hour (its keep-alive timer,
3,630 s by default in 3.14) and reads a request body as slowly as the client sends it, so a
few thousand stalled connections exhaust the process's file descriptors and `/healthz` stops
answering. Three bounds, all settings:

- headers: a connection that has not sent a complete request within HTTP_HEADER_TIMEOUT_S of
  opening (or of its last response, when kept alive) is closed. That is aiohttp's keep-alive
  timer, which runs from the connection's start and is not reset by partial data;
- body: a request whose body has not arrived within HTTP_BODY_TIMEOUT_S of its headers gets
  408 and the connection is closed (`body_deadline`);
- connections per client address (HTTP_MAX_CONNECTIONS_PER_ADDRESS) and in all (from the
  file-descriptor limit): a connection over either is closed as soon as it is accepted.

A reverse proxy in TRUSTED_PROXIES is exempt from the per-address cap: every resident
arrives through it, and slow clients are the proxy's to bound. It and this machine itself
(127.0.0.1, ::1: a health check, an operator's curl) also have a few hundred connections of
their own beyond the cap in all, which slow clients from many addresses can fill.

Request bodies are never decompressed: aiohttp would inflate a gzip body inside its
parser, on the event loop, before any handler could refuse it (1 MB of gzip is 1 GiB, and
froze every request for 6 s). No client of ours compresses what it sends; an encoded body is
refused with 415 (`bot.web.requests`).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_address

from aiohttp import web

log = logging.getLogger(__name__)

# File descriptors kept back from client connections: database pool, photo files, logs.
RESERVED_DESCRIPTORS = 256
BACKLOG = 512  # asyncio accepts up to this many in one pass, before any is counted
TRUSTED_RESERVE = 256  # connections beyond the cap for trusted proxies and this machine
LOCAL = ("127.0.0.1", "::1")
BODY_TOO_SLOW = "The request body arrived too slowly. Please try again."


def raise_descriptor_limit() -> int:
    """Lift the soft file-descriptor limit to the hard one (Debian's soft default is 1,024,
    which a busy chat page reaches) and return what it now is."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d: %s", soft, exc)
    return soft


@dataclass(slots=True)
class ConnectionLimits:
    per_address: int
    total: int
    exempt: tuple[IPv4Network | IPv6Network, ...] = ()
    open_by_address: Counter[str] = field(default_factory=Counter)
    refused: int = 0

    @property
    def open(self) -> int:
        return sum(self.open_by_address.values())

    def admit(self, address: str) -> bool:
        trusted = self._exempt(address)
        room = self.total + (TRUSTED_RESERVE if trusted or address in LOCAL else 0)
        if self.open >= room or (self.open_by_address[address] >= self.per_address and not trusted):
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                log.warning(
                    "refusing connections: %d from %s open, %d in all (%d refused so far)",
                    self.open_by_address[address],
                    address,
                    self.open,
                    self.refused,
                )
            return False
        self.open_by_address[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open_by_address[address] -= 1
        if self.open_by_address[address] <= 0:
            del self.open_by_address[address]

    def _exempt(self, address: str) -> bool:
        try:
            ip = ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.exempt)


class _CountedConnection(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind a count of the connections per address."""

    def __init__(self, inner: asyncio.Protocol, limits: ConnectionLimits) -> None:
        self._inner = inner
        self._limits = limits
        self._address: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        if not self._limits.admit(address):
            if isinstance(transport, asyncio.Transport):
                transport.abort()  # at once, without lingering: it holds no request yet
            else:
                transport.close()
            return
        self._address = address
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._address is None:
            return
        self._limits.release(self._address)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._address is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._address is not None else None

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


@dataclass(slots=True)
class Serving:
    """What `serve` listens with: the runner (the app and its shutdown) and the listener."""

    runner: web.AppRunner
    listener: asyncio.Server
    limits: ConnectionLimits

    async def close(self) -> None:
        """Stop accepting, then let the runner finish requests in flight and clean up."""
        self.listener.close()
        await self.runner.cleanup()


async def start_serving(
    app: web.Application,
    sock: socket.socket,
    *,
    header_timeout_s: float,
    per_address: int,
    exempt: tuple[IPv4Network | IPv6Network, ...] = (),
    handle_signals: bool = False,
    shutdown_timeout: float = 30,
) -> Serving:
    runner = web.AppRunner(
        app,
        handle_signals=handle_signals,
        shutdown_timeout=shutdown_timeout,
        keepalive_timeout=header_timeout_s,
        auto_decompress=False,
    )
    await runner.setup()
    server = runner.server
    assert server is not None  # setup() made it
    room = raise_descriptor_limit() - RESERVED_DESCRIPTORS - BACKLOG - TRUSTED_RESERVE
    limits = ConnectionLimits(per_address=per_address, total=max(64, room), exempt=exempt)

    def counted() -> asyncio.Protocol:
        return _CountedConnection(server(), limits)

    listener = await asyncio.get_running_loop().create_server(counted, sock=sock, backlog=BACKLOG)
    return Serving(runner, listener, limits)


BODY_TIMEOUT = web.AppKey("body_timeout_s", float)


@web.middleware
async def body_deadline(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A body still arriving after the deadline is cut off: its reader raises, the handler
    stops, and the client gets 408 on a closed connection instead of holding a slot forever."""
    if not request.body_exists or request.content.is_eof():
        return await handler(request)
    expired = False

    def expire() -> None:
        nonlocal expired
        if not request.content.is_eof():
            expired = True
            request.content.set_exception(TimeoutError(BODY_TOO_SLOW))

    timer = asyncio.get_running_loop().call_later(request.app[BODY_TIMEOUT], expire)
    try:
        response = await handler(request)
    except Exception:
        if not expired:
            raise
    finally:
        timer.cancel()
    if not expired:
        return response
    # The handler may have turned the cut-off read into its own 400; the truth is a timeout.
    log.info("request body too slow on %s %s from %s", request.method, request.path, request.remote)
    too_slow = web.json_response({"error": BODY_TOO_SLOW}, status=408)
    too_slow.force_close()
    return too_slow
