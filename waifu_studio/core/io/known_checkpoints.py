"""Where checkpoints live on this machine, by content: a small index SHA-256 -> path.

Recipes name checkpoints by SHA-256. Every checkpoint the app or the CLI loads is remembered in
``cache_dir()/known_checkpoints.json`` (newest first, at most :data:`MAX_KNOWN`), so a file made
weeks ago can find its model again. The index is a speed-up and a memory, never an authority:
a path is used only after its content hashes to the SHA-256 asked for.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import WaifuError
from .files import atomic_write_bytes, cache_dir, file_sha256

log = logging.getLogger(__name__)

INDEX_NAME = "known_checkpoints.json"
MAX_KNOWN = 200
CHECKPOINT_SUFFIX = ".safetensors"


def bundled_checkpoint_dir() -> Path:
    """``checkpoints/`` next to the package (source checkout or installed data)."""
    return Path(__file__).resolve().parents[3] / "checkpoints"


def index_path() -> Path:
    return cache_dir() / INDEX_NAME


def known_checkpoints() -> dict[str, str]:
    """The index as {sha256: path}, newest first ({} when missing or unreadable)."""
    try:
        data = json.loads(index_path().read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as err:
        log.warning("ignoring unreadable checkpoint index %s: %s", index_path(), err)
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}


def remember_checkpoint(path: str | os.PathLike) -> str | None:
    """Record ``path`` under its SHA-256 and return the hash (None if the file cannot be hashed).

    Failures to write the index only log: loading a model never fails because of it.
    """
    path = Path(path).absolute()
    try:
        sha = file_sha256(path)
    except OSError as err:
        log.warning("cannot hash %s: %s", path, err)
        return None
    try:
        index_path().parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(index_path()) + ".lock", timeout=5):
            entries = known_checkpoints()
            entries.pop(sha, None)
            newest = {sha: os.fspath(path), **entries}
            text = json.dumps(dict(list(newest.items())[:MAX_KNOWN]), indent=1).encode("utf-8")
            atomic_write_bytes(index_path(), text)
    except (OSError, WaifuError, Timeout) as err:
        log.warning("could not update the checkpoint index: %s", err)
    return sha


def open_checkpoint(path: str | os.PathLike, device: object = "cpu") -> object:
    """``load_checkpoint`` and remember the file: how the app and the CLI open every checkpoint."""
    from .checkpoint import load_checkpoint

    model = load_checkpoint(path, device=device)
    remember_checkpoint(path)  # files made with it can find it again (reproduce, drops on the app)
    return model


def _files_in(candidate: Path) -> Iterator[Path]:
    """A checkpoint file as it is; a folder's checkpoints (a run folder: also its snapshots)."""
    if candidate.is_file():
        yield candidate
    elif candidate.is_dir():
        yield from sorted(candidate.glob(f"*{CHECKPOINT_SUFFIX}"))
        yield from sorted(candidate.glob(f"*/*{CHECKPOINT_SUFFIX}"))


def candidate_files(extra: Iterable[str | os.PathLike] = ()) -> Iterator[Path]:
    """Places to look, in order: ``extra`` (files or folders), the bundled folder, the index."""
    for candidate in extra:
        yield from _files_in(Path(candidate))
    yield from _files_in(bundled_checkpoint_dir())
    for path in known_checkpoints().values():
        yield Path(path)


def find_checkpoint(sha256: str, extra: Iterable[str | os.PathLike] = ()) -> Path | None:
    """The first file among :func:`candidate_files` whose content has ``sha256``, or None."""
    seen: set[Path] = set()
    for path in candidate_files(extra):
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        try:
            if file_sha256(path) == sha256:
                return path
        except OSError:
            continue
    return None
