"""Real faces beside what an AE / VAE makes of them, with PSNR per face (the Reconstructions tab and
``waifu-studio reconstruct``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import builtin_faces, load_folder
from ..errors import WaifuError
from ..io.export import make_grid
from ..models import FaceModel
from .metrics import psnr, recon_metrics

PAIRS_PER_ROW = 8


@dataclass
class ReconResult:
    faces: np.ndarray  # (N, H, W, 3) real faces
    recons: np.ndarray  # (N, H, W, 3) their reconstructions
    psnrs: np.ndarray  # (N,) dB per face
    metrics: dict[str, float]  # recon_metrics of the whole set
    grid: np.ndarray  # the picture shown (and exported)
    description: str


def reconstruct_faces(model: FaceModel, folder: str | None, count: int, progress: Callable | None = None,
                      cancel: threading.Event | None = None) -> ReconResult:
    """Faces (built-in set, or the first ``count`` of a folder), reconstructions, PSNRs and a grid."""
    if not model.has_encoder:
        raise WaifuError(f"a {model.family} model has no encoder: reconstructions need an AE or a VAE")
    if folder is None:
        faces = builtin_faces(count=count, resolution=model.resolution, cancel=cancel).images
        description = f"{len(faces)} built-in faces"
    else:
        dataset = load_folder(folder, model.resolution, cancel=cancel,
                              progress=(lambda done, total: progress((done, total))) if progress else None)
        faces = dataset.images[:count]
        description = f"{len(faces)} faces from {Path(folder).name}"
    faces = np.ascontiguousarray(faces)
    recons = model.reconstruct(faces)
    psnrs = np.array([psnr(a, b) for a, b in zip(faces, recons, strict=True)])
    metrics = recon_metrics(model, faces)
    # Each tile is one pair (real | reconstruction) so pairs never blur into each other.
    pairs = np.concatenate([faces, np.full_like(faces[:, :, :2], 255), recons], axis=2)
    scale = max(1, 64 // model.resolution)
    labels = [f"{p:.1f} dB" if np.isfinite(p) else "exact" for p in psnrs]
    grid = make_grid(pairs, ncols=min(PAIRS_PER_ROW, len(pairs)), padding=6, labels=labels, scale=scale,
                     label_height=14 * scale if scale > 1 else 16)
    return ReconResult(faces, recons, psnrs, metrics, grid, description)
