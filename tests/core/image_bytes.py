"""Image files made byte by byte for the tests: encoded noise, hand-built PNGs, damaged JPEGs."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def noise(size: tuple[int, int] = (24, 24), mode: str = "RGB", seed: int = 0) -> Image.Image:
    """Mid-range random pixels (no pure black or white), converted to ``mode``."""
    w, h = size
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(40, 216, (h, w, 3), dtype=np.uint8)).convert(mode)


def encoded(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def png_chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png(width: int, height: int, color_type: int, depth: int, raw: bytes, interlace: int = 0,
        header_crc: int | None = None, idat_crc: int | None = None) -> bytes:
    """A PNG with the given IHDR fields and ``raw`` (filter bytes included) as its one IDAT."""
    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header, header_crc)
            + png_chunk(b"IDAT", zlib.compress(raw), idat_crc) + png_chunk(b"IEND", b""))


def jpeg_short_scan(keep: float = 0.5, size: int = 64, progressive: bool = False) -> bytes:
    """A JPEG whose scan data is cut to ``keep`` of its length but which still ends in EOI.

    libjpeg only warns about the missing blocks and fills them grey; Pillow then loads it.
    """
    data = encoded(noise((size, size)), "JPEG", quality=90, progressive=progressive)
    scan = data.rfind(b"\xff\xda")
    return data[:scan + int((len(data) - scan) * keep)] + b"\xff\xd9"


def jpeg_corrupt_scan(fraction: float = 0.3, seed: int = 1) -> bytes:
    """A JPEG with ``fraction`` of its scan data overwritten by random bytes (EOI kept), as a
    damaged download or disk gives; such bytes include stray markers that libjpeg only warns about."""
    data = bytearray(encoded(noise((64, 64)), "JPEG", quality=90))
    scan = data.rfind(b"\xff\xda") + 20
    length = int((len(data) - 2 - scan) * fraction)
    start = scan + (len(data) - 2 - scan - length) // 2
    data[start:start + length] = np.random.default_rng(seed).integers(0, 256, length, dtype=np.uint8).tobytes()
    return bytes(data)
