"""The CLI command line that writes the same file as a recipe ("Copy as command").

Seed grids become ``waifu-studio generate``, seed-to-seed morphs ``waifu-studio morph``; anything
else (edited faces, image endpoints, comparisons, timelines) becomes ``waifu-studio reproduce
--recipe JSON``, which renders any recipe. Each command writes the very bytes the app writes.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence

import numpy as np

from ..io.export import grid_shape
from ..io.recipe import Recipe, recipe_text

PROGRAM = "waifu-studio"


def _quote(parts: list[str]) -> str:
    return " ".join(shlex.quote(p) for p in parts)


def _generate_args(recipe: Recipe) -> list[str] | None:
    faces, layout = recipe["faces"], recipe.get("layout") or {}
    seeds = faces.get("seeds")
    if recipe.get("kind") != "image" or not seeds or layout.get("padding", 2) != 2:
        return None
    start, n = seeds[0], len(seeds)
    if list(seeds) != list(range(start, start + n)):
        return None
    labels = layout.get("labels")
    if labels is not None and labels != [str(s) for s in seeds]:
        return None
    args = ["generate", "--seed", str(start), "--n", str(n)]
    if layout["ncols"] != grid_shape(n)[1]:
        args += ["--ncols", str(layout["ncols"])]
    if float(faces.get("truncation", 1.0)) != 1.0:
        args += ["--truncation", repr(float(faces["truncation"]))]
    if layout.get("scale", 1) != 1:
        args += ["--scale", str(layout["scale"])]
    if labels is not None:
        args.append("--labels")
    return args


def _morph_args(recipe: Recipe) -> list[str] | None:
    spec = recipe["faces"].get("morph")
    if spec is None or any(set(end) != {"seed"} for end in (spec["a"], spec["b"])):
        return None
    steps = len(spec["t"])
    if steps < 2 or spec["t"] != np.linspace(0.0, 1.0, steps).tolist():
        return None
    args = ["morph", "--from", str(spec["a"]["seed"]), "--to", str(spec["b"]["seed"]), "--steps", str(steps)]
    if spec["method"] == "slerp":
        args.append("--slerp")
    if recipe.get("kind") == "gif":
        gif = recipe["gif"]
        if recipe.get("frames") != "faces" or not gif.get("pingpong", True):
            return None
        args += ["--duration", str(gif["duration_ms"])]
        scale = gif.get("scale", 1)
    else:
        layout = recipe["layout"]
        if layout["ncols"] != steps or layout.get("padding", 2) != 2 or layout.get("labels") is not None:
            return None
        scale = layout.get("scale", 1)
    if scale != 1:
        args += ["--scale", str(scale)]
    return args


def recipe_command(recipe: Recipe, checkpoints: Sequence[str | os.PathLike], out: str) -> str:
    """A shell command line that writes ``recipe``'s file to ``out`` using ``checkpoints`` (one per model)."""
    paths = [os.fspath(p) for p in checkpoints]
    if len(paths) == 1:
        args = _generate_args(recipe) or _morph_args(recipe)
        if args is not None:
            return _quote([PROGRAM, args[0], "--checkpoint", paths[0], *args[1:], "--out", out])
    parts = [PROGRAM, "reproduce", "--recipe", recipe_text(recipe), "--out", out]
    for path in paths:
        parts += ["--checkpoint", path]
    return _quote(parts)
