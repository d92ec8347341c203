"""Two models side by side: the same seeds, the same morph and the same edit, decoded by each.

Seeds are model-neutral (``seed -> noise`` is the same for every model), so the fair comparison
is made in noise space: the grid shows seeds S..S+N-1, the morph runs between two seeds' latents,
and a direction offset moves one noise dimension by the same amount before each model maps the
noise into its own latent space. Models of different latent sizes can be compared on seeds and
morphs; an offset needs the dimension to exist in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models import FaceModel
from .latent import interpolate
from .reproduce import image_recipe, layout_part, model_ref, seed_latents, seeds_part


@dataclass(frozen=True)
class CompareView:
    """What both sides draw."""

    seed: int = 0
    count: int = 16
    truncation: float = 1.0
    morph_seeds: tuple[int, int] = (0, 1)
    t: float = 0.5
    offset: tuple[int, float] = (0, 0.0)  # (noise dimension, value in standard deviations)

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.count))


@dataclass
class SideFrame:
    grid: np.ndarray  # (count, H, W, 3)
    morph_face: np.ndarray  # (H, W, 3) at position t
    model: FaceModel


def render_side(model: FaceModel, view: CompareView) -> SideFrame:
    """One model's grid and morph face for ``view`` (display decode)."""
    grid = model.decode(seed_latents(model, view.seeds, view.truncation, view.offset))
    a, b = seed_latents(model, list(view.morph_seeds), view.truncation, view.offset)
    latent = interpolate(a, b, view.t, spherical=True, center=model.latent_mean)
    return SideFrame(grid, model.decode(latent)[0], model)


def compare_recipe(model_a: FaceModel, model_b: FaceModel, view: CompareView, ncols: int) -> dict:
    """The two grids as one PNG: model A's rows, then model B's, the same seeds and offset."""
    return image_recipe([model_ref(model_a), model_ref(model_b)], seeds_part(view.seeds, view.truncation, view.offset),
                        layout_part(ncols), compare={"rows": "A then B"})
