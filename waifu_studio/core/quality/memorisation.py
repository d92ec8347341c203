"""Does a model copy its training faces? Nearest training faces and a memorisation/coverage report.

Everything is measured in one fixed feature space, the same for every model and folder
(``explore.face_features.appearance_features``: CIELAB 16x16 thumbnails, distances in RMS
Delta E). It needs no download and no optional extra, it is deterministic on every machine, and
a copied face is at distance ~0 in it. It sees layout and colour, not semantics, so its
precision and recall describe appearance, not identity (FID/KID, with the metrics extra, add
the Inception view).

- :func:`index_folder`: a folder's faces and features, features cached on disk per folder version.
- :func:`nearest_faces`: the k closest indexed faces of a query face, with distances.
- :func:`memorisation_report`: precision and recall of generated vs real faces (Kynkaanniemi et
  al. 2019: a sample is inside a set's manifold when it is within some member's k-th-neighbour
  radius), the share of generated faces closer to a training face than nearly every held-out
  real face is, and both clouds on one 2-D map.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data import load_folder
from ..errors import WaifuError
from ..explore.face_features import appearance_features
from ..io.files import cache_path, load_cached_array, save_cached_array
from ..models import FaceModel
from .metrics import folder_key

FEATURE_SPACE = "appearance-lab16-v1"  # part of every cache key: change it when the features change
ProgressFn = Callable[[Any], None]  # progress((stage, done, total))


class ReportCancelled(WaifuError):
    """The report was cancelled."""


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ReportCancelled("cancelled")


@dataclass
class FaceIndex:
    """Faces of a folder (or split) with their features, ready for nearest-face queries."""

    images: np.ndarray  # (N, H, W, 3) uint8
    features: np.ndarray  # (N, F) float32
    paths: list[str]


def index_folder(folder: str | os.PathLike, resolution: int = 64, split: str = "all",
                 progress: ProgressFn | None = None) -> FaceIndex:
    """Load ``folder`` (the decoded-set cache makes this fast the second time) and its features (cached)."""
    if not os.path.isdir(folder):
        raise WaifuError(f"folder not found: {folder}")
    dataset = load_folder(folder, resolution, split=split)
    key = hashlib.sha256(f"{FEATURE_SPACE}|{folder_key(folder, resolution)}|{split}".encode()).hexdigest()[:40]
    path = cache_path("features", key)
    features = load_cached_array(path, dtype=np.float32)
    if features is None or len(features) != len(dataset.images):
        if progress is not None:
            progress(("indexing faces", 0, len(dataset.images)))
        features = appearance_features(dataset.images)
        save_cached_array(path, features, {"folder": os.fspath(folder), "space": FEATURE_SPACE})
    return FaceIndex(dataset.images, features, list(dataset.paths))


def pairwise_distances(a: np.ndarray, b: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """(len(a), len(b)) Euclidean distances, computed in row chunks (float32)."""
    tb = torch.from_numpy(np.ascontiguousarray(b, np.float32))
    out = np.empty((len(a), len(b)), np.float32)
    for start in range(0, len(a), chunk):
        ta = torch.from_numpy(np.ascontiguousarray(a[start:start + chunk], np.float32))
        out[start:start + len(ta)] = torch.cdist(ta, tb).numpy()
    return out


def nearest_faces(query: np.ndarray, index: FaceIndex, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances (RMS Delta E) of the ``k`` indexed faces closest to ``query`` (H, W, 3)."""
    if not len(index.features):
        raise WaifuError("the folder has no faces to compare with")
    q = appearance_features(np.asarray(query, np.uint8)[None])
    distances = pairwise_distances(q, index.features)[0]
    order = np.argsort(distances, kind="stable")[:min(k, len(distances))]
    return order, distances[order]


def nearest_distance(queries: np.ndarray, reference: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    """For each query feature, the distance to its closest reference feature."""
    out = np.empty(len(queries), np.float32)
    for start in range(0, len(queries), 1024):
        d = pairwise_distances(queries[start:start + 1024], reference)
        if exclude_self:
            d[np.arange(len(d)), np.arange(start, start + len(d))] = np.inf
        out[start:start + len(d)] = d.min(axis=1)
    return out


def knn_radii(features: np.ndarray, k: int = 3) -> np.ndarray:
    """Distance of each point to its k-th nearest other point of the same set."""
    if len(features) <= k:
        raise WaifuError(f"precision and recall need more than k={k} faces per set")
    radii = np.empty(len(features), np.float32)
    for start in range(0, len(features), 1024):
        d = pairwise_distances(features[start:start + 1024], features)
        d[np.arange(len(d)), np.arange(start, start + len(d))] = np.inf  # not its own neighbour
        radii[start:start + len(d)] = np.partition(d, k - 1, axis=1)[:, k - 1]
    return radii


def manifold_share(queries: np.ndarray, reference: np.ndarray, radii: np.ndarray) -> float:
    """Share of ``queries`` inside the union of balls around ``reference`` with ``radii``."""
    inside = np.zeros(len(queries), bool)
    for start in range(0, len(queries), 1024):
        d = pairwise_distances(queries[start:start + 1024], reference)
        inside[start:start + len(d)] = (d <= radii[None, :]).any(axis=1)
    return float(inside.mean())


def precision_recall(real: np.ndarray, generated: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of feature sets, k-NN manifolds."""
    precision = manifold_share(generated, real, knn_radii(real, k))
    recall = manifold_share(real, generated, knn_radii(generated, k))
    return precision, recall


@dataclass
class MemorisationReport:
    precision: float
    recall: float
    k: int
    copy_share: float  # generated faces nearer a training face than (1 - quantile) of held-out faces are
    quantile: float  # expected copy_share of a model whose faces are as novel as fresh real ones
    median_generated_distance: float
    median_heldout_distance: float
    counts: dict[str, int]
    extra: dict[str, float] = field(default_factory=dict)  # FID / KID when the metrics extra is installed
    map_xy: np.ndarray | None = None  # (n_real + n_generated, 2): both clouds on one map
    map_generated: np.ndarray | None = None  # (same,) bool: True for generated points
    map_space: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = {"precision": self.precision, "recall": self.recall, "k": self.k, "copy_share": self.copy_share,
               "copy_quantile": self.quantile, "median_generated_distance": self.median_generated_distance,
               "median_heldout_distance": self.median_heldout_distance, **self.counts, **self.extra}
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}


def _subsample(n_total: int, n: int, seed: int) -> np.ndarray:
    if n_total <= n:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, n, replace=False))


def memorisation_report(model: FaceModel, folder: str | os.PathLike, *, n_generated: int = 2000, n_real: int = 2000,
                        k: int = 3, quantile: float = 0.05, fid: bool = False, device: str = "cpu",
                        progress: ProgressFn | None = None, cancel: threading.Event | None = None
                        ) -> MemorisationReport:
    """Generated faces (seeds 0..n-1) against ``folder``'s fixed split (train = 9 of 10, held-out = 1 of 10)."""
    def report(stage: str, done: int, total: int) -> None:
        _check(cancel)
        if progress is not None:
            progress((stage, done, total))

    train = index_folder(folder, model.resolution, split="train")
    report("indexing faces", 1, 4)
    held = index_folder(folder, model.resolution, split="val")
    if len(train.images) <= k or len(held.images) < 2:
        raise WaifuError(f"{folder} has too few faces for a report (needs more than {10 * (k + 1)})")
    generated = []
    for start in range(0, n_generated, 256):
        report("generating faces", start, n_generated)
        generated.append(model.decode(model.seeds_to_latents(range(start, min(start + 256, n_generated)))))
    faces = np.concatenate(generated)
    gen_features = appearance_features(faces)
    train_pick = _subsample(len(train.features), n_real, 0)
    real = train.features[train_pick]
    report("precision and recall", 2, 4)
    precision, recall = precision_recall(real, gen_features, k)
    report("distances to training faces", 3, 4)
    d_gen = nearest_distance(gen_features, train.features)
    d_held = nearest_distance(held.features[_subsample(len(held.features), n_real, 1)], train.features)
    threshold = float(np.quantile(d_held, quantile))
    extra: dict[str, float] = {}
    if fid:
        from .metrics import fid_kid, reference_stats

        extra = fid_kid(faces, reference_stats(train.images, key=None, device=device), device=device)
    map_xy, map_generated, space = _clouds(model, train.images[train_pick], real, faces, gen_features)
    report("done", 4, 4)
    counts = {"n_generated": len(faces), "n_train": len(train.images), "n_heldout": len(held.images),
              "n_real_sampled": len(real)}
    return MemorisationReport(precision, recall, k, float((d_gen < threshold).mean()), quantile,
                              float(np.median(d_gen)), float(np.median(d_held)), counts, extra, map_xy, map_generated,
                              space)


def _clouds(model: FaceModel, real_faces: np.ndarray, real_features: np.ndarray, gen_faces: np.ndarray,
            gen_features: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Real and generated points on one 2-D PCA map: in latent space for models with an encoder, else features."""
    from ..explore.projection import pca_2d

    if model.has_encoder:  # real faces encoded, generated faces at their seeds' latents
        points = np.concatenate([model.encode(real_faces), model.seeds_to_latents(range(len(gen_faces)))])
        space = "latent space"
    else:
        points = np.concatenate([real_features, gen_features])
        space = "appearance feature space"
    generated = np.concatenate([np.zeros(len(real_faces), bool), np.ones(len(gen_faces), bool)])
    return pca_2d(points), generated, space
