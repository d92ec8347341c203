"""Files remember their recipe: ``reproduce`` re-renders a grid, a strip, a GIF and an edited face
byte for byte, finds the checkpoint by SHA-256, and refuses a different one in one line."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from waifu_studio.cli import main
from waifu_studio.core.errors import RecipeError
from waifu_studio.core.explore.reproduce import (
    endpoint_part,
    image_recipe,
    latents_part,
    layout_part,
    model_ref,
    write_recipe_file,
)
from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.io.export import save_png
from waifu_studio.core.io.files import file_sha256
from waifu_studio.core.io.recipe import read_recipe


def _pixels(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def _reproduce_equals(original, tmp_path, *extra) -> None:
    copy = tmp_path / ("copy" + original.suffix)
    assert main(["reproduce", str(original), "--out", str(copy), *extra]) == 0
    assert copy.read_bytes() == original.read_bytes()


def test_a_grid_round_trips_and_its_recipe_says_how_it_was_made(tiny_checkpoint, tmp_path):
    ckpt = tiny_checkpoint("dcgan")
    grid = tmp_path / "grid.png"
    assert main(["generate", "--checkpoint", str(ckpt), "--seed", "40", "--n", "6", "--ncols", "3",
                 "--truncation", "0.7", "--labels", "--scale", "2", "--out", str(grid)]) == 0
    recipe = read_recipe(grid)
    assert recipe["checkpoints"] == [{"name": ckpt.name, "sha256": file_sha256(ckpt)}]
    assert recipe["faces"] == {"seeds": [40, 41, 42, 43, 44, 45], "truncation": 0.7}
    assert recipe["layout"]["ncols"] == 3 and recipe["layout"]["scale"] == 2
    assert recipe["layout"]["labels"] == ["40", "41", "42", "43", "44", "45"]
    # The checkpoint is found by its SHA-256 in the index the CLI keeps (no --checkpoint needed).
    _reproduce_equals(grid, tmp_path)


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_a_morph_strip_and_gif_round_trip(tiny_checkpoint, tmp_path, suffix):
    ckpt = tiny_checkpoint("ae")
    model = load_checkpoint(ckpt)
    photo = tmp_path / "a.png"
    save_png(model.sample(1, seed=99)[0], photo)  # an image endpoint: stored as its latent
    out = tmp_path / f"morph{suffix}"
    assert main(["morph", "--checkpoint", str(ckpt), "--from", str(photo), "--to", "7", "--steps", "5",
                 "--slerp", "--out", str(out)]) == 0
    spec = read_recipe(out)["faces"]["morph"]
    assert spec["method"] == "slerp" and spec["b"] == {"seed": 7} and "latent" in spec["a"]
    assert spec["t"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    _reproduce_equals(out, tmp_path, "--checkpoint", str(ckpt))
    if suffix == ".gif":
        with Image.open(out) as gif:
            assert gif.n_frames > 1


def test_an_edited_face_round_trips_with_its_direction_offsets(tiny_checkpoint, tmp_path):
    ckpt = tiny_checkpoint("wgan-gp")
    model = load_checkpoint(ckpt)
    base = model.seeds_to_latents([5])[0]
    edited = base.copy()
    edited[3] += 2.5
    offsets = [{"axis": "dimension 3", "std": 2.5}]
    recipe = image_recipe([model_ref(model)], latents_part(edited), layout_part(1, padding=0),
                          edit={"base": endpoint_part(seed=5), "offsets": offsets})
    face = write_recipe_file(recipe, [model], tmp_path / "edited.png")
    assert read_recipe(face)["edit"]["offsets"] == offsets
    assert not np.array_equal(_pixels(face), model.decode_exact(base)[0])  # the offset shows
    _reproduce_equals(face, tmp_path, "--checkpoint", str(ckpt))


def test_a_different_checkpoint_is_refused_in_one_line_naming_the_expected_sha(tiny_checkpoint, tmp_path, capsys):
    ckpt = tiny_checkpoint("dcgan")
    other = tiny_checkpoint("dcgan", name="other.safetensors", width=4)
    grid = tmp_path / "grid.png"
    assert main(["generate", "--checkpoint", str(ckpt), "--seed", "1", "--n", "4", "--out", str(grid)]) == 0
    capsys.readouterr()
    assert main(["reproduce", str(grid), "--out", str(tmp_path / "copy.png"), "--checkpoint", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and file_sha256(ckpt) in err and "other.safetensors" in err
    assert not (tmp_path / "copy.png").exists()


def test_a_file_without_recipe_is_a_one_line_error(tmp_path, capsys):
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    with pytest.raises(RecipeError, match="carries no Waifu Studio recipe"):
        read_recipe(plain)
    assert main(["reproduce", str(plain), "--out", str(tmp_path / "x.png")]) == 2
    assert "no Waifu Studio recipe" in capsys.readouterr().err
