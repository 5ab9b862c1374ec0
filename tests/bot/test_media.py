"""The photo store: what it accepts, what it strips, what it refuses, where it writes."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from bot.media import KEY_BYTES, MediaError, MediaStore
from bot.services import Services
from bot.settings import load_settings
from tests.images import (
    BLUE,
    MIB,
    RED,
    has_location,
    metadata_left,
    noise_png,
    pdf,
    photo,
    png_claiming,
    two_colour,
)

LIMIT = 10 * MIB


@pytest.fixture
def store(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media", max_bytes=LIMIT, public_url="https://311.example.gov")


def files(store: MediaStore) -> list[str]:
    """Everything in the media directory, temporary files included."""
    return sorted(p.name for p in store.directory.iterdir()) if store.directory.exists() else []


def near(pixel: object, colour: tuple[int, int, int]) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(a - b) < 40 for a, b in zip(pixel[:3], colour, strict=True))


@pytest.mark.parametrize(
    ("fmt", "extension", "content_type"),
    [("JPEG", "jpg", "image/jpeg"), ("PNG", "png", "image/png"), ("WEBP", "webp", "image/webp")],
)
async def test_jpeg_png_and_webp_are_stored_under_an_unguessable_key(
    store: MediaStore, fmt: str, extension: str, content_type: str
) -> None:
    stored = await store.save(photo(fmt))
    assert re.fullmatch(rf"[A-Za-z0-9_-]{{32}}\.{extension}", stored.key)
    assert stored.content_type == content_type == store.content_type(stored.key)
    path = store.path(stored.key)
    assert path is not None and path.parent == store.directory
    with Image.open(path) as image:
        assert image.format == fmt and image.size == (40, 20)
    assert files(store) == [stored.key]  # no temporary file left beside it
    assert store.url(stored.key) == f"https://311.example.gov/media/{stored.key}"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
async def test_location_and_every_other_metadata_are_gone_before_the_file_is_written(
    store: MediaStore, fmt: str
) -> None:
    sent = photo(fmt)
    assert has_location(sent) and len(metadata_left(sent)) >= 3  # the input really carries them
    stored = await store.save(sent)
    path = store.path(stored.key)
    assert path is not None
    kept = path.read_bytes()
    assert not has_location(kept)
    assert metadata_left(kept) == []


@pytest.mark.parametrize(
    ("orientation", "size", "red_at", "blue_at"),
    [
        (1, (40, 20), (5, 10), (35, 10)),  # as taken
        (3, (40, 20), (35, 10), (5, 10)),  # upside down
        (6, (20, 40), (10, 5), (10, 35)),  # phone held upright, turned right
        (8, (20, 40), (10, 35), (10, 5)),  # phone held upright, turned left
    ],
)
async def test_the_photo_is_turned_upright_before_its_exif_is_dropped(
    store: MediaStore,
    orientation: int,
    size: tuple[int, int],
    red_at: tuple[int, int],
    blue_at: tuple[int, int],
) -> None:
    stored = await store.save(photo("JPEG", orientation=orientation))
    path = store.path(stored.key)
    assert path is not None
    with Image.open(path) as image:
        assert image.size == size
        assert near(image.getpixel(red_at), RED) and near(image.getpixel(blue_at), BLUE)
        assert image.getexif().get(0x0112) is None  # no orientation left to apply twice


async def test_very_large_photos_are_brought_down_to_2560_pixels(store: MediaStore) -> None:
    stored = await store.save(photo("JPEG", image=two_colour(4000, 3000)))
    path = store.path(stored.key)
    assert path is not None
    with Image.open(path) as image:
        assert image.size == (2560, 1920)


async def test_transparency_survives_in_png(store: MediaStore) -> None:
    out = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 255, 0, 0)).save(out, "PNG")
    stored = await store.save(out.getvalue())
    path = store.path(stored.key)
    assert path is not None
    with Image.open(path) as image:
        assert image.mode == "RGBA" and image.getpixel((5, 5))[3] == 0  # type: ignore[index]


def _truncated_jpeg() -> bytes:
    data = photo("JPEG", image=two_colour(400, 300))
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("data", "status", "says"),
    [
        (pdf(), 415, "isn't a photo"),  # whatever it was called: report.jpg
        (b"pothole on Elm Street\n" * 20, 415, "isn't a photo"),
        (b"GIF89a" + b"\x00" * 100, 415, "JPEG, PNG or WebP"),
        (b"", 415, "isn't a photo"),
        (_truncated_jpeg(), 400, "damaged or incomplete"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 40, 400, "damaged or incomplete"),  # a JPEG's start only
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 400, "damaged or incomplete"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 40, 400, "damaged or incomplete"),
        (png_claiming(30_000, 30_000), 413, "50 megapixels"),  # Pillow's own bomb check
        (png_claiming(10_000, 6_000), 413, "10,000 × 6,000 pixels"),  # ours, below Pillow's
    ],
    # Named ids: the generated files carry timestamps, and pytest-xdist needs every worker
    # to collect the very same test names.
    ids=[
        "pdf",
        "text",
        "gif",
        "empty",
        "truncated-jpeg",
        "jpeg-start",
        "png-start",
        "webp-start",
        "pillow-bomb",
        "our-pixel-limit",
    ],
)
async def test_what_is_not_a_usable_photo_is_refused_and_nothing_is_written(
    store: MediaStore, data: bytes, status: int, says: str
) -> None:
    with pytest.raises(MediaError) as refused:
        await store.save(data)
    assert refused.value.status == status
    assert says in str(refused.value)
    assert files(store) == []


async def test_a_30_mb_photo_is_refused_with_its_size_and_the_limit(store: MediaStore) -> None:
    data = noise_png(30.2)
    with Image.open(io.BytesIO(data)) as image:
        image.verify()  # a genuine photo, refused for its size alone
    with pytest.raises(MediaError) as refused:
        await store.save(data)
    assert refused.value.status == 413
    assert str(refused.value).startswith(f"That photo is {len(data) / MIB:.1f} MB; the limit is 10 MB.")
    assert "30.2 MB" in str(refused.value)
    assert files(store) == []


def test_keys_are_long_random_and_path_refuses_anything_else(store: MediaStore, tmp_path: Path) -> None:
    assert KEY_BYTES * 8 >= 128
    (tmp_path / "secret.txt").write_text("not a photo")
    store.directory.mkdir()
    (store.directory / ".upload-abc.part").write_bytes(b"half")
    for key in [
        "../secret.txt",
        "..",
        "",
        ".upload-abc.part",
        "a/b.jpg",
        "%2e%2e%2fsecret.txt",
        "A" * 32 + ".jpg/../../secret.txt",
        "A" * 32 + ".gif",
        "A" * 32 + ".jpg\n",
        "A" * 31 + ".jpg",
        "/etc/passwd",
        "A" * 32 + ".jpg",  # well formed, but no such photo
    ]:
        assert store.path(key) is None, key


async def test_every_photo_gets_its_own_key(store: MediaStore) -> None:
    data = photo("PNG")
    keys = {(await store.save(data)).key for _ in range(20)}
    assert len(keys) == 20 and sorted(files(store)) == sorted(keys)


async def test_decoding_runs_off_the_event_loop(store: MediaStore) -> None:
    """While a big photo is cleaned, other requests' coroutines keep running."""
    data = photo("PNG", image=Image.frombytes("RGB", (2000, 2000), bytes(range(256)) * 46875))
    ticks = 0
    saving = asyncio.create_task(store.save(data))
    while not saving.done():
        ticks += 1
        await asyncio.sleep(0)
    await saving
    assert ticks > 10


async def test_a_discarded_photo_is_gone(store: MediaStore) -> None:
    stored = await store.save(photo("JPEG"))
    store.discard(stored.key)
    store.discard("../../etc/passwd")  # nothing outside the store is ever touched
    assert store.path(stored.key) is None and files(store) == []


def test_the_store_is_built_from_the_settings(tmp_path: Path) -> None:
    settings = load_settings(
        MEDIA_DIR=tmp_path / "photos", MAX_PHOTO_MB=2.5, PUBLIC_URL="https://311.example.gov/", _env_file=None
    )
    media = Services(settings).media
    assert media is not None
    assert media.directory == tmp_path / "photos" and media.max_bytes == int(2.5 * MIB)
    assert media.url("k.jpg") == "https://311.example.gov/media/k.jpg"
    with pytest.raises(MediaError, match=r"the limit is 2\.5 MB"):
        media.check_size(3 * MIB)
    assert not (tmp_path / "photos").exists()  # made when the first photo arrives, not before


@pytest.mark.parametrize("bits", ["I;16", "I;16B"])
async def test_a_deep_grey_photo_keeps_its_tones(store: MediaStore, bits: str) -> None:
    """16-bit greyscale (medical and scanner PNGs) used to come out pure white: Pillow clips
    every value over 255 when it converts to 8 bits."""
    top = 65535
    ramp = Image.new(bits, (64, 64))
    ramp.putdata([round(top * i / (64 * 64 - 1)) for i in range(64 * 64)])
    sent = io.BytesIO()
    ramp.save(sent, "PNG")
    saved = await store.save(sent.getvalue())
    kept = Image.open(store.path(saved.key))  # type: ignore[arg-type]
    assert kept.mode == "L"
    low, high = kept.getextrema()
    assert low < 5 and high > 250  # the whole range, black to white
    assert 100 < ImageStat.Stat(kept).mean[0] < 155  # a ramp: mid-grey on average
