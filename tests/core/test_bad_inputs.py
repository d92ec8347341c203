"""A corpus of bad and odd files, made by the test: every one is either loaded or skipped with its reason.

Each row of ``CORPUS`` names a file, the function that writes it, and what loading must make of
it: ``LOADED`` or the short skip reason ``core.data`` reports. Then a few training steps run on
what loaded. (tests/core/test_data.py checks colours, caching and workers in detail.)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.core.image_bytes import encoded, jpeg_corrupt_scan, jpeg_short_scan, noise, png
from waifu_studio.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from waifu_studio.core.data import load_folder
from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.training import Trainer

LOADED = "loaded"
IS_ROOT = os.geteuid() == 0


def _adam7_png(pixels: np.ndarray) -> bytes:
    """An interlaced (Adam7) RGB PNG; Pillow can read these but not write them."""
    h, w, _ = pixels.shape
    raw = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                           (0, 1, 1, 2)):
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\0" + row.tobytes() for row in sub)
    return png(w, h, 2, 8, raw, interlace=1)


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when shown
    return encoded(noise((40, 24)), "JPEG", exif=exif.tobytes())


def _animated_gif() -> bytes:
    frames = [noise(seed=i).convert("P") for i in range(3)]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


def _gif_with_transparency() -> bytes:
    im = noise().convert("P")
    return encoded(im, "GIF", transparency=0)


def _palette_with_transparency() -> bytes:
    im = noise().convert("P")
    return encoded(im, "PNG", transparency=bytes(range(256)))


def _fully_transparent() -> bytes:
    im = noise().convert("RGBA")
    im.putalpha(0)
    return encoded(im, "PNG")


def _sixteen_bit() -> bytes:
    values = np.linspace(0, 65535, 24 * 24).reshape(24, 24).astype(">u2")
    return png(24, 24, 0, 16, b"".join(b"\0" + row.tobytes() for row in values))


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _write(data: bytes | Callable[[], bytes]) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data() if callable(data) else data)
    return make


def _unreadable(path: Path) -> None:
    _write(encoded(noise(), "PNG"))(path)
    path.chmod(0)


def _self_loop(path: Path) -> None:
    os.symlink(path.name, path)  # a link to itself: ELOOP when followed


def _folder_loop(path: Path) -> None:
    os.symlink(path.parent, path)  # a folder link back to the root: must not recurse forever


def _empty_folder(path: Path) -> None:
    path.mkdir()


JPEG, PNG = (lambda: encoded(noise((64, 64)), "JPEG")), (lambda: encoded(noise((64, 64)), "PNG"))
GRAY16 = b"".join(b"\0" + bytes(range(0, 256, 16)) for _ in range(16))  # raw rows of a 16x16 gray PNG
NON_UTF8 = os.fsdecode(b"caf\xe9-\xff.png")
LONG = "l" * 246 + ".png"  # 250 bytes: near the 255-byte limit of most file systems

CORPUS: list[tuple[str, Callable[[Path], None], str]] = [
    ("zero_bytes.jpg", _write(b""), "zero bytes"),
    ("truncated.jpg", _write(lambda: _half(JPEG())), "truncated"),
    ("truncated.png", _write(lambda: _half(PNG())), "truncated"),
    ("jpeg_soi_only.jpg", _write(b"\xff\xd8\xff"), "truncated"),
    ("png_signature_only.png", _write(b"\x89PNG\r\n\x1a\n"), "truncated"),
    ("png_named.jpg", _write(PNG), LOADED),
    ("jpeg_named.png", _write(JPEG), LOADED),
    ("text_named.png", _write(b"hello, I am a text file\n" * 4), "not an image"),
    ("html_named.jpg", _write(b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n"), "not an image"),
    ("svg_named.png", _write(b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>'), "not an image"),
    ("empty_zip.png", _write(b"PK\x05\x06" + b"\0" * 18), "not an image"),
    ("pdf_named.png", _write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"), "not an image"),
    ("icon_named.png", _write(lambda: encoded(noise((32, 32)), "ICO")), "unsupported format"),
    ("cmyk.jpg", _write(lambda: encoded(noise(mode="CMYK"), "JPEG")), LOADED),
    ("sixteen_bit.png", _write(_sixteen_bit), LOADED),
    ("palette_transparency.png", _write(_palette_with_transparency), LOADED),
    ("palette.png", _write(lambda: encoded(noise().convert("P"), "PNG")), LOADED),
    ("one_bit.png", _write(lambda: encoded(noise().convert("1"), "PNG")), LOADED),
    ("gray_alpha.png", _write(lambda: encoded(noise(mode="LA"), "PNG")), LOADED),
    ("animated.gif", _write(_animated_gif), LOADED),
    ("transparent.gif", _write(_gif_with_transparency), LOADED),
    ("one_pixel.png", _write(lambda: encoded(noise((1, 1)), "PNG")), "too small"),
    ("seven.png", _write(lambda: encoded(noise((7, 7)), "PNG")), "too small"),
    ("wide_1000x10.png", _write(lambda: encoded(noise((1000, 10)), "PNG")), LOADED),
    ("bomb_20000.png", _write(lambda: png(20000, 20000, 0, 1, b"\0" * 64)), "too many pixels"),
    ("exif_rotated.jpg", _write(_exif_rotated), LOADED),
    ("exif_bad_orientation.jpg", _write(lambda: encoded(noise(), "JPEG", exif=b"Exif\0\0garbage")), LOADED),
    (NON_UTF8, _write(PNG), LOADED),
    (LONG, _write(PNG), LOADED),
    ("no_permission.png", _unreadable, LOADED if IS_ROOT else "unreadable"),  # root reads anything
    ("self_loop.png", _self_loop, "unreadable"),
    ("folder_loop", _folder_loop, None),  # nothing: the root is not read twice
    ("folder_named.jpg", _empty_folder, None),  # a folder, not a file: nothing to report
    ("folder_named.png/inside.png", _write(PNG), LOADED),
    (".hidden.png", _write(PNG), "hidden"),
    ("._resource_fork.jpg", _write(b"\0\5\26\7\0\2\0\0Mac OS X"), "hidden"),
    ("face.webp", _write(lambda: encoded(noise(), "WEBP")), LOADED),
    ("face.bmp", _write(lambda: encoded(noise(), "BMP")), LOADED),
    ("UPPER.PNG", _write(PNG), LOADED),
    ("gray.jpg", _write(lambda: encoded(noise(mode="L"), "JPEG")), LOADED),
    ("progressive.jpg", _write(lambda: encoded(noise((64, 64)), "JPEG", progressive=True)), LOADED),
    ("interlaced.png", _write(lambda: _adam7_png(np.asarray(noise((20, 20))))), LOADED),
    ("rgba_transparent.png", _write(_fully_transparent), LOADED),
    # Pillow checks header chunk CRCs but not the pixel data's: the pixels decode fine.
    ("bad_crc_header.png", _write(lambda: png(16, 16, 0, 8, GRAY16, header_crc=1)), "truncated"),
    ("bad_crc_pixels.png", _write(lambda: png(16, 16, 0, 8, GRAY16, idat_crc=1)), LOADED),
    ("garbage_after.jpg", _write(lambda: JPEG() + os.urandom(2000)), LOADED),
    # 1-3 bytes: too short for Pillow's format sniffers (BMP's unpacks 4 bytes), never fatal.
    ("one_byte.png", _write(b"A"), "not an image"),
    ("two_bytes.bmp", _write(b"BM"), "truncated"),  # a BMP signature, then nothing
    ("three_bytes.gif", _write(b"GIF"), "not an image"),
    # Scan data shorter than the frame (EOI still there) or corrupted: libjpeg only warns.
    ("short_scan.jpg", _write(jpeg_short_scan), "truncated"),
    ("short_scan_progressive.jpg", _write(lambda: jpeg_short_scan(progressive=True)), "truncated"),
    ("nearly_whole_scan.jpg", _write(lambda: jpeg_short_scan(keep=0.97)), "truncated"),
    ("corrupt_scan.jpg", _write(jpeg_corrupt_scan), "truncated"),  # seed 1: one Pillow alone loads
    ("notes.txt", _write(b"not an image extension: ignored"), None),
]


@pytest.fixture
def corpus(tmp_path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    for name, make, _expected in CORPUS:
        make(root / name)
    return root


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 30


def test_every_odd_file_is_loaded_or_skipped_with_its_reason_and_training_runs(corpus, tmp_path):
    ds = load_folder(corpus, 32, use_cache=False)
    expected_loaded = sorted(name for name, _, expected in CORPUS if expected == LOADED)
    expected_skipped = {name: expected for name, _, expected in CORPUS if expected not in (LOADED, None)}
    assert ds.paths == expected_loaded
    assert {s.path: s.reason for s in ds.skipped} == expected_skipped
    assert all(s.reason and isinstance(s.detail, str) for s in ds.skipped)
    assert ds.ignored == 1  # notes.txt
    assert ds.summary().startswith(f"{len(expected_loaded)} faces, {len(expected_skipped)} skipped: ")
    assert ds.images.shape == (len(expected_loaded), 32, 32, 3)
    # Fully transparent pixels land on white; a 16-bit ramp keeps its range instead of clipping to white.
    assert ds.images[ds.paths.index("rgba_transparent.png")].min() == 255
    ramp = ds.images[ds.paths.index("sixteen_bit.png")]
    assert ramp.min() < 40 and ramp.max() > 215

    config = RunConfig(ModelConfig(family="ae", resolution=32, latent_dim=16, width=8),
                       TrainConfig.for_family("ae", batch_size=8, max_steps=3, precision="fp32", device="cpu",
                                              log_every=1, sample_count=4),
                       DataConfig(source=str(corpus), resolution=32))
    result = Trainer(config, ds.images, tmp_path / "run").run()
    assert result.steps == 3
    assert load_checkpoint(result.checkpoint).family == "ae"
