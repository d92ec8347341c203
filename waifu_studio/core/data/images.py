"""One image file -> one face: (resolution, resolution, 3) uint8, or a short reason it was skipped.

Every file is decoded from its content (PNGs named .jpg are common), turned into RGB on white,
centre-cropped and resized. A bad file is skipped with a short, stable reason ("zero bytes",
"not an image", "truncated", "unreadable", "too many pixels", "too small", "unsupported format",
"hidden") that ``FaceDataset.summary()`` counts for the user.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import threading
import zlib

import numpy as np
from PIL import BmpImagePlugin, GifImagePlugin, Image, ImageOps, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

from ..errors import DataError

# Bump when decoding changes (crop, resampling, colour handling): old caches then stop matching.
LOADER_VERSION = 1
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"})
MAX_PIXELS = 64_000_000  # refuse larger images before decoding (decompression bombs)
MAX_FILE_BYTES = 256 * 1024 * 1024  # no face image is this big; don't read one into memory
MIN_SIDE = 8
# The only decoders a dataset file may reach (an MPO is a JPEG and opens through the JPEG one).
# Importing their plugins registers them in Image.OPEN without loading every other plugin.
_PLUGINS = (JpegImagePlugin, PngImagePlugin, WebPImagePlugin, BmpImagePlugin, GifImagePlugin)
_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
# What a broken or hostile file can make Pillow raise while parsing or decoding it.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, struct.error,
                  zlib.error)
_PLUGIN_INIT_LOCK = threading.Lock()  # Image.init() fills Image.OPEN while another thread may read it
_REASON_TEXT = {
    "zero bytes": "the file is empty",
    "not an image": "this is not an image file",
    "truncated": "the image data is truncated or corrupt",
    "unreadable": "the file cannot be read",
    "too many pixels": f"the image is larger than {MAX_PIXELS // 1_000_000} megapixels",
    "too small": f"the image is smaller than {MIN_SIDE}x{MIN_SIDE} pixels",
    "unsupported format": "the image format is not supported (use JPEG, PNG, WebP, BMP or GIF)",
    "hidden": "the file is hidden",
}


class ImageSkipped(Exception):
    """A file that cannot be used as a face; ``reason`` is one of the short stable strings."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# ---------------------------------------------------------------------------- one image


def _open_restricted(data: io.BytesIO, name: str) -> Image.Image:
    """Parse the header with one of our five decoders, chosen by content, never by file name.

    ``Image.open`` would do this too, but it warns about large images (DecompressionBombWarning)
    before we could see the size; we check the size ourselves right after the header is read.
    """
    prefix = data.getvalue()[:16]
    for fmt in _FORMATS:
        factory, accept = Image.OPEN[fmt]
        verdict = accept(prefix) if accept else True
        if isinstance(verdict, str):  # e.g. a WebP file but Pillow was built without WebP
            raise ImageSkipped("unsupported format", verdict)
        if verdict:
            data.seek(0)
            try:
                return factory(data, name)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:  # a huge first GIF frame
                raise ImageSkipped("too many pixels", str(err)) from None
            except _DECODE_ERRORS as err:
                raise ImageSkipped("truncated", f"bad {fmt} header: {err}") from None
    with _PLUGIN_INIT_LOCK:
        Image.init()  # all plugins, only to name what this file is
        openers = list(Image.OPEN.items())
    for fmt, (_factory, accept) in openers:
        if accept is not None and fmt not in _FORMATS and accept(prefix) is True:
            raise ImageSkipped("unsupported format", fmt)
    raise ImageSkipped("not an image", "content is not JPEG, PNG, WebP, BMP or GIF")


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any mode -> RGB. High bit depths are scaled (not clipped); transparency goes on white."""
    if im.mode.startswith("I") or im.mode == "F":
        values = np.asarray(im).astype(np.float64)
        if im.mode == "F":
            values = values * 255.0 if values.max(initial=0.0) <= 1.0 else values
        elif im.mode != "I" or values.max(initial=0.0) > 255:
            values = values / 257.0  # 16-bit range 0..65535 -> 0..255
        im = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")
    if im.mode == "RGB" and "transparency" not in im.info:
        return im
    if im.has_transparency_data:
        rgba = im.convert("RGBA")
        white = Image.new("RGB", im.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return im.convert("RGB")


def _square_face(im: Image.Image, resolution: int) -> Image.Image:
    """Centre square crop, resized with antialiasing (reduce() first for big images: fast)."""
    w, h = im.size
    side = min(w, h)
    box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
    if side == resolution:
        return im if w == h else im.crop(box)
    return im.resize((resolution, resolution), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)


def decode_face(path: str | os.PathLike[str], resolution: int) -> np.ndarray:
    """One image file -> (resolution, resolution, 3) uint8. Raises ``ImageSkipped`` for a bad file."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise ImageSkipped("zero bytes")
            if size > MAX_FILE_BYTES:
                raise ImageSkipped("too many pixels", f"file is {size / 2**20:.0f} MiB")
            # One read, then all parsing works on memory: an OSError after this is bad data, not I/O.
            data = io.BytesIO(f.read())
    except OSError as err:
        raise ImageSkipped("unreadable", err.strerror or str(err)) from None
    im = _open_restricted(data, name)
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise ImageSkipped("too many pixels", f"{w}x{h}")
    if min(w, h) < MIN_SIDE:
        raise ImageSkipped("too small", f"{w}x{h}")
    try:
        scale = min(w, h) // (2 * resolution)
        if im.format in ("JPEG", "MPO") and scale >= 2:
            im.draft(im.mode, (w // scale, h // scale))  # let libjpeg decode at 1/2, 1/4 or 1/8 size
        im.load()
        with contextlib.suppress(*_DECODE_ERRORS):  # a malformed EXIF block: keep the pixels as stored
            ImageOps.exif_transpose(im, in_place=True)
        face = _square_face(_to_rgb(im), resolution)
        return np.asarray(face, dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageSkipped("too many pixels", str(err)) from None
    except MemoryError:
        raise ImageSkipped("too many pixels", f"{w}x{h}: out of memory while decoding") from None
    except _DECODE_ERRORS as err:
        raise ImageSkipped("truncated", str(err) or type(err).__name__) from None


def load_image_file(path: str | os.PathLike[str], resolution: int) -> np.ndarray:
    """Like ``decode_face`` (for one dropped or named image) but raises ``DataError`` for a person to read."""
    try:
        return decode_face(path, resolution)
    except ImageSkipped as skip:
        detail = f" ({skip.detail})" if skip.detail else ""
        raise DataError(f"cannot use {os.fspath(path)}: {_REASON_TEXT.get(skip.reason, skip.reason)}{detail}") from None
