"""Photos from Telegram: the largest size of a photo, or an image sent as a file.

Telegram keeps several sizes of a photo and sends their ids; the largest is fetched
with getFile and downloaded from the file URL (which holds the token, so it is never
logged). iPhones send HEIC when a photo goes as a file: it is converted to JPEG here,
and the media store then checks, cleans (location removed) and stores it like any other.
"""

from __future__ import annotations

import asyncio
import io

from telegram import Bot, Document, PhotoSize
from telegram.error import TelegramError

from bot.api import MediaError, too_large

HEIC_TYPES = frozenset({"image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"})
MAX_BOT_API_DOWNLOAD = 20 * 1024 * 1024  # Telegram's Bot API serves no larger file
NOT_A_PHOTO = "That file isn't a photo I can use. Please send a JPEG, PNG or WebP photo."
CANNOT_FETCH = "I couldn't fetch that photo from Telegram just now. Please send it again."


def largest(sizes: tuple[PhotoSize, ...]) -> PhotoSize:
    return max(sizes, key=lambda s: (s.width * s.height, s.file_size or 0))


def is_image(document: Document) -> bool:
    mime = (document.mime_type or "").lower()
    return mime.startswith("image/")


async def download(bot: Bot, file_id: str, announced: int | None, max_bytes: int) -> bytes:
    """The file's bytes; MediaError (with a message for the resident) when it is too
    large, or cannot be had."""
    limit = min(max_bytes, MAX_BOT_API_DOWNLOAD)
    if announced is not None and announced > limit:
        raise too_large(announced, limit)
    try:
        remote = await bot.get_file(file_id)
        if remote.file_size is not None and remote.file_size > limit:
            raise too_large(remote.file_size, limit)
        data = bytes(await remote.download_as_bytearray())
    except TelegramError:
        raise MediaError(CANNOT_FETCH, 502) from None
    if len(data) > limit:
        raise too_large(len(data), limit)
    return data


async def heic_to_jpeg(data: bytes, max_pixels: int) -> bytes:
    """HEIC as JPEG (in a thread: decoding takes a good part of a second)."""
    return await asyncio.to_thread(_heic_to_jpeg, data, max_pixels)


def _heic_to_jpeg(data: bytes, max_pixels: int) -> bytes:
    import pillow_heif

    try:
        heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
        width, height = heif.size
        if width * height > max_pixels:
            raise MediaError("That photo has too many pixels. Please send a smaller one.", 413)
        picture = heif.to_pillow()
    except MediaError:
        raise
    except Exception:  # not HEIC after all, or damaged: what libheif says is not for residents
        raise MediaError(NOT_A_PHOTO, 415) from None
    out = io.BytesIO()
    picture.convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()
