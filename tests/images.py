"""Test photos made with Pillow: tagged with a location and other metadata, oversized, broken."""

from __future__ import annotations

import io
import os
import struct
import zlib

from PIL import ExifTags, Image, ImageCms, PngImagePlugin

MIB = 1024 * 1024
GPS = {1: "N", 2: (37.0, 46.0, 29.7), 3: "W", 4: (122.0, 25.0, 9.8)}
SECRET = "secret-12-elm-street"
XMP = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description>{SECRET}</rdf:Description></x:xmpmeta>'
RED = (255, 0, 0)
BLUE = (0, 0, 255)


def two_colour(width: int = 40, height: int = 20) -> Image.Image:
    """Left half red, right half blue: which way up it is shows after any rotation."""
    image = Image.new("RGB", (width, height), RED)
    image.paste(BLUE, (width // 2, 0, width, height))
    return image


def located_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Phone Maker"
    exif[ExifTags.Base.BodySerialNumber] = SECRET
    exif[ExifTags.IFD.GPSInfo] = GPS
    return exif


def photo(fmt: str = "JPEG", *, orientation: int = 1, image: Image.Image | None = None) -> bytes:
    """A photo as a phone would send it: GPS position, camera serial, XMP, comment, ICC profile."""
    image = image or two_colour()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    exif = located_exif(orientation)
    if fmt == "JPEG":
        image.save(out, "JPEG", exif=exif, comment=SECRET.encode(), xmp=XMP.encode(), icc_profile=icc)
    elif fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", SECRET)
        info.add_itxt("XML:com.adobe.xmp", XMP)
        image.save(out, "PNG", exif=exif, pnginfo=info, icc_profile=icc)
    else:
        image.save(out, fmt, exif=exif, xmp=XMP.encode(), icc_profile=icc)
    return out.getvalue()


def pdf() -> bytes:
    """A real PDF (which a resident might rename to .jpg)."""
    out = io.BytesIO()
    Image.new("RGB", (10, 10), "white").save(out, "PDF")
    return out.getvalue()


def noise_png(megabytes: float) -> bytes:
    """A valid, uncompressed PNG of random pixels, about `megabytes` MiB."""
    side = int((megabytes * MIB / 3) ** 0.5)
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=0)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb's calling card."""
    out = io.BytesIO()
    Image.new("L", (8, 8)).save(out, "PNG")
    data = bytearray(out.getvalue())
    data[16:24] = struct.pack(">II", width, height)  # IHDR width and height
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # its checksum, so it looks genuine
    return bytes(data)


def has_location(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        return bool(image.getexif().get_ifd(ExifTags.IFD.GPSInfo))


def metadata_left(data: bytes) -> list[str]:
    """Everything in a stored file that could say where, who or with what it was taken."""
    found = []
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        if exif:
            found.append(f"EXIF {dict(exif)}")
        if exif.get_ifd(ExifTags.IFD.GPSInfo):
            found.append("GPS")
        found += [key for key in ("exif", "xmp", "comment", "icc_profile", "Comment") if key in image.info]
        found += [str(key) for key in image.info if "xmp" in str(key).lower()]
    for marker in (SECRET.encode(), b"Exif\x00\x00", b"Phone Maker", b"adobe:ns:meta"):
        if marker in data:
            found.append(repr(marker))
    return found
