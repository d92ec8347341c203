"""The one place files are opened, written, hashed, appended to and cached.

- ``open_regular`` / ``read_regular_bytes``: how every user file (checkpoint, run-folder file,
  dataset image, dropped image) is opened for reading: only a regular file, never blocking on a
  FIFO or a device, and never read past a stated size.
- ``atomic_write`` / ``atomic_write_bytes``: readers see the old file or the new one, never half;
  the new file gets the user's usual permissions (umask), whatever it holds.
- ``file_sha256``: the content identity of checkpoints and other inputs (cached per file version).
- ``read_jsonl`` / ``read_new_jsonl_rows`` / ``append_jsonl``: metrics files, one JSON object per
  whole line; a torn last line (a killed writer) is never returned.
- ``cache_dir`` and ``save_cached_array`` / ``load_cached_array``: the disk cache, an optional
  speed-up whose failures only log.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import logging
import os
import pathlib
import secrets
import stat
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

from ..errors import WaifuError

PathLike = str | os.PathLike

log = logging.getLogger(__name__)


class FileWriteError(WaifuError):
    """A file could not be written (folder missing or read-only, disk full...)."""


# ----------------------------------------------------------------------------- safe reads


class NotRegularFileError(OSError):
    """A path names a FIFO, socket, device or folder where a regular file was expected.

    An ``OSError``, so every caller that already reports unreadable files reports this one too.
    """


class FileTooLargeError(OSError):
    """A file is larger than what its kind can legitimately be; it is refused before being read."""


_FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def open_regular(path: PathLike) -> BinaryIO:
    """Open ``path`` for binary reading only if it is a regular file (links followed).

    The file is opened with ``O_NONBLOCK`` and checked with ``fstat`` on the open descriptor: opening
    a FIFO for reading would otherwise wait forever for a writer, and checking the path before
    opening it would race with a file swapped in between. Raises :class:`NotRegularFileError`
    (an ``OSError``) for anything else, and ``OSError`` as ``open`` does.
    """
    name = os.fspath(path)
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((text for test, text in _FILE_KINDS if test(mode)), "not a regular file")
            raise NotRegularFileError(errno.EINVAL, f"not a regular file: it is {kind}", name)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular_bytes(path: PathLike, max_bytes: int) -> bytes:
    """The whole content of the regular file ``path``, refused (before reading) above ``max_bytes``.

    Raises :class:`NotRegularFileError` or :class:`FileTooLargeError` (both ``OSError``).
    """
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > max_bytes:
            raise FileTooLargeError(errno.EFBIG, f"file is {size:,} bytes, more than the {max_bytes:,} it can "
                                    "legitimately be", os.fspath(path))
        data = fh.read(max_bytes + 1)  # a file growing while read is still capped
    if len(data) > max_bytes:
        raise FileTooLargeError(errno.EFBIG, f"file grew past {max_bytes:,} bytes while read", os.fspath(path))
    return data


# ----------------------------------------------------------------------------- atomic writes


def _fsync_folder(folder: pathlib.Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: PathLike, write: Callable[[BinaryIO], None]) -> pathlib.Path:
    """Call ``write(file)`` on a temp file next to ``path``, fsync it, then rename it into place.

    The temp file lives in the target folder so ``os.replace`` is an atomic rename on the same
    file system, and it is removed if anything fails. It is created with ``open(..., "xb")``
    (mode 0666 less the umask), not ``mkstemp`` (0600), so every file the program writes gets the
    same permissions. Raises :class:`FileWriteError` with a message a person can act on.
    """
    path = pathlib.Path(path)
    folder = path.parent
    if not folder.is_dir():
        reason = "folder does not exist" if not folder.exists() else "parent is not a folder"
        raise FileWriteError(f"cannot write {path}: {reason}")
    temp_name = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        file = open(temp_name, "xb")  # closed by the with block below
    except PermissionError as err:
        raise FileWriteError(f"cannot write {path}: folder is not writable") from err
    except OSError as err:
        raise FileWriteError(f"cannot write {path}: {err.strerror or err}") from err
    try:
        with file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        if isinstance(err, OSError):
            raise FileWriteError(f"cannot write {path}: {err.strerror or err}") from err
        raise
    _fsync_folder(folder)
    return path


def atomic_write_bytes(path: PathLike, data: bytes) -> pathlib.Path:
    """``atomic_write`` of a bytes object."""
    return atomic_write(path, lambda f: f.write(data))


def remove_stale_temp_files(folder: PathLike, names: tuple[str, ...]) -> None:
    """Delete the temp files that a killed process left behind while writing ``names`` atomically."""
    for name in names:
        for stale in pathlib.Path(folder).glob(f".{name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()


# ----------------------------------------------------------------------------- hashing


@functools.lru_cache(maxsize=64)
def _sha256_of_version(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    # The file's version (size, times, inode) is part of the cache key, so a replaced or rewritten
    # file is hashed again; ctime changes even when a writer restores the mtime.
    digest = hashlib.sha256()
    with open_regular(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: PathLike) -> str:
    """SHA-256 (hex) of a file's content: the identity of a checkpoint or a reference file."""
    name = os.fspath(path)
    st = os.stat(name)
    return _sha256_of_version(os.path.abspath(name), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def file_digest(path: PathLike, length: int = 16) -> str:
    """A short prefix of :func:`file_sha256`, for cache keys."""
    return file_sha256(path)[:length]


# ----------------------------------------------------------------------------- JSON lines


def _parse_lines(chunk: bytes) -> list[dict[str, Any]]:
    rows = []
    for line in chunk.splitlines():
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def read_new_jsonl_rows(path: PathLike, offset: int = 0) -> tuple[list[dict[str, Any]], int, bool]:
    """Whole JSON-object lines after byte ``offset``: (rows, new offset, restarted).

    A torn last line (no newline yet) is left for the next call; ``restarted`` is True when the
    file shrank below ``offset`` (a resumed run rewrote it), in which case it is read from 0.
    """
    path = pathlib.Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return [], 0, offset > 0
    restarted = size < offset
    if restarted:
        offset = 0
    if size == offset:
        return [], offset, restarted
    with open_regular(path) as fh:
        fh.seek(offset)
        chunk = fh.read(size - offset)
    end = chunk.rfind(b"\n") + 1  # only whole lines
    return _parse_lines(chunk[:end]), offset + end, restarted


def read_jsonl(path: PathLike) -> list[dict[str, Any]]:
    """Every whole JSON-object line of ``path`` ([] when it does not exist)."""
    return read_new_jsonl_rows(path, 0)[0]


def append_jsonl(path: PathLike, row: dict[str, Any]) -> None:
    """Append ``row`` as one whole line, or leave the file as it was and raise :class:`FileWriteError`.

    The line goes out in one ``os.write`` (a killed writer leaves no half row, as a buffered
    writer flushing in pieces could). When the write fails or is short (disk full, quota, a file
    made read-only), the file is cut back to its previous length so no torn line is left behind.
    """
    line = (json.dumps(row) + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0),
                     0o666)
    except OSError as err:
        raise FileWriteError(f"cannot write {path}: {err.strerror or err}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileWriteError(f"cannot write {path}: not a regular file")
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(errno.ENOSPC, f"only {written} of {len(line)} bytes were written (disk full?)")
        except OSError as err:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, st.st_size)  # no torn line: the file ends with the last whole row
            raise FileWriteError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- disk cache


def cache_dir() -> pathlib.Path:
    """Root of Waifu Studio's caches: ``$WAIFU_STUDIO_CACHE`` or ``~/.cache/waifu-studio``."""
    configured = os.environ.get("WAIFU_STUDIO_CACHE")
    return pathlib.Path(configured) if configured else pathlib.Path.home() / ".cache" / "waifu-studio"


def cache_path(kind: str, key: str) -> pathlib.Path:
    """``cache_dir()/kind/key`` (no suffix: the helpers below add .npy and .json)."""
    return cache_dir() / kind / key


def save_cached_array(path: pathlib.Path, array: np.ndarray, meta: dict[str, Any] | None = None) -> bool:
    """Store ``array`` as ``path.npy`` (and ``meta`` as ``path.json``) atomically.

    A failure only logs and returns False: the cache is a speed-up, never needed for a result.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path.with_suffix(".npy"), lambda f: np.save(f, array, allow_pickle=False))
        if meta is not None:
            text = json.dumps(meta, ensure_ascii=True).encode("ascii")  # surrogate-escaped names survive as \\udcxx
            atomic_write(path.with_suffix(".json"), lambda f: f.write(text))
    except (OSError, WaifuError) as err:
        log.warning("could not write cache %s: %s", path, err)
        return False
    return True


def load_cached_array(path: pathlib.Path, shape: tuple[int, ...] | None = None, dtype: Any = np.uint8,
                      mmap: bool = False) -> np.ndarray | None:
    """The array cached at ``path.npy`` if it is readable and has ``dtype`` (and ``shape``), else None.

    ``mmap=True`` maps the file read-only instead of reading it: a large data set is then paged in
    as it is used, and several readers share one copy in memory.
    """
    try:
        array = np.load(path.with_suffix(".npy"), allow_pickle=False, mmap_mode="r" if mmap else None)
    except (OSError, ValueError, EOFError) as err:
        if not isinstance(err, FileNotFoundError):
            log.warning("ignoring unreadable cache %s: %s", path, err)
        return None
    if array.dtype != np.dtype(dtype) or (shape is not None and array.shape != tuple(shape)):
        return None
    return array if mmap else np.ascontiguousarray(array)


def load_cached_meta(path: pathlib.Path) -> dict[str, Any] | None:
    """The JSON object cached at ``path.json``, or None when missing or unreadable."""
    try:
        meta = json.loads(path.with_suffix(".json").read_text("ascii"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as err:
        log.warning("ignoring unreadable cache %s: %s", path, err)
        return None
    return meta if isinstance(meta, dict) else None
