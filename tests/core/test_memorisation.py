"""Memorisation: the nearest-face search finds a training face planted among generated ones, and the
report's precision, recall and copy share say what a user would expect of a copying model."""

from __future__ import annotations

import numpy as np
import pytest

from waifu_studio.cli import main
from waifu_studio.core.explore.face_features import appearance_features
from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.io.export import save_png
from waifu_studio.core.quality.memorisation import (
    index_folder,
    memorisation_report,
    nearest_distance,
    nearest_faces,
    precision_recall,
)


@pytest.fixture
def training_folder(tmp_path, faces32):
    folder = tmp_path / "train"
    folder.mkdir()
    for i, face in enumerate(faces32[:120]):
        save_png(face, folder / f"{i:04d}.png")
    return folder


def test_a_planted_training_face_is_found_among_generated_ones(training_folder, faces32, tiny_model_factory):
    model = tiny_model_factory("dcgan")
    generated = model.sample(20, seed=0)
    planted_index = 37
    queries = np.concatenate([generated[:10], faces32[planted_index][None], generated[10:]])
    index = index_folder(training_folder, 32)
    assert index.paths[planted_index].endswith("0037.png")
    order, distances = nearest_faces(queries[10], index, k=8)
    # 0 up to float32 rounding of the matrix-product distance (measured 0.02), far below the ~2.3
    # Delta E of a just-noticeable colour difference.
    assert order[0] == planted_index and distances[0] < 0.1
    assert len(order) == 8 and np.all(np.diff(distances) >= 0)
    # Among all queries, only the planted one sits on a training face.
    nearest = nearest_distance(appearance_features(queries), index.features)
    assert int(np.argmin(nearest)) == 10 and np.sort(nearest)[1] > 1.0  # 1 Delta E: far below any other pair


def test_a_copying_model_has_full_precision_and_a_large_copy_share(faces32):
    real = appearance_features(faces32[:100])
    copies = appearance_features(faces32[:100:2])  # "generated" faces that are training faces
    noise = appearance_features(np.random.default_rng(0).integers(0, 256, (50, 32, 32, 3), dtype=np.uint8))
    precision, recall = precision_recall(real, copies, k=3)
    assert precision == 1.0 and recall < 1.0  # copies are all inside the real manifold, cover half of it
    precision_noise, _ = precision_recall(real, noise, k=3)
    assert precision_noise == 0.0  # noise looks like no face


def test_report_and_cli_on_a_tiny_model(training_folder, tiny_checkpoint, capsys):
    ckpt = tiny_checkpoint("ae")
    report = memorisation_report(load_checkpoint(ckpt), training_folder, n_generated=60, n_real=60)
    assert 0.0 <= report.precision <= 1.0 and 0.0 <= report.recall <= 1.0
    assert report.counts["n_train"] == 108 and report.counts["n_heldout"] == 12
    assert report.map_xy.shape == (60 + 60, 2) and report.map_generated.sum() == 60
    assert main(["eval", "--checkpoint", str(ckpt), "--data", str(training_folder), "--precision-recall",
                 "--pr-n", "60", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"precision"' in out and '"copy_share"' in out
