"""Two models side by side: the same seeds, the same morph and the same edit, decoded by each.

Seeds are model-neutral (``seed -> noise`` is the same for every model), so the fair comparison
is made in noise space: the grid shows seeds S..S+N-1, the morph runs between two seeds' latents,
and a direction offset moves one noise dimension by the same amount before each model maps the
noise into its own latent space. Models of different latent sizes can be compared on seeds and
morphs; an offset needs the dimension to exist in both.

A morph end may also be an image file (:class:`ImageEndpoint`): each model finds its own latent
for it (AE/VAE encode it, GANs invert it), so both sides morph towards the same picture as each
model sees it. The noise offset moves seed ends only: an image end is the image, as encoded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io.recipe import encode_array
from ..models import FaceModel
from .latent import interpolate
from .reproduce import image_recipe, layout_part, model_ref, seed_latents, seeds_part

EndLatents = tuple[np.ndarray | None, np.ndarray | None]  # one side's latents of the image ends (None: a seed end)


@dataclass(frozen=True)
class ImageEndpoint:
    """A morph end made from an image file, as it was when chosen (its time stamp and content hash)."""

    path: str
    mtime_ns: int
    sha256: str

    @property
    def name(self) -> str:
        return Path(self.path).name


def check_image_endpoint(path: str | os.PathLike, resolution: int) -> ImageEndpoint:
    """``path`` as a morph end: loaded once to prove it is a usable image (``DataError`` if not)."""
    from ..data import load_image_file
    from ..io.files import file_sha256

    load_image_file(path, resolution)
    return ImageEndpoint(os.fspath(path), os.stat(path).st_mtime_ns, file_sha256(path))


@dataclass(frozen=True)
class CompareView:
    """What both sides draw."""

    seed: int = 0
    count: int = 16
    truncation: float = 1.0
    morph_seeds: tuple[int, int] = (0, 1)
    morph_images: tuple[ImageEndpoint | None, ImageEndpoint | None] = (None, None)  # an image replaces that seed
    t: float = 0.5
    offset: tuple[int, float] = (0, 0.0)  # (noise dimension, value in standard deviations)

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.count))

    def end_label(self, index: int) -> str:
        image = self.morph_images[index]
        return f"seed {self.morph_seeds[index]}" if image is None else image.name


@dataclass
class SideFrame:
    grid: np.ndarray  # (count, H, W, 3)
    morph_face: np.ndarray | None  # (H, W, 3) at position t; None while an image end's latent is being found
    model: FaceModel


def morph_ends(model: FaceModel, view: CompareView, image_latents: EndLatents = (None, None)
               ) -> tuple[np.ndarray, np.ndarray] | None:
    """The two morph end latents of ``model``: seeds (with the offset) or the image ends' latents;
    None when an image end's latent is not known yet."""
    seeds = seed_latents(model, list(view.morph_seeds), view.truncation, view.offset)
    ends = []
    for index, image in enumerate(view.morph_images):
        if image is None:
            ends.append(seeds[index])
        elif image_latents[index] is None:
            return None
        else:
            ends.append(np.asarray(image_latents[index], np.float32).reshape(-1))
    return ends[0], ends[1]


def render_side(model: FaceModel, view: CompareView, image_latents: EndLatents = (None, None)) -> SideFrame:
    """One model's grid and morph face for ``view`` (display decode)."""
    grid = model.decode(seed_latents(model, view.seeds, view.truncation, view.offset))
    ends = morph_ends(model, view, image_latents)
    if ends is None:
        return SideFrame(grid, None, model)
    latent = interpolate(ends[0], ends[1], view.t, spherical=True, center=model.latent_mean)
    return SideFrame(grid, model.decode(latent)[0], model)


def _morph_record(view: CompareView, image_latents: list[EndLatents]) -> dict[str, Any]:
    """The morph both sides showed: seed ends, or image ends with the file's name, SHA-256 and each
    model's latent (base64 float16, in checkpoint order)."""
    ends = {}
    for index, key in enumerate(("a", "b")):
        image = view.morph_images[index]
        if image is None:
            ends[key] = {"seed": int(view.morph_seeds[index])}
            continue
        known = all(latents[index] is not None for latents in image_latents)  # None: saved while still encoding
        ends[key] = {"file": image.name, "file_sha256": image.sha256,
                     "latents": [encode_array(latents[index]) for latents in image_latents] if known else None}
    return {**ends, "method": "slerp", "t": float(view.t), "noise_offset_moves": "seed ends only"}


def compare_recipe(model_a: FaceModel, model_b: FaceModel, view: CompareView, ncols: int,
                   image_latents: list[EndLatents] | None = None) -> dict:
    """The two grids as one PNG: model A's rows, then model B's, the same seeds and offset.

    The morph (seed or image ends, position t) is recorded under ``compare.morph`` for the record;
    the file's pixels are the two grids, which ``reproduce`` re-renders.
    """
    morph = _morph_record(view, image_latents or [(None, None), (None, None)])
    return image_recipe([model_ref(model_a), model_ref(model_b)], seeds_part(view.seeds, view.truncation, view.offset),
                        layout_part(ncols), compare={"rows": "A then B", "morph": morph})
