"""Write faces to files: PNG grids with labels, morph strips, animated GIFs.

Everything takes uint8 RGB arrays (N, H, W, 3) as produced by the models and returns or writes
plain images; no Qt. Files are written atomically (temp file in the same folder, fsync,
``os.replace``) so a crash or a full disk never leaves a half-written image under the real name.
PNG and GIF writers take an optional ``recipe`` (see ``recipe.py``) that the file then carries.
"""

from __future__ import annotations

import functools
import math
import os
import pathlib
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import WaifuError
from .files import atomic_write
from .recipe import Recipe, gif_comment, png_text_chunk

PathLike = str | os.PathLike

# Extensions save_image understands, with the Pillow format and options used for each.
_FORMATS: dict[str, tuple[str, dict]] = {
    ".png": ("PNG", {"compress_level": 6}),
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
    # Lossless: faces are small and sharp pixels matter more than a few kilobytes.
    ".webp": ("WEBP", {"lossless": True}),
}


# The largest image written: the 64 megapixels the data loader accepts (data.images.MAX_PIXELS),
# so whatever the program writes it can read back; a grid that size holds ~14,000 64-px faces.
MAX_EXPORT_PIXELS = 64_000_000
MAX_GIF_FRAME_MS = 655_350  # a GIF stores each frame's delay as a 16-bit count of 1/100 s

# ----------------------------------------------------------------------------- checks


def check_export_size(height: int, width: int, what: str = "image") -> None:
    """Refuse (before anything is allocated) an image over :data:`MAX_EXPORT_PIXELS`."""
    if height * width > MAX_EXPORT_PIXELS:
        raise WaifuError(f"the {what} would be {width:,}x{height:,} pixels, more than the limit of "
                         f"{MAX_EXPORT_PIXELS // 1_000_000} megapixels; use fewer faces or a smaller scale")


def _as_rgb_batch(images: np.ndarray, what: str = "images") -> np.ndarray:
    """Validate (N, H, W, 3) uint8; also accept a single (H, W, 3) image and grey (N, H, W)."""
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise WaifuError(f"{what} must be uint8 RGB, got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[-1] == 3:
        arr = arr[None]
    if arr.ndim == 3:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise WaifuError(f"{what} must have shape (N, H, W, 3), got {arr.shape}")
    if len(arr) == 0:
        raise WaifuError(f"no {what} to export")
    return arr


def _as_rgb_image(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[-1] != 3:
        raise WaifuError(f"an image must be a (H, W, 3) uint8 array, got {arr.shape} {arr.dtype}")
    return np.ascontiguousarray(arr)


def _check_scale(scale: int) -> int:
    if int(scale) != scale or scale < 1:
        raise WaifuError(f"scale must be a whole number >= 1, not {scale}")
    return int(scale)


def _upscale(images: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour integer upscale of (N, H, W, 3): each pixel becomes a scale x scale block."""
    if scale == 1:
        return images
    return images.repeat(scale, axis=1).repeat(scale, axis=2)


# ----------------------------------------------------------------------------- grids


def grid_shape(n: int, ncols: int | None = None) -> tuple[int, int]:
    """(nrows, ncols) of a grid of ``n`` tiles.

    ``ncols`` defaults to ceil(sqrt(n)) (a near-square grid) and is capped at ``n`` so a short
    row never carries empty columns.
    """
    if n < 1:
        raise WaifuError("a grid needs at least one image")
    if ncols is None:
        ncols = math.ceil(math.sqrt(n))
    if ncols < 1:
        raise WaifuError(f"a grid needs at least one column, not {ncols}")
    ncols = min(int(ncols), n)
    return math.ceil(n / ncols), ncols


def grid_size(n: int, tile_height: int, tile_width: int, ncols: int | None = None, *, padding: int = 2,
              scale: int = 1, label_height: int = 0) -> tuple[int, int]:
    """(height, width) in pixels of ``make_grid`` of ``n`` tiles (``label_height`` 0: no labels)."""
    nrows, ncols = grid_shape(n, ncols)
    return (nrows * (tile_height * scale + label_height) + (nrows + 1) * padding,
            ncols * tile_width * scale + (ncols + 1) * padding)


def default_label_height(tile_height: int, scale: int = 1) -> int:
    """Height in pixels of the label strip under a tile of ``tile_height`` source pixels."""
    return max(10, tile_height // 4) * scale


@functools.lru_cache(maxsize=32)
def _label_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow >= 10.1 ships a scalable default font, so labels need no font file.
    return ImageFont.load_default(size=size)


def _fit_label(draw: ImageDraw.ImageDraw, text: str, max_width: int, strip_height: int):
    """(text, font) that fits ``max_width``: shrink the font to a readable minimum, then cut with '..'."""
    largest = max(7, int(strip_height * 0.75))
    smallest = min(largest, max(7, int(strip_height * 0.5)))
    for size in range(largest, smallest - 1, -1):
        font = _label_font(size)
        if draw.textlength(text, font=font) <= max_width:
            return text, font
    font = _label_font(smallest)
    while text and draw.textlength(text + "..", font=font) > max_width:
        text = text[:-1]
    return (text + ".." if text else ""), font


def make_grid(images: np.ndarray, ncols: int | None = None, *, padding: int = 2, pad_value: int = 255,
              labels: Sequence[str] | None = None, label_height: int | None = None, scale: int = 1) -> np.ndarray:
    """Tile ``images`` (N, H, W, 3) uint8 into one RGB uint8 array.

    Tile ``i`` sits at row ``i // ncols``, column ``i % ncols``. With ``labels`` each tile gets a
    strip of ``label_height`` pixels below it (default ``max(10, H // 4) * scale``) with its
    label centred in it. The output size is exactly::

        width  = ncols * W * scale + (ncols + 1) * padding
        height = nrows * (H * scale + label_h) + (nrows + 1) * padding

    where ``(nrows, ncols) = grid_shape(N, ncols)`` and ``label_h`` is 0 without labels.
    Padding and label strips are filled with ``pad_value``; label text is black on a light
    fill and white on a dark one.
    """
    images = _as_rgb_batch(images)
    scale = _check_scale(scale)
    if padding < 0:
        raise WaifuError(f"padding must be >= 0, not {padding}")
    n, h, w, _ = images.shape
    ncols = grid_shape(n, ncols)[1]
    if labels is not None:
        labels = [str(label) for label in labels]
        if len(labels) != n:
            raise WaifuError(f"got {len(labels)} labels for {n} images")
        label_h = default_label_height(h, scale) if label_height is None else int(label_height)
    else:
        label_h = 0
    tile_h, tile_w = h * scale, w * scale
    height, width = grid_size(n, h, w, ncols, padding=padding, scale=scale, label_height=label_h)
    check_export_size(height, width, "grid")
    canvas = np.full((height, width, 3), np.uint8(pad_value), dtype=np.uint8)
    tiles = _upscale(images, scale)
    for i in range(n):
        y, x = _tile_origin(i, ncols, padding, tile_h + label_h, tile_w)
        canvas[y:y + tile_h, x:x + tile_w] = tiles[i]
    if labels is not None and label_h > 0:
        canvas = _draw_labels(canvas, labels, ncols, padding, tile_h, tile_w, label_h, pad_value)
    return canvas


def _tile_origin(i: int, ncols: int, padding: int, cell_h: int, tile_w: int) -> tuple[int, int]:
    row, col = divmod(i, ncols)
    return padding + row * (cell_h + padding), padding + col * (tile_w + padding)


def _draw_labels(canvas: np.ndarray, labels: Sequence[str], ncols: int, padding: int, tile_h: int, tile_w: int,
                 label_h: int, pad_value: int) -> np.ndarray:
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    ink = (0, 0, 0) if pad_value >= 128 else (255, 255, 255)
    for i, label in enumerate(labels):
        text, font = _fit_label(draw, label, tile_w - 2, label_h)
        if not text:
            continue
        y, x = _tile_origin(i, ncols, padding, tile_h + label_h, tile_w)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        # Centre the ink box (not the nominal line box) so short labels sit visibly centred.
        tx = x + (tile_w - (right - left)) / 2 - left
        ty = y + tile_h + (label_h - (bottom - top)) / 2 - top
        draw.text((tx, ty), text, fill=ink, font=font)
    return np.asarray(image).copy()


def morph_strip(frames: np.ndarray, *, padding: int = 2, scale: int = 1,
                labels: Sequence[str] | None = None) -> np.ndarray:
    """All ``frames`` (K, H, W, 3) side by side in one row (a morph from face A to face B)."""
    frames = _as_rgb_batch(frames, "frames")
    return make_grid(frames, ncols=len(frames), padding=padding, labels=labels, scale=scale)


# ----------------------------------------------------------------------------- files


def save_png(image: np.ndarray, path: PathLike, *, recipe: Recipe | None = None) -> pathlib.Path:
    """Write one (H, W, 3) uint8 image as a lossless PNG, atomically, with ``recipe`` in a text chunk."""
    pil = Image.fromarray(_as_rgb_image(image))
    options: dict = {"compress_level": 6}
    if recipe is not None:
        options["pnginfo"] = png_text_chunk(recipe)
    return atomic_write(path, lambda f: pil.save(f, format="PNG", **options))


def save_image(image: np.ndarray, path: PathLike, *, recipe: Recipe | None = None) -> pathlib.Path:
    """Write one image; the format follows the extension (.png, .jpg/.jpeg, .webp).

    Only PNG files carry ``recipe``; JPEG and WebP files are written without it.
    """
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        return save_png(image, path, recipe=recipe)
    if suffix not in _FORMATS:
        known = ", ".join(sorted(_FORMATS))
        raise WaifuError(f"cannot write {path}: unknown image type {suffix or '(none)'}; use one of {known}")
    fmt, options = _FORMATS[suffix]
    pil = Image.fromarray(_as_rgb_image(image))
    return atomic_write(path, lambda f: pil.save(f, format=fmt, **options))


def save_grid(images: np.ndarray, path: PathLike, ncols: int | None = None, *, padding: int = 2,
              labels: Sequence[str] | None = None, scale: int = 1, recipe: Recipe | None = None) -> pathlib.Path:
    """``make_grid`` then ``save_image`` (format from the extension)."""
    return save_image(make_grid(images, ncols, padding=padding, labels=labels, scale=scale), path, recipe=recipe)


def gif_frame_order(count: int, pingpong: bool = True) -> list[int]:
    """Frame indices played by a GIF of ``count`` frames: 0..K-1, then K-2..1 when ping-ponging.

    The return leg skips both endpoints so the loop never shows an end frame twice in a row.
    """
    order = list(range(count))
    if pingpong and count > 2:
        order += list(range(count - 2, 0, -1))
    return order


def _quantise(frame: np.ndarray, scale: int) -> Image.Image:
    """One frame as a 256-colour palette image with its own adaptive (median cut) palette.

    Per-frame palettes: a morph changes hair and skin colours across the whole animation, and one
    shared palette measured ~7x the error of per-frame palettes on such morphs (about 2 vs 0.3
    levels per channel), which shows as banding on smooth gradients. 256 colours for a 64x64 face
    is nearly lossless, so no dithering is needed, and without it there is no frame-to-frame
    dither shimmer. Quantise at source size, then upscale the palette image (cheaper, same result).
    """
    image = Image.fromarray(frame).quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    return image


def save_gif(frames: np.ndarray, path: PathLike, *, duration_ms: int = 80, pingpong: bool = True,
             loop: int | None = 0, scale: int = 1, recipe: Recipe | None = None) -> pathlib.Path:
    """Write ``frames`` (K, H, W, 3) uint8 as an animated GIF, atomically.

    ``pingpong`` plays 0..K-1 then K-2..1 (2K-2 frames) for a seamless back-and-forth loop.
    ``loop=0`` repeats forever, ``None`` plays once. Each frame gets its own adaptive 256-colour
    palette (see ``_quantise``). Pillow merges consecutive identical frames, so a morph that
    does not move at all has fewer frames in the file. ``recipe`` goes in a comment extension.
    """
    frames = _as_rgb_batch(frames, "frames")
    scale = _check_scale(scale)
    if not 1 <= duration_ms <= MAX_GIF_FRAME_MS:
        raise WaifuError(f"frame duration must be from 1 to {MAX_GIF_FRAME_MS:,} ms, not {duration_ms:,}")
    k, h, w, _ = frames.shape
    check_export_size(k * h * scale, w * scale, "animation (all frames)")
    quantised = [_quantise(frame, scale) for frame in frames]
    sequence = [quantised[i] for i in gif_frame_order(len(quantised), pingpong)]
    options: dict = {"save_all": True, "append_images": sequence[1:], "duration": int(duration_ms),
                     "disposal": 1, "optimize": False}
    if loop is not None:
        options["loop"] = int(loop)
    if recipe is not None:
        options["comment"] = gif_comment(recipe)
    return atomic_write(path, lambda f: sequence[0].save(f, format="GIF", **options))
