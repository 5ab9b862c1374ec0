"""Residents' photos: checked, cleaned and stored under unguessable keys.

A photo from a phone carries where it was taken (EXIF GPS), often the camera's
serial number and sometimes a comment or an edit history (XMP). None of that
may reach the disk, staff or another resident, so every photo is decoded and
drawn afresh into a new image that has never held any metadata, then encoded
again. Decoding is what also proves the bytes are a photo at all: the name and
the type the browser claims are never trusted.

What was chosen, and why:
- Only JPEG, PNG and WebP, recognised by their first bytes and decoded by
  Pillow's plugin for that one format (no other decoder ever sees the bytes).
- At most `MAX_PIXELS` (50 megapixels): beyond that a small file can still
  expand to gigabytes in memory (a "decompression bomb").
- The longest side is brought down to `MAX_SIDE` (2560 px): plenty for staff
  to see a pothole, and it keeps stored photos to a few hundred kilobytes.
- The EXIF orientation is applied first, so a photo taken holding the phone
  upright stays upright once the EXIF that said so is gone.
- Colours tagged with an ICC profile (Display P3 on iPhones) are converted to
  sRGB before the profile is dropped, so they do not shift.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms

from bot.messages import Photo

MAX_PIXELS = 50_000_000
MAX_SIDE = 2560
JPEG_QUALITY = 85
WEBP_QUALITY = 85
KEY_BYTES = 24  # 192 bits, 32 URL-safe characters
KEY = re.compile(r"^[A-Za-z0-9_-]{32}\.(?:jpg|png|webp)$")
# The store's own temporary files: an upload being written (renamed to its key when whole)
# and the start-up check that the folder is writable. A process killed at the wrong moment
# leaves them behind; the media sweep (bot/media_sweep.py) removes them by these names only.
UPLOAD_PREFIX, UPLOAD_SUFFIX = ".upload-", ".part"
WRITE_TEST_PREFIX = ".write-test-"
TEMPORARY = re.compile(r"^(?:\.upload-[a-z0-9_]{1,32}\.part|\.write-test-[a-z0-9_]{1,32})$")
MIB = 1024 * 1024

NOT_A_PHOTO = "That file isn't a photo I can take. Please send a JPEG, PNG or WebP picture."
DAMAGED = "That photo seems to be damaged or incomplete. Please try sending it again."


@dataclass(frozen=True, slots=True)
class _Format:
    pillow: str  # Pillow's name of the format, which also selects its only decoder
    extension: str
    content_type: str


JPEG = _Format("JPEG", "jpg", "image/jpeg")
PNG = _Format("PNG", "png", "image/png")
WEBP = _Format("WEBP", "webp", "image/webp")
CONTENT_TYPES = {f.extension: f.content_type for f in (JPEG, PNG, WEBP)}


log = logging.getLogger(__name__)
CANNOT_STORE = (
    "Photos can't be saved right now. Please try again in a little while, or send the report without one."
)


class MediaError(ValueError):
    """A photo was refused; the message is meant for the resident who sent it."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def valid_key(key: str) -> bool:
    """Whether `key` could be one of ours: no path separators, dots or other surprises."""
    return bool(KEY.fullmatch(key))


def format_mb(size: int) -> str:
    return f"{size / MIB:.1f}".removesuffix(".0")


def too_large(size: int, max_bytes: int) -> MediaError:
    return MediaError(
        f"That photo is {size / MIB:.1f} MB; the limit is {format_mb(max_bytes)} MB. "
        "Please send a smaller photo.",
        413,
    )


def over_limit(max_bytes: int) -> MediaError:
    """For an upload cut off at the limit, whose full size is therefore unknown."""
    return MediaError(
        f"That photo is larger than the {format_mb(max_bytes)} MB limit. Please send a smaller photo.", 413
    )


def sniff(data: bytes) -> _Format | None:
    """The format the first bytes announce, whatever the file was called."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


class MediaStore:
    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        public_url: str,
        max_pixels: int = MAX_PIXELS,
        max_side: int = MAX_SIDE,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.public_url = public_url.rstrip("/")
        self.max_pixels = max_pixels
        self.max_side = max_side

    @staticmethod
    def unwritable(directory: Path) -> str | None:
        """Why photos cannot be stored in `directory`, or None when they can: checked at
        start, so an unusable folder is said then, not as a failure at the first photo."""
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=directory, prefix=WRITE_TEST_PREFIX):
                pass
        except OSError as exc:
            return exc.strerror or str(exc)
        return None

    def check_size(self, size: int) -> None:
        """Refuse early, before reading a body whose announced size is already too big."""
        if size > self.max_bytes:
            raise too_large(size, self.max_bytes)

    async def save(self, data: bytes) -> Photo:
        """Check, clean and store one photo; raises MediaError for anything refused.

        Decoding and encoding run in a worker thread: a large photo takes a good
        fraction of a second, during which the server keeps answering others.
        """
        self.check_size(len(data))
        cleaned, fmt = await asyncio.to_thread(clean, data, self.max_pixels, self.max_side)
        key = f"{secrets.token_urlsafe(KEY_BYTES)}.{fmt.extension}"
        try:
            await asyncio.to_thread(self._write, key, cleaned)
        except OSError as exc:  # a full disk (ENOSPC), a quota, a folder gone read-only
            log.error("cannot store a photo in %s: %s", self.directory, exc)
            raise MediaError(CANNOT_STORE, 503) from None
        return Photo(key, fmt.content_type)

    def _write(self, key: str, data: bytes) -> None:
        """Temp file in the same directory, then rename: a reader sees all of it or nothing."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=UPLOAD_PREFIX, suffix=UPLOAD_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, 0o644)  # a reverse proxy may serve the directory directly
            os.replace(temp, self.directory / key)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    def path(self, key: str) -> Path | None:
        if not valid_key(key):
            return None
        path = self.directory / key
        return path if path.is_file() else None

    def url(self, key: str) -> str:
        return f"{self.public_url}/media/{key}"

    def content_type(self, key: str) -> str:
        return CONTENT_TYPES.get(key.rpartition(".")[2], "application/octet-stream")

    def discard(self, key: str) -> None:
        """Remove a photo stored for a message that was then not recorded."""
        path = self.path(key)
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def clean(data: bytes, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> tuple[bytes, _Format]:
    """The photo decoded, upright, in sRGB, at most `max_side`, re-encoded without metadata."""
    fmt = sniff(data)
    if fmt is None:
        raise MediaError(NOT_A_PHOTO, 415)
    try:
        image = Image.open(io.BytesIO(data), formats=[fmt.pillow])
    except Image.DecompressionBombError:
        raise MediaError(_too_many_pixels(max_pixels), 413) from None
    except Exception:  # any decoder complaint about the header means the file is broken
        raise MediaError(DAMAGED, 400) from None
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise MediaError(_too_many_pixels(max_pixels, width, height), 413)
        if width < 1 or height < 1:
            raise MediaError(DAMAGED, 400)
        try:
            picture = _decode(image, fmt, max_side)
        except MemoryError:
            raise
        except Exception:  # truncated data, bad checksums, corrupt entropy coding
            raise MediaError(DAMAGED, 400) from None
    return _encode(picture, fmt), fmt


def _too_many_pixels(max_pixels: int, width: int = 0, height: int = 0) -> str:
    size = f" ({width:,} × {height:,} pixels)" if width else ""
    return (
        f"That photo is too big to handle{size}; the limit is {max_pixels / 1_000_000:g} megapixels. "
        "Please send a smaller photo."
    )


def _decode(image: Image.Image, fmt: _Format, max_side: int) -> Image.Image:
    orientation = _orientation(image)
    icc = image.info.get("icc_profile")
    if fmt is JPEG:
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the photo is far larger than
        # what is kept: much less memory and time, and the result is still >= max_side.
        scale = max_side / max(image.size)
        if scale < 1:
            image.draft(None, (max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    image.load()  # the first frame, for an animated WebP or PNG
    picture: Image.Image = image
    transpose = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation)
    if transpose is not None:
        picture = picture.transpose(transpose)
    picture = _to_srgb(picture, icc)
    picture = _plain_mode(picture, fmt)
    if max(picture.size) > max_side:
        picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    # Drawn into a brand-new image: nothing of the original's metadata comes along
    # (Pillow copies `info`, comments included, through every transform).
    fresh = Image.new(picture.mode, picture.size)
    fresh.paste(picture)
    return fresh


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation; a photo whose EXIF cannot be read is taken as it is."""
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) else 1


def _to_srgb(picture: Image.Image, icc: object) -> Image.Image:
    if not isinstance(icc, bytes) or not icc or picture.mode not in ("RGB", "RGBA", "CMYK"):
        return picture
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        out_mode = "RGBA" if picture.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(
            picture, source, ImageCms.createProfile("sRGB"), outputMode=out_mode
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return picture  # a broken profile: keep the colours as they are
    return converted if converted is not None else picture


def _plain_mode(picture: Image.Image, fmt: _Format) -> Image.Image:
    """A mode the output format stores as it is: grey or colour, with alpha where kept."""
    if picture.mode.startswith("I") or picture.mode == "F":
        picture = _eight_bit_grey(picture)
    alpha = picture.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        picture.mode == "P" and "transparency" in picture.info
    )
    if fmt is JPEG:
        return picture if picture.mode in ("L", "RGB") else picture.convert("RGB")
    if fmt is PNG and picture.mode in ("L", "LA", "RGB", "RGBA"):
        return picture
    if fmt is WEBP and picture.mode in ("RGB", "RGBA"):
        return picture
    return picture.convert("RGBA" if alpha else "RGB")


def _eight_bit_grey(picture: Image.Image) -> Image.Image:
    """A 16-bit (or 32-bit, or float) grey image as 8-bit grey, by scaling. Pillow's own
    conversion clips every value over 255, which turns a 16-bit photo pure white."""
    sixteen = picture.mode.startswith("I;16")
    wide = picture.convert("I") if sixteen else picture
    high = wide.getextrema()[1]
    top = 65535 if sixteen else max(float(high), 255.0)  # type: ignore[arg-type]
    return wide.point(lambda v: v * (255 / top)).convert("L")


def _encode(picture: Image.Image, fmt: _Format) -> bytes:
    out = io.BytesIO()
    if fmt is JPEG:
        picture.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    elif fmt is PNG:
        picture.save(out, "PNG")
    else:
        picture.save(out, "WEBP", quality=WEBP_QUALITY)
    return out.getvalue()
