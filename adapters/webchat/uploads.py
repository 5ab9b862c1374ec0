"""Reading the web chat's photo upload: one multipart form with a `photo` file and a `client_id`.

The body is read part by part and the photo counted as it arrives, so an
upload over the limit is refused once the limit is passed, not after it has
all been buffered; aiohttp's own `client_max_size` does not apply to a
multipart stream, which leaves the resident's limit (MAX_PHOTO_MB) the one
that counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from bot.api import MediaError, over_limit, too_large

# Boundaries, part headers and the client id around the photo itself.
FORM_OVERHEAD = 16 * 1024
CHUNK = 64 * 1024
MAX_CLIENT_ID_BYTES = 200
PLAIN_ENCODINGS = frozenset({"", "binary", "8bit", "7bit", "identity"})


class UploadError(Exception):
    """The form itself is wrong (not the photo in it); the message is for the resident."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class PhotoUpload:
    client_id: str
    photo: bytes


def check_announced_size(request: web.Request, max_bytes: int) -> None:
    """A body announced larger than any allowed photo is refused before a byte is read."""
    length = request.content_length
    if length is not None and length > max_bytes + FORM_OVERHEAD:
        raise too_large(length, max_bytes)


async def read_photo_upload(request: web.Request, max_bytes: int) -> PhotoUpload:
    """The form's fields; MediaError (413) for a photo over `max_bytes`, UploadError otherwise."""
    if request.content_type != "multipart/form-data":
        raise UploadError(400, "Send the photo as a form upload (multipart/form-data) with a 'photo' file.")
    try:
        reader = await request.multipart()
        client_id: str | None = None
        photo: bytes | None = None
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise UploadError(400, "The upload has a form inside a form. Send one photo file.")
            if part.name == "client_id":
                raw = await _read_limited(part, MAX_CLIENT_ID_BYTES)
                if raw is None:
                    raise UploadError(422, "client_id must be 1-100 letters, digits, '-' or '_'")
                client_id = raw.decode("utf-8", errors="replace")
            elif part.name == "photo":
                if photo is not None:
                    raise UploadError(422, "Send one photo at a time.")
                _check_plain(part)
                photo = await _read_limited(part, max_bytes)
                if photo is None:
                    raise over_limit(max_bytes)
            else:
                field = str(part.name)[:40]
                raise UploadError(422, f"Unexpected field {field!r}: send 'photo' and 'client_id'.")
    except (UploadError, MediaError):
        raise
    # HttpProcessingError: a part's headers are broken (no colon, a line past aiohttp's limit).
    except (
        ValueError,
        AssertionError,
        RuntimeError,
        ConnectionError,
        web.HTTPException,
        HttpProcessingError,
    ):
        raise UploadError(400, "The upload was cut short or is malformed. Please try again.") from None
    if client_id is None:
        raise UploadError(422, "client_id: Field required")
    if not photo:
        raise UploadError(422, "Choose a photo to send.")
    return PhotoUpload(client_id, photo)


async def _read_limited(part: BodyPartReader, limit: int) -> bytes | None:
    """The part's bytes, or None as soon as there are more than `limit` of them."""
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        data.extend(chunk)
        if len(data) > limit:
            return None
    return bytes(data)


def _check_plain(part: BodyPartReader) -> None:
    """Browsers send a file as it is; an encoded one (gzip, base64) could hide its real size."""
    encodings = (
        part.headers.get("Content-Encoding", "").strip().lower(),
        part.headers.get("Content-Transfer-Encoding", "").strip().lower(),
    )
    if any(e not in PLAIN_ENCODINGS for e in encodings):
        raise UploadError(415, "Send the photo file as it is, not compressed or encoded.")
