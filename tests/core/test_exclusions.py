"""Faces excluded on the map: kept beside the dataset cache, skipped by load_dataset, the trainer and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from waifu_studio.cli import main
from waifu_studio.core.config import DataConfig
from waifu_studio.core.data import exclude, include, load_dataset, load_exclusions
from waifu_studio.core.data.exclusions import exclusion_file
from waifu_studio.core.errors import DataError

RED = (255, 0, 0)


@pytest.fixture
def folder_with_outliers(tmp_path, faces32):
    folder = tmp_path / "faces"
    folder.mkdir()
    for i, face in enumerate(faces32[:40]):
        Image.fromarray(face).save(folder / f"f{i:02d}.png")
    for i in range(6):  # the outliers: flat red squares, not faces
        Image.new("RGB", (32, 32), RED).save(folder / f"junk{i}.png")
    return folder


def is_red(images: np.ndarray) -> np.ndarray:
    return (images[..., 0] > 240).all(axis=(1, 2)) & (images[..., 1] < 15).all(axis=(1, 2))


def test_excluded_faces_are_skipped_and_reported(folder_with_outliers):
    config = DataConfig(source=str(folder_with_outliers), resolution=32)
    before = sorted(p.name for p in folder_with_outliers.iterdir())
    assert is_red(load_dataset(config).images).sum() == 6
    exclude(folder_with_outliers, [f"junk{i}.png" for i in range(6)])
    dataset = load_dataset(config)
    assert len(dataset) == 40 and not is_red(dataset.images).any()
    assert dataset.summary() == "40 faces, 6 excluded by you"
    # The user's folder is untouched; the list lives in the cache folder.
    assert sorted(p.name for p in folder_with_outliers.iterdir()) == before
    assert folder_with_outliers not in exclusion_file(folder_with_outliers).parents
    # The fixed split is the split of the whole folder, less the excluded faces.
    val = load_dataset(DataConfig(source=str(folder_with_outliers), resolution=32, split="val"))
    assert not is_red(val.images).any()
    assert include(folder_with_outliers, ["junk0.png"]) == 5
    assert load_exclusions(folder_with_outliers) == {f"junk{i}.png" for i in range(1, 6)}
    assert len(load_dataset(config)) == 41


def test_excluding_everything_is_a_clear_error(folder_with_outliers):
    exclude(folder_with_outliers, [p.name for p in folder_with_outliers.iterdir()])
    with pytest.raises(DataError, match="every face .* is excluded"):
        load_dataset(DataConfig(source=str(folder_with_outliers), resolution=32))


def test_the_trainer_never_sees_excluded_faces(folder_with_outliers, tmp_path, monkeypatch, capsys):
    from waifu_studio.core import training

    seen = []
    real_init = training.Trainer.__init__

    def spy(self, run_config, images, *args, **kwargs):
        seen.append(np.array(images))
        real_init(self, run_config, images, *args, **kwargs)

    monkeypatch.setattr(training.Trainer, "__init__", spy)
    exclude(folder_with_outliers, [f"junk{i}.png" for i in range(6)])
    out = tmp_path / "run"
    assert main(["train", "--model", "ae", "--data", str(folder_with_outliers), "--out", str(out), "--max-steps", "2",
                 "--resolution", "32", "--latent-dim", "16", "--width", "8", "--batch-size", "8",
                 "--device", "cpu"]) == 0
    assert "40 faces, 6 excluded by you" in capsys.readouterr().err
    assert len(seen) == 1 and len(seen[0]) == 40 and not is_red(seen[0]).any()
