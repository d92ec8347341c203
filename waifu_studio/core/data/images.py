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
from ..io.files import open_regular

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
        verdict = _accepts(accept, prefix)
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
        if accept is not None and fmt not in _FORMATS and _accepts(accept, prefix) is True:
            raise ImageSkipped("unsupported format", fmt)
    raise ImageSkipped("not an image", "content is not JPEG, PNG, WebP, BMP or GIF")


def _accepts(accept: object, prefix: bytes) -> bool | str:
    """A plugin's content sniffer, which may itself fail on a prefix of 1-3 bytes (BMP's unpacks 4)."""
    if accept is None:
        return True
    try:
        return accept(prefix)  # type: ignore[operator]
    except _DECODE_ERRORS:
        return False


_JPEG_STANDALONE = (0x01, *range(0xD0, 0xD8))  # TEM and RSTn carry no length
# Markers that may follow a scan: tables, restart interval, another scan, EOI, APPn, comment, DNL.
_JPEG_AFTER_SCAN = frozenset({0xC4, 0xCC, 0xDA, 0xD9, 0xDB, 0xDC, 0xDD, 0xFE, *range(0xE0, 0xF0)})
_JPEG_PROBE = bytes(range(0x11, 0xF1, 0x0F)) * 2  # no 0xFF byte, so never a marker or stuffing


def jpeg_with_probes(data: bytes) -> bytes | None:
    """``data`` with junk bytes inserted where each scan's entropy-coded data ends (None: not a JPEG).

    libjpeg treats scan data that ends early (or hits a marker too soon) as a warning and fills the
    missing blocks with flat grey, so such a file would load as a damaged face; Pillow ignores the
    warning. A scan that holds every block never decodes bytes after its end (the decoder only
    reads ahead into its bit buffer, and skips the rest as "extraneous bytes" before the next
    marker), so decoding this copy gives the same pixels; a short scan decodes the junk instead
    and the pixels differ. Comparing the two decodes is the strict check Pillow lacks.

    Raises ``ImageSkipped`` when what follows a scan is not a marker that can follow one (random
    bytes over the scan data contain such stray markers, which libjpeg also only warns about).
    """
    if not data.startswith(b"\xff\xd8"):
        return None
    pieces, pos, size, start, scans = [], 2, len(data), 0, 0
    while pos + 1 < size:
        if data[pos] != 0xFF:
            if scans:
                raise ImageSkipped("truncated", "JPEG scan data is corrupt (no marker after a scan)")
            return None  # damaged headers: the decoder judges the file alone
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if scans and marker not in _JPEG_AFTER_SCAN:
            raise ImageSkipped("truncated", f"JPEG scan data is corrupt (stray marker 0x{marker:02X})")
        if marker == 0xD9:
            break
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if pos + 4 > size:
            return None
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDA:  # entropy-coded data runs to the next marker that is not stuffing or RSTn
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= size:
                    return None  # no end marker at all: the decoder reports the truncation itself
                following = data[pos + 1]
                if following == 0xFF:
                    pos += 1
                elif following == 0x00 or 0xD0 <= following <= 0xD7:
                    pos += 2
                else:
                    break
            pieces += [data[start:pos], _JPEG_PROBE]
            start, scans = pos, scans + 1
    return b"".join([*pieces, data[start:]]) if scans else None


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


def _load_pixels(im: Image.Image, resolution: int) -> None:
    """Decode ``im``, letting libjpeg decode at 1/2, 1/4 or 1/8 size when that still covers ``resolution``."""
    w, h = im.size
    scale = min(w, h) // (2 * resolution)
    if im.format in ("JPEG", "MPO") and scale >= 2:
        im.draft(im.mode, (w // scale, h // scale))
    im.load()


def decode_face(path: str | os.PathLike[str], resolution: int) -> np.ndarray:
    """One image file -> (resolution, resolution, 3) uint8. Raises ``ImageSkipped`` for a bad file."""
    name = os.fspath(path)
    try:
        with open_regular(name) as f:  # a FIFO swapped in after the folder scan must not block
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise ImageSkipped("zero bytes")
            if size > MAX_FILE_BYTES:
                raise ImageSkipped("too many pixels", f"file is {size / 2**20:.0f} MiB")
            # One read, then all parsing works on memory: an OSError after this is bad data, not I/O.
            content = f.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise ImageSkipped("unreadable", err.strerror or str(err)) from None
    im = _open_restricted(io.BytesIO(content), name)
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise ImageSkipped("too many pixels", f"{w}x{h}")
    if min(w, h) < MIN_SIDE:
        raise ImageSkipped("too small", f"{w}x{h}")
    try:
        _load_pixels(im, resolution)
        probed = jpeg_with_probes(content) if im.format in ("JPEG", "MPO") else None
        if probed is not None:
            probe = _open_restricted(io.BytesIO(probed), name)
            _load_pixels(probe, resolution)
            if probe.tobytes() != im.tobytes():
                raise ImageSkipped("truncated", "JPEG scan data is shorter than the image or corrupt")
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
