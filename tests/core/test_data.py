"""Dataset loading: bad files are skipped with a reason, colours come out right, the cache is honest."""

from __future__ import annotations

import io
import os
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from waifu_studio.core import data
from waifu_studio.core.config import DataConfig
from waifu_studio.core.data import ImageSkipped, decode_face, load_dataset, load_folder
from waifu_studio.core.errors import DataError


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own cache dir: never ~/.cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("WAIFU_STUDIO_CACHE", str(cache))
    return cache


def _face(color: tuple[int, int, int], size: tuple[int, int] = (40, 40), seed: int = 0) -> Image.Image:
    """A flat colour with a little noise, so JPEG has something to compress."""
    noise = np.random.default_rng(seed).integers(-8, 9, size=(size[1], size[0], 3))
    return Image.fromarray(np.clip(np.array(color) + noise, 0, 255).astype(np.uint8))


def _save(im: Image.Image, path: Path, fmt: str, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, fmt, **kwargs)
    return path


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height 1-bit pixels, with a tiny IDAT: cheap to write, huge to decode."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _png_chunk(b"IEND", b""))


def _truncated(im: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()[: len(buf.getvalue()) // 2]


GOOD = {
    "a.jpg", "b.png", "c.webp", "d.bmp", "e.gif", "png_named.jpg", "jpeg_named.png", "UPPER.JPEG", "gray.png",
    "link.png", "x.png/inner.jpg", "sub/deeper/f.png",
}
BAD = {
    "bad/truncated.jpg": "truncated", "bad/truncated.png": "truncated", "bad/empty.jpg": "zero bytes",
    "bad/text.png": "not an image", "bad/tiny.png": "too small", "bad/bomb.png": "too many pixels",
    "bad/bomb_warns.png": "too many pixels", "bad/tiff.png": "unsupported format", ".hidden.png": "hidden",
    ".thumbs": "hidden", "broken_link.jpg": "unreadable", "pipe.png": "unreadable",
}


@pytest.fixture
def messy(tmp_path) -> Path:
    """A folder like a real scraped dataset: good faces in many formats and every kind of bad file."""
    root = tmp_path / "faces"
    _save(_face((200, 40, 40)), root / "a.jpg", "JPEG")
    _save(_face((40, 200, 40)), root / "b.png", "PNG")
    _save(_face((40, 40, 200)), root / "c.webp", "WEBP")
    _save(_face((200, 200, 40)), root / "d.bmp", "BMP")
    _save(_face((40, 200, 200)), root / "e.gif", "GIF")
    _save(_face((90, 90, 90)), root / "png_named.jpg", "PNG")
    _save(_face((120, 60, 30)), root / "jpeg_named.png", "JPEG")
    _save(_face((30, 60, 120)), root / "UPPER.JPEG", "JPEG")
    _save(_face((128, 128, 128)).convert("L"), root / "gray.png", "PNG")
    _save(_face((10, 10, 10)), root / "x.png" / "inner.jpg", "JPEG")  # a folder named like an image
    _save(_face((70, 140, 210)), root / "sub" / "deeper" / "f.png", "PNG")
    os.symlink(root / "b.png", root / "link.png")
    os.symlink(root, root / "sub" / "loop")  # must neither hang nor load everything twice
    os.symlink(root / "missing.jpg", root / "broken_link.jpg")
    os.mkfifo(root / "pipe.png")  # opening it would block forever: never opened
    bad = root / "bad"
    bad.mkdir()
    (bad / "truncated.jpg").write_bytes(_truncated(_face((1, 2, 3), (64, 64)), "JPEG"))
    (bad / "truncated.png").write_bytes(_truncated(_face((1, 2, 3), (64, 64)), "PNG"))
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "text.png").write_text("this is not a picture\n")
    _save(Image.new("RGB", (1, 1)), bad / "tiny.png", "PNG")
    (bad / "bomb.png").write_bytes(_bomb_png(20000, 20000))  # beyond Pillow's own limit: it would raise
    (bad / "bomb_warns.png").write_bytes(_bomb_png(10000, 10000))  # in Pillow's range that only warns
    _save(_face((5, 5, 5)), bad / "tiff.png", "TIFF")
    _save(_face((5, 5, 5)), root / ".hidden.png", "PNG")
    _save(_face((5, 5, 5)), root / ".thumbs" / "t.png", "PNG")
    (root / "notes.txt").write_text("not an image extension: ignored, not skipped")
    return root


def test_messy_folder_loads_good_files_and_says_why_others_were_skipped(messy):
    ds = load_folder(messy, 32)
    assert sorted(ds.paths) == sorted(GOOD) and ds.paths == sorted(ds.paths)
    assert {s.path: s.reason for s in ds.skipped} == BAD
    assert ds.images.shape == (len(GOOD), 32, 32, 3) and ds.images.dtype == np.uint8
    assert ds.images.flags.c_contiguous
    assert ds.ignored == 1
    assert ds.source == str(messy)
    assert ds.summary() == (f"{len(GOOD)} faces, 12 skipped: 2 hidden, 2 too many pixels, 2 truncated, "
                            "2 unreadable, 1 not an image, 1 too small, 1 unsupported format, 1 zero bytes")
    assert list(ds.skipped_counts().values()) == [2, 2, 2, 2, 1, 1, 1, 1]
    # Content decides the decoder: the mislabelled files hold their own colours.
    assert np.abs(ds.images[ds.paths.index("jpeg_named.png")].mean((0, 1)) - (120, 60, 30)).max() < 12
    assert np.array_equal(ds.images[ds.paths.index("link.png")], ds.images[ds.paths.index("b.png")])


def test_same_result_with_one_or_many_workers(messy):
    one = load_folder(messy, 32, workers=1, use_cache=False)
    many = load_folder(messy, 32, workers=3, use_cache=False)
    assert one.paths == many.paths and np.array_equal(one.images, many.images) and one.skipped == many.skipped


def test_bomb_is_refused_before_any_pixel_is_decoded(tmp_path, monkeypatch):
    def no_decoding(self):
        raise AssertionError("a decompression bomb was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    for side in (20000, 10000):
        path = tmp_path / f"bomb{side}.png"
        path.write_bytes(_bomb_png(side, side))
        with pytest.raises(ImageSkipped) as info:
            decode_face(path, 64)
        assert info.value.reason == "too many pixels"


def _decode(im: Image.Image, tmp_path: Path, fmt: str = "PNG", res: int = 32, **kwargs) -> np.ndarray:
    path = _save(im, tmp_path / f"one.{fmt.lower()}", fmt, **kwargs)
    return decode_face(path, res)


def test_transparency_is_composited_on_white(tmp_path):
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[:, :20] = (200, 0, 0, 255)  # left: opaque red; right: fully transparent black
    face = _decode(Image.fromarray(rgba, "RGBA"), tmp_path)
    assert tuple(face[16, 28]) == (255, 255, 255)
    assert tuple(face[16, 3]) == (200, 0, 0)
    la = Image.fromarray(rgba[..., [0, 3]], "LA")
    assert tuple(_decode(la, tmp_path)[16, 28]) == (255, 255, 255)
    palette = Image.fromarray(rgba[..., :3]).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    palette.info["transparency"] = palette.getpixel((30, 20))
    face = _decode(palette, tmp_path)
    assert tuple(face[16, 28]) == (255, 255, 255) and face[16, 3, 0] > 150 and face[16, 3, 1] < 50


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    grey = Image.fromarray(np.full((40, 40), 32768, np.uint16))
    assert grey.mode == "I;16"
    assert np.abs(_decode(grey, tmp_path).astype(int) - 128).max() <= 1


def test_modes_become_rgb(tmp_path):
    assert np.abs(_decode(_face((128, 128, 128)).convert("L"), tmp_path).astype(int) - 128).max() < 12
    assert _decode(Image.new("1", (20, 20), 1), tmp_path).min() == 255
    cmyk = _decode(Image.new("RGB", (40, 40), (220, 30, 30)).convert("CMYK"), tmp_path, "JPEG")
    assert cmyk[..., 0].mean() > 180 and cmyk[..., 1:].mean() < 70


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (24, 24), (255, 0, 0)), Image.new("RGB", (24, 24), (0, 0, 255))]
    face = _decode(frames[0], tmp_path, "GIF", save_all=True, append_images=frames[1:])
    assert face[..., 0].mean() > 200 and face[..., 2].mean() < 50


def test_exif_orientation_is_applied_and_crop_is_centred(tmp_path):
    stored = np.zeros((20, 40, 3), np.uint8)  # wide: red top half, blue bottom half
    stored[:10] = (255, 0, 0)
    stored[10:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 8  # display rotated 90 degrees counter-clockwise: the top ends up on the left
    face = _decode(Image.fromarray(stored), tmp_path, "JPEG", res=32, exif=exif, quality=95)
    assert face[16, 3, 0] > 200 and face[16, 3, 2] < 60
    assert face[16, 28, 2] > 200 and face[16, 28, 0] < 60


def test_big_image_is_reduced_and_cropped_to_a_square(tmp_path):
    wide = np.zeros((600, 1000, 3), np.uint8)
    wide[:, :200] = 255  # the side bands a centre crop removes
    wide[:, 800:] = 255
    for fmt in ("JPEG", "PNG"):
        face = _decode(Image.fromarray(wide), tmp_path, fmt, res=64)
        assert face.shape == (64, 64, 3) and face.max() < 40


def test_load_image_file_explains_the_problem(tmp_path):
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(DataError, match="not an image"):
        data.load_image_file(tmp_path / "notes.png", 64)
    with pytest.raises(DataError, match="cannot be read"):
        data.load_image_file(tmp_path / "missing.png", 64)
    assert data.load_image_file(_save(_face((1, 2, 3)), tmp_path / "ok.png", "PNG"), 32).shape == (32, 32, 3)


def _numbered(root: Path, n: int) -> Path:
    for i in range(n):
        _save(_face((i * 9, 100, 50), seed=i), root / f"{i:02d}.png", "PNG")
    return root


def test_split_takes_every_tenth_sorted_face_for_validation(tmp_path):
    root = _numbered(tmp_path / "faces", 25)
    (root / "07.png").write_bytes(b"")  # a skipped file does not shift the split: it is made on usable faces
    val = load_folder(root, 32, split="val")
    train = load_folder(root, 32, split="train")
    assert val.paths == ["00.png", "11.png", "21.png"]
    assert len(train) == 21 and not set(train.paths) & set(val.paths)
    assert len(load_folder(root, 32, split="all")) == 24
    assert val.skipped == train.skipped and val.summary() == "3 faces, 1 skipped: 1 zero bytes"
    config = DataConfig(source=str(root), resolution=32, split="val", val_every=5)
    assert load_dataset(config).paths == ["00.png", "05.png", "11.png", "16.png", "21.png"]


def test_second_load_comes_from_the_cache_with_identical_pixels(messy, private_cache):
    first = load_folder(messy, 32)
    second = load_folder(messy, 32)
    assert not first.from_cache and second.from_cache
    assert np.array_equal(first.images, second.images) and first.paths == second.paths
    assert first.skipped == second.skipped and first.ignored == second.ignored
    assert len(list((private_cache / "datasets").glob("*.npy"))) == 1
    assert not load_folder(messy, 64).from_cache  # another resolution is another entry
    assert not load_folder(messy, 32, use_cache=False).from_cache


def test_changed_file_invalidates_the_cache(tmp_path, private_cache):
    root = _numbered(tmp_path / "faces", 3)
    before = load_folder(root, 32)
    _save(Image.new("RGB", (40, 40), (255, 255, 0)), root / "01.png", "PNG")
    after = load_folder(root, 32)
    assert not after.from_cache
    assert tuple(after.images[1, 5, 5]) == (255, 255, 0) != tuple(before.images[1, 5, 5])
    os.utime(root / "02.png", ns=(1, 1))  # same bytes, new mtime: still a different listing
    assert not load_folder(root, 32).from_cache
    assert len(list((private_cache / "datasets").glob("*.npy"))) == 1  # outdated entries are removed


def test_a_file_rewritten_with_its_old_size_and_mtime_is_decoded_again(tmp_path, private_cache):
    """``touch -r``: new content, same size (BMPs of one size always are), mtime put back."""
    root = tmp_path / "faces"
    root.mkdir()
    for i, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        _save(Image.new("RGB", (40, 40), colour), root / f"{i:02d}.bmp", "BMP")
    before = load_folder(root, 32)
    target = root / "01.bmp"
    old = target.stat()
    _save(Image.new("RGB", (40, 40), (250, 250, 0)), target, "BMP")
    os.utime(target, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (old.st_size, old.st_mtime_ns)
    after = load_folder(root, 32)
    assert not after.from_cache  # the ctime (and so the cache key) changed with the content
    assert tuple(after.images[1, 5, 5]) == (250, 250, 0) != tuple(before.images[1, 5, 5])


@pytest.mark.parametrize("suffix", [".npy", ".json"])
def test_corrupt_cache_is_rebuilt(tmp_path, private_cache, suffix):
    root = _numbered(tmp_path / "faces", 3)
    good = load_folder(root, 32)
    for path in (private_cache / "datasets").glob(f"*{suffix}"):
        path.write_bytes(b"\x93NUMPY garbage" if suffix == ".npy" else b"{not json")
    rebuilt = load_folder(root, 32)
    assert not rebuilt.from_cache and np.array_equal(rebuilt.images, good.images)
    assert load_folder(root, 32).from_cache


def test_unusable_folders_raise_clear_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no usable images in .*empty"):
        load_folder(empty)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_text("text")
    (bad / "b.png").write_text("more text")
    (bad / "c.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"3 files skipped \(2 not an image, 1 zero bytes\)"):
        load_folder(bad)
    with pytest.raises(DataError, match="folder not found"):
        load_folder(tmp_path / "nope")
    with pytest.raises(DataError, match="not a folder"):
        load_folder(_save(_face((1, 1, 1)), tmp_path / "one.png", "PNG"))


def test_progress_is_reported_and_cancel_stops(tmp_path):
    root = _numbered(tmp_path / "faces", 20)
    calls: list[tuple[int, int]] = []
    load_folder(root, 32, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (20, 20) and all(d <= t for d, t in calls)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DataError, match="cancelled"):
        load_folder(root, 32, cancel=cancel, use_cache=False)


def test_odd_file_names_work(tmp_path):
    root = tmp_path / "faces"
    root.mkdir()
    raw = os.fsencode(root) + b"/caf\xe9-latin1.png"  # not valid UTF-8
    _save(_face((1, 2, 3)), Path(os.fsdecode(raw)), "PNG")
    long_name = "f" * 240 + ".png"
    _save(_face((1, 2, 3)), root / long_name, "PNG")
    ds = load_folder(root, 32)
    assert sorted(ds.paths) == sorted([os.fsdecode(b"caf\xe9-latin1.png"), long_name])
    assert load_folder(root, 32).from_cache  # the names survive the JSON cache


def test_builtin_faces_are_deterministic_and_varied():
    a = data.builtin_faces(48, 32, seed=3, use_cache=False)
    b = data.builtin_faces(48, 32, seed=3, use_cache=False)
    assert np.array_equal(a.images, b.images) and a.images.shape == (48, 32, 32, 3) and a.images.dtype == np.uint8
    assert a.paths[:2] == ["builtin/000000", "builtin/000001"] and a.source == "builtin"
    assert not np.array_equal(data.builtin_faces(48, 32, seed=4, use_cache=False).images, a.images)
    faces = a.images.astype(np.float32)
    distinct = {faces[i].tobytes() for i in range(len(faces))}
    assert len(distinct) == len(faces)
    hair = faces[:, 2:6, 10:22].mean((1, 2))  # the top of the head: mostly hair
    assert hair.std(0).mean() > 25  # many hair colours, not one


def test_builtin_faces_are_cached_and_split_like_folders():
    first = data.builtin_faces(30, 32)
    again = data.builtin_faces(30, 32)
    assert not first.from_cache and again.from_cache and np.array_equal(first.images, again.images)
    val = load_dataset(DataConfig(source="builtin", resolution=32, split="val", builtin_count=30))
    assert val.paths == ["builtin/000000", "builtin/000010", "builtin/000020"]
    assert np.array_equal(val.images[1], first.images[10])
    assert len(load_dataset(DataConfig(source="builtin", resolution=32, split="train", builtin_count=30))) == 27
