"""Faces the user excluded from training (picked on the latent map), kept beside the dataset cache.

Nothing in the user's folder is moved or deleted: the list is a JSON file of relative paths in
``cache_dir()/datasets/exclusions/``, keyed by the folder's absolute path, so it survives files
being added to or removed from the folder. ``load_dataset`` drops the listed faces and the
summary says so ("20,014 faces, 37 excluded by you").
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
from collections.abc import Collection, Iterable, Sequence

import numpy as np

from ..errors import DataError
from ..io.files import atomic_write_bytes, cache_dir

log = logging.getLogger(__name__)


def exclusion_file(folder: str | os.PathLike) -> pathlib.Path:
    """Where the exclusion list of ``folder`` is kept."""
    root = os.path.abspath(os.fspath(folder))
    name = hashlib.sha256(root.encode("utf-8", "surrogateescape")).hexdigest()
    return cache_dir() / "datasets" / "exclusions" / f"{name}.json"


def load_exclusions(folder: str | os.PathLike) -> set[str]:
    """Relative paths (as in ``FaceDataset.paths``) the user excluded from ``folder`` (empty if none)."""
    path = exclusion_file(folder)
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as err:
        log.warning("ignoring unreadable exclusion list %s: %s", path, err)
        return set()
    names = data.get("excluded") if isinstance(data, dict) else None
    return {str(n) for n in names if isinstance(n, str)} if isinstance(names, list) else set()


def excluded_mask(paths: Sequence[str], excluded: Collection[str]) -> np.ndarray:
    """True for each of ``paths`` (a dataset's relative paths) that is on the exclusion list ``excluded``."""
    return np.fromiter((path in excluded for path in paths), bool, count=len(paths))


def save_exclusions(folder: str | os.PathLike, paths: Iterable[str]) -> pathlib.Path:
    """Replace ``folder``'s exclusion list with ``paths`` (an empty list removes every exclusion)."""
    target = exclusion_file(folder)
    names = sorted(set(paths))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot save the exclusion list in {target.parent}: {err.strerror or err}") from None
    body = {"source": os.path.abspath(os.fspath(folder)), "excluded": names}
    text = json.dumps(body, indent=1, ensure_ascii=True)  # surrogate-escaped names survive as \udcxx
    return atomic_write_bytes(target, text.encode("ascii"))


def exclude(folder: str | os.PathLike, paths: Iterable[str]) -> int:
    """Add ``paths`` to ``folder``'s exclusion list; returns how many are excluded now."""
    names = load_exclusions(folder) | set(paths)
    save_exclusions(folder, names)
    return len(names)


def include(folder: str | os.PathLike, paths: Iterable[str]) -> int:
    """Take ``paths`` off ``folder``'s exclusion list; returns how many stay excluded."""
    names = load_exclusions(folder) - set(paths)
    save_exclusions(folder, names)
    return len(names)
