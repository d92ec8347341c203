"""Recipes to pixels: build the recipe of what is on screen, render it, write it, read it back.

Every file the app or the CLI writes goes through :func:`write_recipe_file`: the faces are
decoded from the recipe itself (seeds, or latents rounded as the recipe stores them) with
``FaceModel.decode_exact`` (fp32), so the file, the CLI's file for the same settings and a later
``waifu-studio reproduce`` are the same pixels. A recipe's main parts:

- ``checkpoints``: list of ``{"name", "sha256"}`` (two for a comparison, one per frame for a timeline);
- ``faces``: ``{"seeds": [...], "truncation": t}``, ``{"latents": array}`` or
  ``{"morph": {"a": endpoint, "b": endpoint, "method": "lerp"|"slerp", "t": [...]}}``, where an
  endpoint is ``{"seed": s}`` or ``{"latent": array, "label": text}``;
- ``kind``: ``"image"`` (one PNG: the faces of every checkpoint in turn, tiled by ``layout``
  ``{"ncols", "padding", "scale", "labels"}``) or ``"gif"`` (``frames``: ``"faces"``, one frame
  per face, or ``"checkpoints"``, one tiled frame per checkpoint; ``gif``: ``{"duration_ms", "pingpong"}``);
- what else shaped the file and is kept for the record: ``edit`` (direction offsets), ``map``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RecipeError
from ..io.export import make_grid, save_gif, save_png
from ..io.recipe import Recipe, decode_array, encode_array, make_recipe
from ..models import FaceModel
from .latent import lerp, slerp

METHODS = ("lerp", "slerp")


# ----------------------------------------------------------------------------- building


def seeds_part(seeds: Sequence[int], truncation: float = 1.0, noise_offset: tuple[int, float] | None = None,
               ) -> dict[str, Any]:
    """Faces of ``seeds``; ``noise_offset`` (dimension, value) moves every seed's noise the same way
    before the model maps it to its latent space (the same edit for any two models)."""
    part: dict[str, Any] = {"seeds": [int(s) for s in seeds], "truncation": float(truncation)}
    if noise_offset is not None and noise_offset[1] != 0:
        part["noise_offset"] = {"dim": int(noise_offset[0]), "value": float(noise_offset[1])}
    return part


def seed_latents(model: FaceModel, seeds: Sequence[int], truncation: float = 1.0,
                 noise_offset: tuple[int, float] | None = None) -> np.ndarray:
    """``model.seeds_to_latents`` with an optional ``noise_offset`` (dimension, value) on the noise."""
    if noise_offset is None or noise_offset[1] == 0:
        return model.seeds_to_latents(seeds, truncation)
    from ..models.seeds import seeds_to_noise

    dim, value = int(noise_offset[0]), float(noise_offset[1])
    if not 0 <= dim < model.latent_dim:
        raise RecipeError(f"dimension {dim} does not exist in a latent space of {model.latent_dim}")
    noise, picks = seeds_to_noise(list(seeds), model.latent_dim)
    noise *= np.float32(truncation)
    noise[:, dim] += np.float32(value)
    return model.latent_from_noise(noise, picks)  # each seed keeps its mixture component


def latents_part(latents: np.ndarray) -> dict[str, Any]:
    return {"latents": encode_array(np.atleast_2d(latents))}


def endpoint_part(seed: int | None = None, latent: np.ndarray | None = None, label: str = "") -> dict[str, Any]:
    """One morph end: a seed when it is one (exact and short), else its latent."""
    if seed is not None:
        return {"seed": int(seed)}
    if latent is None:
        raise RecipeError("a morph endpoint needs a seed or a latent")
    return {"latent": encode_array(np.asarray(latent, np.float32).reshape(-1)), "label": label}


def morph_part(a: dict[str, Any], b: dict[str, Any], t: Sequence[float], spherical: bool) -> dict[str, Any]:
    return {"morph": {"a": a, "b": b, "method": "slerp" if spherical else "lerp", "t": [float(x) for x in t]}}


def layout_part(ncols: int, *, padding: int = 2, scale: int = 1, labels: Sequence[str] | None = None) -> dict[str, Any]:
    return {"ncols": int(ncols), "padding": int(padding), "scale": int(scale),
            "labels": None if labels is None else [str(x) for x in labels]}


def model_ref(model: FaceModel) -> dict[str, str]:
    """The recipe's name for ``model``: the file name and SHA-256 of the checkpoint it was loaded from.

    A model never saved to a file gets an empty SHA-256: its files still record every setting,
    but ``reproduce`` says plainly that it cannot find such a model.
    """
    info = getattr(model, "checkpoint_info", None)
    sha256 = getattr(model, "checkpoint_sha256", None)
    if info is None or not sha256:
        return {"name": f"unsaved {model.family} model", "sha256": ""}
    return {"name": Path(info.path).name, "sha256": sha256}


def endpoint_for(model: FaceModel, latent: np.ndarray, seed: int | None, label: str = "") -> dict[str, Any]:
    """A morph end as a seed when ``latent`` is exactly that seed's latent (no truncation), else the latent."""
    latent = np.asarray(latent, np.float32).reshape(-1)
    if seed is not None and np.array_equal(model.seeds_to_latents([int(seed)])[0], latent):
        return endpoint_part(seed=seed)
    return endpoint_part(latent=latent, label=label)


def image_recipe(checkpoints: list[dict[str, str]], faces: dict[str, Any], layout: dict[str, Any],
                 **extra: Any) -> Recipe:
    """A PNG: the faces of every checkpoint in turn, tiled by ``layout``."""
    return make_recipe(kind="image", checkpoints=checkpoints, faces=faces, layout=layout, **extra)


def gif_recipe(checkpoints: list[dict[str, str]], faces: dict[str, Any], *, duration_ms: int, pingpong: bool = True,
               scale: int = 1, layout: dict[str, Any] | None = None, **extra: Any) -> Recipe:
    """A GIF: one frame per face (one checkpoint) or one tiled frame per checkpoint (``layout`` given)."""
    frames = "checkpoints" if layout is not None else "faces"
    return make_recipe(kind="gif", checkpoints=checkpoints, faces=faces, frames=frames, layout=layout,
                       gif={"duration_ms": int(duration_ms), "pingpong": bool(pingpong), "scale": int(scale)},
                       **extra)


def map_recipe(model: FaceModel, params: Any, source: str, points: int) -> Recipe:
    """The record of a map export: model, projection method and parameters, what was mapped.

    Maps are kept for the record, not re-rendered: t-SNE and UMAP layouts depend on the
    machine's thread count and libraries, so ``reproduce`` points to ``waifu-studio embed``.
    """
    import dataclasses

    values = dataclasses.asdict(params) if dataclasses.is_dataclass(params) else dict(params)
    return make_recipe(kind="map", checkpoints=[model_ref(model)],
                       map={"method": values.get("method"), "params": values, "source": source, "points": int(points)})


# ----------------------------------------------------------------------------- rendering


def _endpoint_latent(model: FaceModel, end: dict[str, Any]) -> np.ndarray:
    if "seed" in end:
        return model.seeds_to_latents([int(end["seed"])], float(end.get("truncation", 1.0)))[0]
    if "latent" in end:
        return decode_array(end["latent"]).reshape(-1)
    raise RecipeError("a morph endpoint in the recipe has neither a seed nor a latent")


def recipe_latents(model: FaceModel, faces: dict[str, Any]) -> np.ndarray:
    """The latents (N, D) a recipe's ``faces`` part means for ``model``: exactly what the file decodes."""
    if "seeds" in faces:
        offset = faces.get("noise_offset")
        latents = seed_latents(model, [int(s) for s in faces["seeds"]], float(faces.get("truncation", 1.0)),
                               None if offset is None else (offset["dim"], offset["value"]))
    elif "latents" in faces:
        latents = decode_array(faces["latents"])
    elif "morph" in faces:
        spec = faces["morph"]
        if spec.get("method") not in METHODS:
            raise RecipeError(f"unknown morph method {spec.get('method')!r} in the recipe")
        a, b = _endpoint_latent(model, spec["a"]), _endpoint_latent(model, spec["b"])
        t = np.asarray(spec["t"], np.float64)
        latents = slerp(a, b, t, model.latent_mean) if spec["method"] == "slerp" else lerp(a, b, t)
    else:
        raise RecipeError("the recipe says nothing about which faces it shows")
    latents = np.atleast_2d(np.asarray(latents, np.float32))
    if latents.shape[1] != model.latent_dim:
        raise RecipeError(f"the recipe's latents have {latents.shape[1]} dimensions; this model has {model.latent_dim}")
    return latents


def _tile(faces: np.ndarray, layout: dict[str, Any]) -> np.ndarray:
    return make_grid(faces, int(layout["ncols"]), padding=int(layout.get("padding", 2)),
                     labels=layout.get("labels"), scale=int(layout.get("scale", 1)))


def render_recipe(recipe: Recipe, models: Sequence[FaceModel]) -> np.ndarray:
    """The pixels of a recipe: (H, W, 3) for an image, (K, H, W, 3) frames for a GIF."""
    if len(models) != len(recipe.get("checkpoints", [])):
        raise RecipeError(f"the recipe needs {len(recipe.get('checkpoints', []))} model(s), got {len(models)}")
    faces = [model.decode_exact(recipe_latents(model, recipe["faces"])) for model in models]
    kind = recipe.get("kind")
    if kind == "image":
        return _tile(np.concatenate(faces), recipe["layout"])
    if kind == "gif":
        if recipe.get("frames") == "checkpoints":
            return np.stack([_tile(f, recipe["layout"]) for f in faces])
        return np.concatenate(faces)
    if kind == "map":
        spec = recipe.get("map", {})
        raise RecipeError(f"this is a latent map ({spec.get('method')} of {spec.get('source')}); maps record how they "
                          "were made but are not re-rendered: run 'waifu-studio embed' with those settings")
    raise RecipeError(f"unknown recipe kind {kind!r}")


def output_suffix(recipe: Recipe) -> str:
    return ".gif" if recipe.get("kind") == "gif" else ".png"


def write_recipe_file(recipe: Recipe, models: Sequence[FaceModel], path: str | os.PathLike) -> Path:
    """Render ``recipe`` with ``models`` and write it to ``path`` (PNG or GIF), recipe included."""
    path = Path(path)
    if path.suffix.lower() != output_suffix(recipe):
        raise RecipeError(f"this recipe makes a {output_suffix(recipe)} file, not {path.suffix or 'no extension'}")
    pixels = render_recipe(recipe, models)
    if recipe["kind"] == "image":
        return save_png(pixels, path, recipe=recipe)
    gif = recipe["gif"]
    return save_gif(pixels, path, duration_ms=int(gif["duration_ms"]), pingpong=bool(gif["pingpong"]),
                    scale=int(gif.get("scale", 1)), recipe=recipe)


# ----------------------------------------------------------------------------- checkpoints


def locate_checkpoints(recipe: Recipe, given: Sequence[str | os.PathLike] = (),
                       search: Sequence[str | os.PathLike] = ()) -> list[Path]:
    """The checkpoint file of each of the recipe's checkpoints, matched by SHA-256.

    Looks in ``given`` (files or folders the user named), ``search`` (other places, such as
    the app's recent files), the bundled folder and the index of known checkpoints. A file in
    ``given`` that is none of the recipe's checkpoints is refused with a message naming the
    SHA-256 expected.
    """
    from ..io.files import file_sha256
    from ..io.known_checkpoints import find_checkpoint

    refs = recipe.get("checkpoints") or []
    if not refs:
        raise RecipeError("the recipe names no checkpoint")
    wanted = {ref["sha256"] for ref in refs}
    for path in (Path(p) for p in given):
        if path.is_file() and file_sha256(path) not in wanted:
            expected = ", ".join(f"{ref['name']} (SHA-256 {ref['sha256']})" for ref in refs)
            raise RecipeError(f"{path.name} is not the checkpoint this file was made with (its SHA-256 is "
                              f"{file_sha256(path)}); expected {expected}")
        if not path.exists():
            raise RecipeError(f"checkpoint not found: {path}")
    paths = []
    for ref in refs:
        if not ref.get("sha256"):
            raise RecipeError(f"this file was made with an {ref['name']}, which cannot be found again")
        found = find_checkpoint(ref["sha256"], [*given, *search])
        if found is None:
            raise RecipeError(f"cannot find checkpoint {ref['name']} with SHA-256 {ref['sha256']}; "
                              "pass it (or its run folder) with --checkpoint")
        paths.append(found)
    return paths
