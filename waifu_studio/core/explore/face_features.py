"""Colour and appearance features of face images: hair hue for colouring a map, features for GAN maps.

GANs have no encoder, so maps of their samples lay faces out by ``image_features``; the map's
"dominant hair hue" colouring comes from ``dominant_hue``. Plain numpy on uint8 (N, H, W, 3) arrays.
"""

from __future__ import annotations

import numpy as np

from ..errors import WaifuError
from .projection.pca import pca_reduce


def _rgb_to_hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in [0, 1), saturation, value of float RGB in [0, 1] (..., 3)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    # Element-wise max/min: numpy reductions over a length-3 last axis are ~8x slower.
    high, low = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    spread = high - low
    safe = np.where(spread > 0, spread, 1.0)
    hue = np.where(high == r, (g - b) / safe, np.where(high == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    hue = np.where(spread > 0, (hue / 6.0) % 1.0, 0.0)
    saturation = np.where(high > 0, spread / np.where(high > 0, high, 1.0), 0.0)
    return hue, saturation, high


def dominant_hue(images: np.ndarray, *, top_fraction: float = 0.4, min_share: float = 0.1) -> np.ndarray:
    """(N,) hue in [0, 1) of the main saturated colour in the top of each face (the hair), or -1.

    Only saturated, not-too-dark pixels count (skin, outlines and grey backgrounds do not);
    when they cover less than ``min_share`` of the top ``top_fraction`` rows the hair is
    black, white or grey and the answer is -1. Red is ~0.0, green ~0.33, blue ~0.67.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise WaifuError(f"images must have shape (N, H, W, 3), got {images.shape}")
    bins = 36
    rows = max(1, int(round(images.shape[1] * top_fraction)))
    hues = np.full(len(images), -1.0)
    for start in range(0, len(images), 1024):  # bounded float memory for big sets
        top = images[start:start + 1024, :rows].astype(np.float32) / 255.0
        n = len(top)
        hue, saturation, value = (a.reshape(n, -1) for a in _rgb_to_hsv(top))
        chromatic = (saturation > 0.35) & (value > 0.25)
        weight = np.where(chromatic, saturation * value, 0.0)
        which = np.minimum((hue * bins).astype(np.int64), bins - 1)
        offsets = np.arange(n)[:, None] * bins
        histogram = np.bincount((offsets + which).ravel(), weight.ravel(), minlength=n * bins).reshape(n, bins)
        # Smooth circularly so a hue sitting on a bin edge is not split in two.
        smooth = histogram + np.roll(histogram, 1, axis=1) + np.roll(histogram, -1, axis=1)
        best = smooth.argmax(axis=1)
        near = np.abs((which - best[:, None] + bins // 2) % bins - bins // 2) <= 1
        w = np.where(near, weight, 0.0)
        angle = 2 * np.pi * hue
        mean = np.arctan2((w * np.sin(angle)).sum(1), (w * np.cos(angle)).sum(1)) / (2 * np.pi) % 1.0
        enough = chromatic.mean(axis=1) >= min_share
        hues[start:start + n] = np.where(enough, mean, -1.0)
    return hues


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of float sRGB in [0, 1]: distances there follow perceived colour differences."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    to_xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = linear @ to_xyz.T / np.array([0.95047, 1.0, 1.08883])
    delta = 6.0 / 29.0
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4.0 / 29.0)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def _thumbnails(images: np.ndarray, side: int = 16) -> np.ndarray:
    """(N, side, side, 3) float RGB in [0, 1]: box-filtered, so each value averages a patch."""
    n, h, w, _ = images.shape
    if h % side == 0 and w % side == 0:
        blocks = images.reshape(n, side, h // side, side, w // side, 3)
        # Integer sums one axis at a time: 3x faster than a float mean over both axes at once.
        sums = blocks.sum(axis=2, dtype=np.uint32).sum(axis=3)
        return sums / (255.0 * (h // side) * (w // side))
    from PIL import Image

    small = [np.asarray(Image.fromarray(img).resize((side, side), Image.Resampling.BOX)) for img in images]
    return np.stack(small).astype(np.float64) / 255.0


APPEARANCE_SIDE = 16  # thumbnail side of the appearance feature space


def appearance_features(images: np.ndarray) -> np.ndarray:
    """(N, 768) float32: each face as its 16x16 box-filtered thumbnail in CIELAB, divided by 16.

    A fixed feature space, the same for every model and folder (nothing is fitted or downloaded):
    the Euclidean distance of two faces is the RMS colour difference (CIE76 Delta E) of their 4x4
    pixel patches at 64 px, so 0 means the same picture and about 2-3 is a barely visible change.
    Box filtering makes it tolerant of pixel noise and JPEG artefacts. It sees layout and colour,
    not identity: two different characters drawn alike are close.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise WaifuError(f"images must be an (N, H, W, 3) uint8 array, got {images.shape} {images.dtype}")
    parts = [_lab_pixels(_thumbnails(images[i:i + 2048], APPEARANCE_SIDE)) for i in range(0, len(images), 2048)]
    features = np.concatenate(parts) if parts else np.zeros((0, APPEARANCE_SIDE * APPEARANCE_SIDE * 3))
    return (features * (100.0 / APPEARANCE_SIDE)).astype(np.float32)


def _lab_pixels(thumbs: np.ndarray) -> np.ndarray:
    """(N, side*side*3) CIELAB of thumbnails, divided by 100."""
    return (_srgb_to_lab(thumbs) / 100.0).reshape(len(thumbs), -1)


def image_features(images: np.ndarray, dims: int = 64) -> np.ndarray:
    """(N, dims) float32 features of faces for maps of models without an encoder (GANs).

    A 16x16 CIELAB thumbnail captures layout and colour; hue histograms of the top (hair) and the
    whole face plus a lightness histogram make hair colour count for more than its pixel share
    (the histograms get a third of the total variance). PCA then keeps the ``dims`` strongest
    directions; columns beyond the data's rank are zero. Deterministic.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
        raise WaifuError(f"images must be a non-empty (N, H, W, 3) uint8 array, got {images.shape} {images.dtype}")
    pixel_parts, histogram_parts = [], []
    for start in range(0, len(images), 2048):
        thumbs = _thumbnails(images[start:start + 2048])
        pixel_parts.append(_lab_pixels(thumbs))
        hue, saturation, value = _rgb_to_hsv(thumbs)
        chroma = saturation * value
        hue_bins = np.minimum((hue * 12).astype(np.int64), 11)
        light_bins = np.minimum((value * 8).astype(np.int64), 7)
        top = thumbs.shape[1] * 2 // 5
        histograms = [_weighted_histograms(hue_bins[:, :top], chroma[:, :top], 12),
                      _weighted_histograms(hue_bins, chroma, 12),
                      _weighted_histograms(light_bins, 1.0 - saturation, 8)]
        histogram_parts.append(np.concatenate(histograms, axis=1))
    pixels, histograms = np.concatenate(pixel_parts), np.concatenate(histogram_parts)
    pixels -= pixels.mean(axis=0)
    histograms -= histograms.mean(axis=0)
    pixel_var, histogram_var = float((pixels**2).sum()), float((histograms**2).sum())
    if histogram_var > 0:
        histograms *= np.sqrt(0.5 * pixel_var / histogram_var) if pixel_var > 0 else 1.0
    features = np.concatenate([pixels, histograms], axis=1)
    reduced = pca_reduce(features, dims)[:, :dims] if len(features) > 1 else np.zeros((1, 0))
    out = np.zeros((len(features), dims), np.float32)
    out[:, :reduced.shape[1]] = reduced
    return out


def _weighted_histograms(bins: np.ndarray, weights: np.ndarray, count: int) -> np.ndarray:
    """Per-image histograms (N, count) of integer ``bins`` with ``weights``, each summing to 1."""
    n = len(bins)
    flat = (np.arange(n)[:, None] * count + bins.reshape(n, -1)).ravel()
    histogram = np.bincount(flat, weights.reshape(n, -1).ravel(), minlength=n * count).reshape(n, count)
    return histogram / np.maximum(histogram.sum(axis=1, keepdims=True), 1e-9)
