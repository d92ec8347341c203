"""A decoded face set: faces in sorted relative-path order, what was skipped, and the fixed split."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import DataError


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
    cache_key: str = ""  # ``folder_key`` of the files these faces came from ("" for arrays and the demo set)
    excluded: int = 0  # faces the user excluded from training (``core.data.exclusions``), already removed

    def __len__(self) -> int:
        return len(self.paths)

    def skipped_counts(self) -> dict[str, int]:
        """Reason -> number of skipped files, most common first (ties by name, so it is stable)."""
        counts = Counter(s.reason for s in self.skipped)
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def summary(self) -> str:
        """E.g. ``"20,051 faces, 3 skipped: 2 truncated, 1 not an image"``."""
        text = f"{len(self):,} face{'' if len(self) == 1 else 's'}"
        if self.excluded:
            text += f", {self.excluded:,} excluded by you"
        if self.skipped:
            text += f", {len(self.skipped):,} skipped: {count_text(self.skipped_counts())}"
        return text

    def subset(self, indices: Sequence[int] | np.ndarray) -> FaceDataset:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        return FaceDataset(np.ascontiguousarray(self.images[idx]), [self.paths[i] for i in idx], list(self.skipped),
                           self.source, self.resolution, self.from_cache, self.ignored, self.cache_key, self.excluded)


def count_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {reason}" for reason, n in counts.items())


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
