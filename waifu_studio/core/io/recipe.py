"""Recipes: the JSON object an image file carries that says exactly how it was made.

A recipe names its checkpoint by file name and SHA-256 of its content, and holds the seeds (or
the latents, as base64 of little-endian float16) plus every setting that shaped the pixels:
truncation, morph endpoints, method and t-values, direction offsets, grid layout, GIF timing,
map parameters. PNG files keep it in a compressed text chunk (``zTXt``) named
:data:`RECIPE_KEY`; GIF files in a comment extension. The text is canonical JSON (sorted keys,
no spaces, ASCII), so the same recipe always gives the same bytes.

This module builds, serialises, embeds and reads recipes; ``core/explore/reproduce.py`` turns
one back into pixels.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ... import __version__
from ..errors import RecipeError
from .files import file_sha256

RECIPE_KEY = "waifu-studio-recipe"
RECIPE_FORMAT = 1
GIF_PREFIX = RECIPE_KEY + ":"  # a GIF comment has no key, so the text says what it is

Recipe = dict[str, Any]


# ----------------------------------------------------------------------------- parts


def encode_array(values: np.ndarray) -> dict[str, Any]:
    """A float array as ``{"f16": base64, "shape": [...]}`` (half the bytes of float32)."""
    array = np.asarray(values, np.float32)
    if not np.isfinite(array).all() or np.abs(array).max(initial=0.0) > 65000:
        raise RecipeError("latents must be finite and below 65000 to be stored in a recipe")
    raw = array.astype("<f2").tobytes()
    return {"f16": base64.b64encode(raw).decode("ascii"), "shape": list(array.shape)}


def decode_array(part: dict[str, Any]) -> np.ndarray:
    """The float32 array an :func:`encode_array` part holds (exactly the float16 values, widened)."""
    try:
        raw = base64.b64decode(part["f16"], validate=True)
        shape = tuple(int(s) for s in part["shape"])
        return np.frombuffer(raw, "<f2").astype(np.float32).reshape(shape)
    except (KeyError, TypeError, ValueError) as err:
        raise RecipeError(f"the recipe holds a damaged latent array ({err})") from None


def round_latents(latents: np.ndarray) -> np.ndarray:
    """``latents`` as a recipe stores them: what a file made from a recipe is decoded from."""
    return decode_array(encode_array(latents))


def checkpoint_ref(path: str | os.PathLike) -> dict[str, str]:
    """How a recipe names a checkpoint: its file name and the SHA-256 of its content."""
    return {"name": Path(path).name, "sha256": file_sha256(path)}


def make_recipe(**parts: Any) -> Recipe:
    """A recipe of ``parts`` (None values dropped) stamped with the format and project version."""
    recipe: Recipe = {"recipe": RECIPE_FORMAT, "project_version": __version__}
    recipe.update({k: v for k, v in parts.items() if v is not None})
    return recipe


def recipe_text(recipe: Recipe) -> str:
    """Canonical JSON: the same recipe always serialises to the same bytes."""
    return json.dumps(recipe, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def parse_recipe(text: str | bytes) -> Recipe:
    """A recipe from its JSON text; :class:`RecipeError` when it is not one this version reads."""
    try:
        recipe = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise RecipeError(f"the recipe is not valid JSON ({err})") from None
    if not isinstance(recipe, dict) or "recipe" not in recipe:
        raise RecipeError("the text is not a Waifu Studio recipe")
    if not isinstance(recipe["recipe"], int) or recipe["recipe"] > RECIPE_FORMAT:
        raise RecipeError(f"the recipe was written by a newer Waifu Studio (format {recipe['recipe']}); "
                          f"this version ({__version__}) reads format {RECIPE_FORMAT}")
    return recipe


# ----------------------------------------------------------------------------- files


def png_text_chunk(recipe: Recipe) -> Any:
    """A Pillow ``PngInfo`` holding ``recipe`` as one compressed text chunk."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(RECIPE_KEY, recipe_text(recipe), zip=True)
    return info


def gif_comment(recipe: Recipe) -> bytes:
    """The bytes of a GIF comment extension holding ``recipe``."""
    return (GIF_PREFIX + recipe_text(recipe)).encode("ascii")


def read_recipe(path: str | os.PathLike) -> Recipe:
    """The recipe a PNG or GIF file carries; :class:`RecipeError` when it has none."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            fmt = image.format
            if fmt == "PNG":
                image.load()  # text chunks after the image data are read with it
                text = image.text.get(RECIPE_KEY)  # type: ignore[attr-defined]
            elif fmt == "GIF":
                comment = image.info.get("comment", b"")
                text = comment[len(GIF_PREFIX):] if comment.startswith(GIF_PREFIX.encode("ascii")) else None
            else:
                text = None
    except FileNotFoundError:
        raise RecipeError(f"file not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise RecipeError(f"{path.name} is not a readable PNG or GIF ({err})") from None
    if fmt not in ("PNG", "GIF"):
        raise RecipeError(f"{path.name} is a {fmt or 'non-image'} file; only PNG and GIF files carry recipes")
    if not text:
        raise RecipeError(f"{path.name} carries no Waifu Studio recipe (it was not written by this version)")
    return parse_recipe(text)
