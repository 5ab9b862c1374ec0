"""What every request body must be before a handler reads it, and a client gone mid-request.

Bodies are read as sent (`serve` turns aiohttp's decompression off, bot.web.connections):
one that says it is compressed is refused, since no client of ours compresses and a
handler would read gzip bytes as text. A charset Python does not know would raise in the
middle of a handler. (A body announced larger than a route takes is that route's to refuse
before reading it, in its own words: a photo's limit is not a form's.) A client that
disconnects while its request is read is not an error of ours: without this, every one
logs a 40-line traceback, and a flood of them fills the disk.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Network, IPv6Network, ip_address

from aiohttp import web

log = logging.getLogger(__name__)

PLAIN = frozenset({"", "identity"})


def _refuse(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _text_encoding(charset: str) -> bool:
    """Whether bytes.decode takes it: "rot13" and "base64" are codecs, not text encodings
    (an empty bytes object decodes under any name, so one byte is tried)."""
    try:
        b"a".decode(charset)
    except LookupError:
        return False
    except UnicodeError:  # a text encoding that one byte is too short for (UTF-16)
        return True
    return True


@web.middleware
async def body_checks(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.body_exists:
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in PLAIN:
            return _refuse(415, "Send the request body uncompressed (no Content-Encoding).")
        charset = request.charset
        if charset and not _text_encoding(charset):
            return _refuse(415, "Send the request body as UTF-8 (charset=utf-8).")
    try:
        return await handler(request)
    except ConnectionResetError:  # aiohttp's ClientConnectionResetError too
        log.debug("client went away during %s %s", request.method, request.path)
        raise web.HTTPBadRequest() from None  # answered to no one; logged as nothing


def client_address(request: web.Request, trusted: tuple[IPv4Network | IPv6Network, ...]) -> str:
    """The client's address, for per-address limits. Behind a trusted proxy (TRUSTED_PROXIES)
    it is the nearest address in X-Forwarded-For that is not one of the proxies; anyone else's
    X-Forwarded-For is ignored, since a client can write anything there."""
    peer = request.remote or "unknown"
    if not trusted or not _within(peer, trusted):
        return peer
    forwarded = [a.strip() for a in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")]
    for address in reversed([a for a in forwarded if a]):
        if not _within(address, trusted):
            return address
    return peer


def _within(address: str, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)
