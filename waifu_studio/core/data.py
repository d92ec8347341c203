"""Face datasets: a folder of images -> one validated (N, H, W, 3) uint8 array, cached on disk.

Every file is decoded from its content (PNGs named .jpg are common), turned into RGB on white,
centre-cropped and resized. A bad file never stops a load: it is skipped with a short, stable
reason ("zero bytes", "not an image", "truncated", "unreadable", "too many pixels", "too small",
"unsupported format", "hidden") that ``FaceDataset.summary()`` counts for the user.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import pathlib
import struct
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import BmpImagePlugin, GifImagePlugin, Image, ImageOps, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

from .builtin_faces import builtin_faces
from .config import DataConfig
from .errors import DataError, WaifuError
from .export import atomic_write

__all__ = [
    "FaceDataset", "ImageSkipped", "SkippedFile", "apply_split", "builtin_faces", "cache_dir", "decode_face",
    "load_dataset", "load_folder", "load_image_file",
]

log = logging.getLogger(__name__)

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

ProgressFn = Callable[[int, int], Any]


class ImageSkipped(Exception):
    """A file that cannot be used as a face; ``reason`` is one of the short stable strings."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class SkippedFile:
    path: str  # relative to the dataset root
    reason: str
    detail: str = ""


@dataclass
class FaceDataset:
    """Decoded faces in sorted relative-path order, plus what was skipped on the way."""

    images: np.ndarray  # (N, H, W, 3) uint8, C-contiguous
    paths: list[str]
    skipped: list[SkippedFile]
    source: str
    resolution: int
    from_cache: bool = False
    ignored: int = 0  # files without an image extension

    def __len__(self) -> int:
        return len(self.paths)

    def skipped_counts(self) -> dict[str, int]:
        """Reason -> number of skipped files, most common first (ties by name, so it is stable)."""
        counts = Counter(s.reason for s in self.skipped)
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def summary(self) -> str:
        """E.g. ``"20,051 faces, 3 skipped: 2 truncated, 1 not an image"``."""
        text = f"{len(self):,} face{'' if len(self) == 1 else 's'}"
        if self.skipped:
            text += f", {len(self.skipped):,} skipped: {_count_text(self.skipped_counts())}"
        return text

    def subset(self, indices: Sequence[int] | np.ndarray) -> FaceDataset:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        return FaceDataset(np.ascontiguousarray(self.images[idx]), [self.paths[i] for i in idx], list(self.skipped),
                           self.source, self.resolution, self.from_cache, self.ignored)


def _count_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {reason}" for reason, n in counts.items())


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


# ---------------------------------------------------------------------------- a folder


@dataclass(frozen=True)
class _Candidate:
    rel: str  # '/'-separated, relative to the root
    path: str
    size: int
    mtime_ns: int


def _scan_folder(root: str) -> tuple[list[_Candidate], list[SkippedFile], int]:
    """Image-extension files under ``root`` (links followed, each real folder read once), sorted."""
    candidates: list[_Candidate] = []
    skipped: list[SkippedFile] = []
    ignored = 0
    root_stat = os.stat(root)
    seen_dirs = {(root_stat.st_dev, root_stat.st_ino)}  # a symlink loop ends here instead of recursing forever
    stack = [("", root)]
    while stack:
        prefix, folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as err:
            skipped.append(SkippedFile(prefix.rstrip("/"), "unreadable", f"folder: {err.strerror or err}"))
            continue
        for entry in entries:
            rel, hidden = prefix + entry.name, entry.name.startswith(".")
            try:
                is_dir = entry.is_dir()
                st = entry.stat() if is_dir or entry.is_file() else None
            except OSError as err:
                is_dir, st = False, None
                detail = err.strerror or str(err)
            else:
                detail = "broken link or not a regular file"
            if is_dir and st is not None:  # a folder named like an image (x.png/) is still a folder
                if hidden:
                    skipped.append(SkippedFile(rel, "hidden", "folder"))
                elif (st.st_dev, st.st_ino) not in seen_dirs:
                    seen_dirs.add((st.st_dev, st.st_ino))
                    stack.append((rel + "/", entry.path))
            elif os.path.splitext(entry.name)[1].lower() not in IMAGE_EXTENSIONS:
                ignored += 1
            elif hidden:
                skipped.append(SkippedFile(rel, "hidden"))  # e.g. macOS '._face.jpg' resource forks
            elif st is None:
                skipped.append(SkippedFile(rel, "unreadable", detail))
            else:
                candidates.append(_Candidate(rel, entry.path, st.st_size, st.st_mtime_ns))
    candidates.sort(key=lambda c: c.rel)
    return candidates, skipped, ignored


def _default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else max(1, os.cpu_count() or 1)


def _decode_batch(paths: list[str], resolution: int, cancel: threading.Event | None) -> list[np.ndarray | ImageSkipped]:
    results: list[np.ndarray | ImageSkipped] = []
    for path in paths:
        if cancel is not None and cancel.is_set():
            break
        try:
            results.append(decode_face(path, resolution))
        except ImageSkipped as skip:
            results.append(skip)
    return results


def _decode_all(
    files: list[_Candidate], resolution: int, workers: int, progress: ProgressFn | None,
    cancel: threading.Event | None,
) -> tuple[np.ndarray, list[str], list[SkippedFile]]:
    """Decode in threads (rows in ``files`` order, skipped ones dropped).

    Pillow releases the GIL while decoding and resizing. Measured on the 20k-face set, a process
    pool used ~10% more CPU (pickling, IPC) for no gain, and forking a GUI process is fragile.
    """
    total = len(files)
    images = np.empty((total, resolution, resolution, 3), np.uint8)
    ok = np.zeros(total, bool)
    skipped: list[SkippedFile] = []
    batch = max(16, min(256, total // (workers * 8) or 1))  # big enough to amortise, small enough for progress
    done = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        pending = {pool.submit(_decode_batch, [f.path for f in files[start:start + batch]], resolution, cancel): start
                   for start in range(0, total, batch)}
        try:
            while pending:
                finished, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                if cancel is not None and cancel.is_set():
                    raise DataError("loading cancelled")
                for future in finished:
                    start = pending.pop(future)
                    for i, result in enumerate(future.result(), start):
                        if isinstance(result, ImageSkipped):
                            skipped.append(SkippedFile(files[i].rel, result.reason, result.detail))
                        else:
                            images[i], ok[i] = result, True
                    done += min(batch, total - start)
                if progress is not None and finished:
                    progress(done, total)
        finally:
            for future in pending:
                future.cancel()
    # Compact in place (no second full-size copy): kept rows move down over the skipped ones.
    kept = np.flatnonzero(ok)
    for write, read in enumerate(kept):
        if write != read:
            images[write] = images[read]
    return images[: len(kept)], [files[i].rel for i in kept], sorted(skipped, key=lambda s: s.path)


# ---------------------------------------------------------------------------- the cache


def cache_dir() -> pathlib.Path:
    """Root of Waifu Studio's caches: ``$WAIFU_STUDIO_CACHE`` or ``~/.cache/waifu-studio``."""
    configured = os.environ.get("WAIFU_STUDIO_CACHE")
    return pathlib.Path(configured) if configured else pathlib.Path.home() / ".cache" / "waifu-studio"


def _datasets_dir() -> pathlib.Path:
    return cache_dir() / "datasets"


def save_cached_array(path: pathlib.Path, array: np.ndarray, meta: dict[str, Any] | None = None) -> None:
    """Store ``array`` (and ``meta`` beside it as JSON) atomically; a failure only logs (the cache is optional)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path.with_suffix(".npy"), lambda f: np.save(f, array, allow_pickle=False))
        if meta is not None:
            text = json.dumps(meta, ensure_ascii=True).encode("ascii")  # surrogate-escaped names survive as \\udcxx
            atomic_write(path.with_suffix(".json"), lambda f: f.write(text))
    except (OSError, WaifuError) as err:
        log.warning("could not write dataset cache %s: %s", path, err)


def load_cached_array(path: pathlib.Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cached uint8 array at ``path`` (.npy) if it is readable and has exactly ``shape``, else None."""
    try:
        array = np.load(path.with_suffix(".npy"), allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        if not isinstance(err, FileNotFoundError):
            log.warning("ignoring unreadable dataset cache %s: %s", path, err)
        return None
    return np.ascontiguousarray(array) if array.dtype == np.uint8 and array.shape == tuple(shape) else None


def _folder_key(files: list[_Candidate], resolution: int) -> str:
    listing = json.dumps([[f.rel, f.size, f.mtime_ns] for f in files], ensure_ascii=True)
    return hashlib.sha256(f"{LOADER_VERSION}|{resolution}|{listing}".encode("ascii")).hexdigest()


def _read_folder_cache(key: str, resolution: int) -> tuple[np.ndarray, list[str], list[SkippedFile]] | None:
    base = _datasets_dir() / key
    try:
        meta = json.loads(base.with_suffix(".json").read_text("ascii"))
        paths = [str(p) for p in meta["paths"]]
        skipped = [SkippedFile(str(p), str(r), str(d)) for p, r, d in meta["skipped"]]
        if meta["version"] != LOADER_VERSION:
            return None
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as err:  # corrupt: rebuild and overwrite it
        log.warning("ignoring unreadable dataset cache %s: %s", base, err)
        return None
    images = load_cached_array(base, (len(paths), resolution, resolution, 3))
    return None if images is None else (images, paths, skipped)


def _prune_stale(root: str, resolution: int, keep: str) -> None:
    """Drop older cache entries of the same folder and resolution: each is as big as the data set."""
    for meta_path in _datasets_dir().glob("*.json"):
        if meta_path.stem == keep:
            continue
        try:
            meta = json.loads(meta_path.read_text("ascii"))
            if meta.get("source") == root and meta.get("resolution") == resolution:
                meta_path.with_suffix(".npy").unlink(missing_ok=True)
                meta_path.unlink()
        except (OSError, ValueError, AttributeError) as err:
            log.debug("not pruning %s: %s", meta_path, err)


# ---------------------------------------------------------------------------- public loaders


def apply_split(dataset: FaceDataset, split: str, val_every: int = 10) -> FaceDataset:
    """The shared split: sort relative paths, index % val_every == 0 is 'val', the rest 'train'."""
    if split == "all":
        return dataset
    if split not in ("train", "val"):
        raise DataError(f"split must be 'all', 'train' or 'val', not {split!r}")
    if val_every < 2:
        raise DataError(f"val_every must be at least 2, not {val_every}")
    order = sorted(range(len(dataset)), key=dataset.paths.__getitem__)
    is_val = np.zeros(len(dataset), bool)
    is_val[order[::val_every]] = True
    return dataset.subset(np.flatnonzero(is_val if split == "val" else ~is_val))


def load_folder(
    path: str | os.PathLike[str], resolution: int = 64, *, split: str = "all", val_every: int = 10,
    use_cache: bool = True, workers: int | None = None, progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> FaceDataset:
    """Every usable image under ``path`` as faces of ``resolution``; bad files are skipped and listed.

    Raises ``DataError`` for a missing folder, a folder without one usable image, or ``cancel``.
    """
    root = os.path.abspath(os.fspath(path))
    if not MIN_SIDE <= resolution <= 1024:
        raise DataError(f"resolution must be between {MIN_SIDE} and 1024 pixels, not {resolution}")
    if not os.path.exists(root):
        raise DataError(f"folder not found: {root}")
    if not os.path.isdir(root):
        raise DataError(f"not a folder: {root}")
    try:
        files, walk_skipped, ignored = _scan_folder(root)
    except OSError as err:
        raise DataError(f"cannot read folder {root}: {err.strerror or err}") from None
    key = _folder_key(files, resolution)
    cached = _read_folder_cache(key, resolution) if use_cache and files else None
    if cached is not None:
        images, paths, decode_skipped = cached
        if progress is not None:
            progress(len(files), len(files))
    else:
        images, paths, decode_skipped = _decode_all(files, resolution, workers or _default_workers(), progress, cancel)
        if use_cache and paths:
            meta = {"version": LOADER_VERSION, "source": root, "resolution": resolution, "paths": paths,
                    "skipped": [[s.path, s.reason, s.detail] for s in decode_skipped]}
            save_cached_array(_datasets_dir() / key, images, meta)
            _prune_stale(root, resolution, keep=key)
    skipped = sorted(walk_skipped + decode_skipped, key=lambda s: s.path)
    if not paths:
        if not skipped:
            others = f" ({ignored:,} other files ignored)" if ignored else ""
            raise DataError(f"no usable images in {root}: no .jpg, .png, .webp, .bmp or .gif files{others}")
        counts = _count_text(FaceDataset(images, [], skipped, root, resolution).skipped_counts())
        raise DataError(f"no usable images in {root}: {len(skipped):,} file{'s' if len(skipped) != 1 else ''} "
                        f"skipped ({counts})")
    dataset = FaceDataset(images, paths, skipped, root, resolution, from_cache=cached is not None, ignored=ignored)
    return apply_split(dataset, split, val_every)


def load_dataset(config: DataConfig, *, progress: ProgressFn | None = None, cancel: threading.Event | None = None,
                 use_cache: bool = True) -> FaceDataset:
    """The faces ``config`` names (built-in set or a folder), with its split applied."""
    if config.is_builtin:
        dataset = builtin_faces(config.builtin_count, config.resolution, progress=progress, cancel=cancel,
                                use_cache=use_cache)
        return apply_split(dataset, config.split, config.val_every)
    return load_folder(config.source, config.resolution, split=config.split, val_every=config.val_every,
                       use_cache=use_cache, progress=progress, cancel=cancel)
