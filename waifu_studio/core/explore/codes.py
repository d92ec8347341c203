"""Encoded codes on disk: a folder is encoded once per model, whatever map is drawn from it.

The key is the model's content (its checkpoint's SHA-256, or a hash of its weights when it was
never saved) and the folder's ``folder_key`` (every file's name, size, times and inode), so a
changed checkpoint or a changed folder is encoded again, and nothing else is: another layout
method, other parameters, switching models and back, or reopening the app reuse the codes.
Per-face values derived from the codes (reconstruction errors) are cached under the same key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pathlib

import numpy as np

from ..io.files import cache_path, file_sha256, load_cached_array, load_cached_meta, save_cached_array
from ..models import FaceModel

log = logging.getLogger(__name__)

# Bump when the encoding of a folder changes without the model or the files changing.
CODES_VERSION = 1


def model_identity(model: FaceModel) -> str:
    """SHA-256 (hex) naming a model's weights: its checkpoint file's, or its weights' when unsaved."""
    loaded = getattr(model, "checkpoint_sha256", None)  # what load_checkpoint read (the file may change since)
    if loaded:
        return str(loaded)
    info = getattr(model, "checkpoint_info", None)
    if info is not None and pathlib.Path(info.path).exists():
        return file_sha256(info.path)
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def _base(model_id: str, data_key: str, kind: str = "codes") -> pathlib.Path:
    name = hashlib.sha256(f"{CODES_VERSION}|{model_id}|{data_key}".encode()).hexdigest()
    return cache_path("codes", name if kind == "codes" else f"{name}-{kind}")


def load_codes(model_id: str, data_key: str, n: int, dims: int, kind: str = "codes") -> np.ndarray | None:
    """Cached (n, dims) codes (or (n,) values for another ``kind``) of this model and data, or None."""
    shape = (n, dims) if kind == "codes" else (n,)
    array = load_cached_array(_base(model_id, data_key, kind), shape, np.float32)
    if array is not None and not np.isfinite(array).all():
        log.warning("ignoring cached %s with non-finite values", kind)
        return None
    return array


def has_codes(model_id: str, data_key: str) -> bool:
    """Whether codes of this model and data are cached (cheap: no read; ``load_codes`` still checks them)."""
    return _base(model_id, data_key).with_suffix(".npy").exists()


def save_codes(model_id: str, data_key: str, array: np.ndarray, source: str = "", kind: str = "codes") -> bool:
    """Keep ``array`` for :func:`load_codes`; older codes of the same model and source are dropped."""
    base = _base(model_id, data_key, kind)
    ok = save_cached_array(base, np.ascontiguousarray(array, np.float32),
                           {"model": model_id, "source": source, "kind": kind, "version": CODES_VERSION})
    if ok and source:
        _prune_stale(model_id, source, kind, keep=base.name)
    return ok


def _prune_stale(model_id: str, source: str, kind: str, keep: str) -> None:
    """The folder changed since these entries were written: they can never be read again."""
    for meta_path in (cache_path("codes", "x").parent).glob("*.json"):
        if meta_path.stem == keep:
            continue
        meta = load_cached_meta(meta_path.with_suffix(""))
        if meta and meta.get("model") == model_id and meta.get("source") == source and meta.get("kind") == kind:
            try:
                meta_path.with_suffix(".npy").unlink(missing_ok=True)
                meta_path.unlink()
            except OSError as err:
                log.debug("not pruning %s: %s", meta_path, err)


def data_digest(faces: np.ndarray) -> str:
    """Content key of an in-memory face array (maps of arrays rather than folders)."""
    return "array:" + hashlib.sha256(memoryview(np.ascontiguousarray(faces)).cast("B")).hexdigest()


def describe_key(model_id: str, data_key: str) -> str:
    """A short text naming model and data: the projection cache key of a map of these codes."""
    return json.dumps([model_id[:16], data_key[:32]])
