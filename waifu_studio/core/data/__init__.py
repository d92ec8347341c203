"""Face data: image files -> validated uint8 face arrays, the built-in demo set, the fixed split.

``images`` decodes one file, ``folder`` scans, decodes and caches a folder, ``builtin`` draws the
demo set, ``dataset`` holds the result. ``load_dataset`` is the entry point for a ``DataConfig``.
"""

from __future__ import annotations

import threading

import numpy as np

from ..config import DataConfig
from ..errors import DataError
from .builtin import builtin_faces
from .dataset import FaceDataset, SkippedFile, apply_split
from .exclusions import exclude, excluded_mask, include, load_exclusions, save_exclusions
from .folder import ImageFile, ProgressFn, folder_key, load_folder, scan_folder
from .images import IMAGE_EXTENSIONS, MAX_PIXELS, MIN_SIDE, ImageSkipped, decode_face, load_image_file

__all__ = [
    "IMAGE_EXTENSIONS", "MAX_PIXELS", "MIN_SIDE", "FaceDataset", "ImageFile", "ImageSkipped", "SkippedFile",
    "apply_split", "builtin_faces", "decode_face", "exclude", "excluded_mask", "folder_key", "include", "load_dataset",
    "load_exclusions", "load_folder", "load_image_file", "save_exclusions", "scan_folder",
]


def load_dataset(config: DataConfig, *, progress: ProgressFn | None = None, cancel: threading.Event | None = None,
                 use_cache: bool = True) -> FaceDataset:
    """The faces ``config`` names (built-in set or a folder), with its split applied.

    Faces the user excluded from a folder (``exclusions``) are left out after the split, so the
    fixed split of the other faces does not shift; ``dataset.excluded`` says how many.
    """
    if config.is_builtin:
        dataset = builtin_faces(config.builtin_count, config.resolution, progress=progress, cancel=cancel,
                                use_cache=use_cache)
        return apply_split(dataset, config.split, config.val_every)
    dataset = load_folder(config.source, config.resolution, split=config.split, val_every=config.val_every,
                          use_cache=use_cache, progress=progress, cancel=cancel)
    excluded = load_exclusions(config.source)
    if not excluded:
        return dataset
    keep = np.flatnonzero(~excluded_mask(dataset.paths, excluded)).tolist()
    if not keep:
        raise DataError(f"every face of {dataset.source} is excluded from training; "
                        "include some again on the latent map")
    kept = dataset.subset(keep)
    kept.excluded = len(dataset) - len(keep)
    return kept
