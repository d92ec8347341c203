"""A folder of images -> one validated (N, H, W, 3) uint8 ``FaceDataset``, cached on disk.

The folder is scanned once (links followed, hidden files skipped), files are decoded in threads
(see ``images``), and the result is cached keyed by every file's name, size, times and inode.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError
from ..io.files import cache_dir, load_cached_array, load_cached_meta, save_cached_array
from .dataset import FaceDataset, SkippedFile, apply_split, count_text
from .images import IMAGE_EXTENSIONS, LOADER_VERSION, MIN_SIDE, ImageSkipped, decode_face

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], Any]


@dataclass(frozen=True)
class ImageFile:
    """One image-extension file found by :func:`scan_folder`."""

    rel: str  # '/'-separated, relative to the root
    path: str
    size: int
    mtime_ns: int
    ctime_ns: int  # changes on every write, even one that restores the mtime (``touch -r``)
    inode: int


# Kernel pseudo file systems: their "files" are live process and device state (never faces), a
# walk through /proc follows every process's cwd and root links, and reads can block or never end.
SYSTEM_FOLDERS = ("/proc", "/sys", "/dev")


def system_folder(path: str) -> str | None:
    """The pseudo file system ``path`` really lies in (links resolved), or None."""
    real = os.path.realpath(path)
    return next((top for top in SYSTEM_FOLDERS if real == top or real.startswith(top + "/")), None)


def scan_folder(root: str) -> tuple[list[ImageFile], list[SkippedFile], int]:
    """Image-extension files under ``root``, sorted by relative path: (files, skipped, ignored).

    The one folder walk of the program (data sets, FID references, exclusion lists). Its rules:
    symbolic links are followed and each real folder is read once (a link loop ends), except a
    link into /proc, /sys or /dev, which is skipped as "unreadable"; names
    starting with "." (files or folders) are skipped as "hidden"; files without an image
    extension are only counted (``ignored``); entries that are not regular files after links
    (FIFOs, sockets, devices, broken links) are skipped as "unreadable".
    """
    candidates: list[ImageFile] = []
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
                # os.stat, not entry.stat(): DirEntry.stat holds the GIL during the system call, and
                # 20,000 of them in a worker thread froze the window for ~90 ms at a time
                st = os.stat(entry.path) if is_dir or entry.is_file() else None
            except OSError as err:
                is_dir, st = False, None
                detail = err.strerror or str(err)
            else:
                detail = "broken link or not a regular file"
            if is_dir and st is not None:  # a folder named like an image (x.png/) is still a folder
                if hidden:
                    skipped.append(SkippedFile(rel, "hidden", "folder"))
                elif entry.is_symlink() and system_folder(entry.path):
                    skipped.append(SkippedFile(rel, "unreadable", "link to a system folder"))
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
                candidates.append(ImageFile(rel, entry.path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
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
    files: list[ImageFile], resolution: int, workers: int, progress: ProgressFn | None,
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


def _datasets_dir() -> pathlib.Path:
    return cache_dir() / "datasets"


KEY_CHUNK = 1024  # files per JSON chunk of a folder's cache key


def folder_key(files: list[ImageFile], resolution: int) -> str:
    """Cache key of a scanned folder at ``resolution``.

    The rule: a cached set is reused only while every file keeps its name, size, mtime, ctime and
    inode. Rewriting a file changes its ctime even when the writer restores size and mtime
    (``touch -r``), and replacing it changes its inode, so neither can serve stale faces.
    """
    # The hash of LOADER_VERSION|resolution|<JSON list of [rel, size, mtime, ctime, inode]>, fed in
    # chunks: one json.dumps of 20,000 rows holds the GIL for ~40 ms (the window froze); chunks
    # joined with JSON's ", " give the same bytes, so keys of existing caches do not change.
    digest = hashlib.sha256(f"{LOADER_VERSION}|{resolution}|[".encode("ascii"))
    for start in range(0, len(files), KEY_CHUNK):
        rows = [[f.rel, f.size, f.mtime_ns, f.ctime_ns, f.inode] for f in files[start:start + KEY_CHUNK]]
        text = json.dumps(rows, ensure_ascii=True)[1:-1]
        digest.update(((", " if start else "") + text).encode("ascii"))
    digest.update(b"]")
    return digest.hexdigest()


def _read_folder_cache(key: str, resolution: int,
                       mmap: bool = False) -> tuple[np.ndarray, list[str], list[SkippedFile]] | None:
    base = _datasets_dir() / key
    meta = load_cached_meta(base)
    if meta is None:
        return None
    try:
        paths = [str(p) for p in meta["paths"]]
        skipped = [SkippedFile(str(p), str(r), str(d)) for p, r, d in meta["skipped"]]
        if meta["version"] != LOADER_VERSION:
            return None
    except (ValueError, KeyError, TypeError) as err:  # corrupt: rebuild and overwrite it
        log.warning("ignoring unreadable dataset cache %s: %s", base, err)
        return None
    images = load_cached_array(base, (len(paths), resolution, resolution, 3), mmap=mmap)
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


def load_folder(
    path: str | os.PathLike[str], resolution: int = 64, *, split: str = "all", val_every: int = 10,
    use_cache: bool = True, workers: int | None = None, progress: ProgressFn | None = None,
    cancel: threading.Event | None = None, mmap: bool = False,
    scanned: tuple[list[ImageFile], list[SkippedFile], int] | None = None,
) -> FaceDataset:
    """Every usable image under ``path`` as faces of ``resolution``; bad files are skipped and listed.

    ``mmap=True`` maps a cached set read-only instead of reading it (see ``load_cached_array``):
    a map of a big folder then pages faces in as it needs them. ``scanned`` is this folder's
    ``scan_folder`` result when the caller already has it (one walk of a big folder, not two).

    Raises ``DataError`` for a missing folder, a folder without one usable image, or ``cancel``.
    """
    root = os.path.abspath(os.fspath(path))
    if not MIN_SIDE <= resolution <= 1024:
        raise DataError(f"resolution must be between {MIN_SIDE} and 1024 pixels, not {resolution}")
    if not os.path.exists(root):
        raise DataError(f"folder not found: {root}")
    if not os.path.isdir(root):
        raise DataError(f"not a folder: {root}")
    if system_folder(root):
        raise DataError(f"{root} is a system folder ({system_folder(root)}), not a folder of images")
    try:
        files, walk_skipped, ignored = scanned if scanned is not None else scan_folder(root)
    except OSError as err:
        raise DataError(f"cannot read folder {root}: {err.strerror or err}") from None
    key = folder_key(files, resolution)
    cached = _read_folder_cache(key, resolution, mmap) if use_cache and files else None
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
        counts = count_text(FaceDataset(images, [], skipped, root, resolution).skipped_counts())
        raise DataError(f"no usable images in {root}: {len(skipped):,} file{'s' if len(skipped) != 1 else ''} "
                        f"skipped ({counts})")
    dataset = FaceDataset(images, paths, skipped, root, resolution, from_cache=cached is not None, ignored=ignored,
                          cache_key=key)
    return apply_split(dataset, split, val_every)
