"""2-D maps of codes: separated clusters stay apart, maps are repeatable, cached, cancellable."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from waifu_studio.core.errors import ConfigError, WaifuError
from waifu_studio.core.explore import face_features, projection
from waifu_studio.core.explore.projection import ProjectionCancelled, ProjectionParams


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache folder instead of the user's ~/.cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("WAIFU_STUDIO_CACHE", str(folder))
    return folder


def two_blobs(n_per_blob: int = 200, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian clouds far apart in ``dim`` dimensions, with their blob ids."""
    rng = np.random.default_rng(seed)
    offset = np.zeros(dim)
    offset[:4] = 6.0
    codes = np.concatenate([rng.normal(0, 1, (n_per_blob, dim)), rng.normal(0, 1, (n_per_blob, dim)) + offset])
    return codes.astype(np.float32), np.repeat([0, 1], n_per_blob)


FAST = {"pca": ProjectionParams("pca"), "tsne": ProjectionParams("tsne", perplexity=20, tsne_iterations=250),
        "umap": ProjectionParams("umap", n_neighbors=10)}


def _same_blob_neighbour_share(layout: np.ndarray, blob: np.ndarray) -> float:
    distances = np.linalg.norm(layout[:, None] - layout[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    return float((blob[distances.argmin(axis=1)] == blob).mean())


@pytest.mark.parametrize("method", projection.METHODS)
def test_each_method_keeps_clusters_apart(method):
    codes, blob = two_blobs()
    layout = projection.project(codes, FAST[method], use_cache=False)
    assert layout.shape == (len(codes), 2)
    assert layout.dtype == np.float32
    assert np.isfinite(layout).all()
    # Normalised so maps of every method fill the same square.
    assert np.abs(layout).max() == pytest.approx(1.0)
    assert _same_blob_neighbour_share(layout, blob) > 0.95


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_same_seed_same_map(method):
    codes, _ = two_blobs(150)
    first = projection.project(codes, FAST[method], use_cache=False)
    second = projection.project(codes, FAST[method], use_cache=False)
    np.testing.assert_array_equal(first, second)


def test_wide_codes_are_reduced_before_tsne():
    codes, blob = two_blobs(150, dim=300)
    layout = projection.project(codes, ProjectionParams("tsne", tsne_iterations=250, pca_dims=20), use_cache=False)
    assert _same_blob_neighbour_share(layout, blob) > 0.95


def test_tsne_reports_rising_progress_with_intermediate_maps():
    codes, _ = two_blobs(150)
    calls: list[tuple[float, np.ndarray | None]] = []
    projection.project(codes, FAST["tsne"], progress=lambda f, layout: calls.append((f, layout)), use_cache=False)
    fractions = [f for f, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(b >= a for a, b in zip(fractions, fractions[1:], strict=False))
    intermediate = [layout for f, layout in calls if 0.0 < f < 1.0 and layout is not None]
    assert len(intermediate) >= 5
    assert all(layout.shape == (len(codes), 2) and np.isfinite(layout).all() for layout in intermediate)


@pytest.mark.parametrize("method", ["pca", "umap"])
def test_other_methods_report_start_and_end(method):
    codes, _ = two_blobs(100)
    fractions: list[float] = []
    projection.project(codes, FAST[method], progress=lambda f, _: fractions.append(f), use_cache=False)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0


def test_cancel_stops_tsne_early():
    codes, _ = two_blobs(150)
    cancel = threading.Event()
    calls: list[float] = []

    def on_progress(fraction, layout):
        calls.append(fraction)
        if layout is not None and fraction > 0.2:
            cancel.set()

    with pytest.raises(ProjectionCancelled):
        projection.project(codes, ProjectionParams("tsne", tsne_iterations=2000), progress=on_progress,
                           cancel=cancel, use_cache=False)
    assert max(calls) < 0.5, "t-SNE should stop at the next callback, not run to the end"


@pytest.mark.parametrize("method", projection.METHODS)
def test_cancel_before_start_raises(method):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ProjectionCancelled):
        projection.project(two_blobs(50)[0], FAST[method], cancel=cancel, use_cache=False)


def test_cache_hit_skips_computation(monkeypatch, private_cache):
    codes, _ = two_blobs(100)
    first = projection.project(codes, FAST["tsne"], cache_key="ckpt-abc")
    assert len(list((private_cache / "projections").glob("*.npy"))) == 1

    def must_not_run(*_args):
        raise AssertionError("the cached map should have been used")

    monkeypatch.setattr(projection.layout, "_compute", must_not_run)
    fractions: list[float] = []
    again = projection.project(codes, FAST["tsne"], cache_key="ckpt-abc", progress=lambda f, _: fractions.append(f))
    np.testing.assert_array_equal(first, again)
    assert fractions == [1.0]
    # Different codes, parameters or key never reuse the entry.
    for other_codes, params, key in [(codes + 1, FAST["tsne"], "ckpt-abc"), (codes, FAST["pca"], "ckpt-abc"),
                                     (codes, FAST["tsne"], "ckpt-xyz")]:
        with pytest.raises(AssertionError, match="cached map"):
            projection.project(other_codes, params, cache_key=key)


def test_cache_without_key_and_no_temp_files(private_cache):
    codes, _ = two_blobs(60)
    projection.project(codes, FAST["pca"])
    projection.project(codes, FAST["pca"])
    names = [p.name for p in (private_cache / "projections").iterdir()]
    assert len(names) == 1 and names[0].endswith(".npy")


def test_corrupt_cache_is_recomputed(private_cache):
    codes, _ = two_blobs(60)
    first = projection.project(codes, FAST["pca"], cache_key="k")
    (entry,) = (private_cache / "projections").glob("*.npy")
    entry.write_bytes(b"not a numpy file")
    np.testing.assert_array_equal(projection.project(codes, FAST["pca"], cache_key="k"), first)


def test_use_cache_false_writes_nothing(private_cache):
    projection.project(two_blobs(60)[0], FAST["pca"], use_cache=False)
    assert not private_cache.exists()


def test_cache_token_names_only_relevant_settings():
    assert ProjectionParams("pca", perplexity=5).cache_token() == ProjectionParams("pca").cache_token()
    assert ProjectionParams("tsne", perplexity=5).cache_token() != ProjectionParams("tsne").cache_token()
    assert ProjectionParams("umap", seed=1).cache_token() != ProjectionParams("umap").cache_token()


def test_bad_input_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown projection method"):
        ProjectionParams("mds")
    with pytest.raises(WaifuError, match="NaN"):
        projection.project(np.array([[0.0, np.nan], [1.0, 2.0]]), ProjectionParams(), use_cache=False)
    with pytest.raises(WaifuError, match="2-D"):
        projection.pca_2d(np.zeros(5))


def test_tiny_or_identical_sets_fall_back_to_pca():
    codes = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0]], np.float32)
    layout = projection.project(codes, ProjectionParams("umap"), use_cache=False)
    np.testing.assert_array_equal(layout, projection.pca_2d(codes))
    same = np.ones((40, 4), np.float32)  # e.g. a collapsed GAN: every face the same
    for method in ("tsne", "umap"):
        np.testing.assert_array_equal(projection.project(same, ProjectionParams(method), use_cache=False), 0.0)


def test_pca_2d_follows_the_main_axis():
    rng = np.random.default_rng(1)
    codes = np.zeros((300, 5), np.float32)
    codes[:, 2] = rng.normal(0, 10, 300)
    codes[:, 4] = rng.normal(0, 1, 300)
    layout = projection.pca_2d(codes)
    assert abs(np.corrcoef(layout[:, 0], codes[:, 2])[0, 1]) > 0.999
    assert abs(np.corrcoef(layout[:, 1], codes[:, 4])[0, 1]) > 0.98  # sample correlation tilts it a little


def test_principal_directions_orthonormal_and_ordered():
    rng = np.random.default_rng(2)
    scales = np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.2])
    codes = (rng.normal(0, 1, (2000, 6)) * scales).astype(np.float32)
    directions, stds = projection.principal_directions(codes, k=4)
    assert directions.shape == (4, 6) and stds.shape == (4,)
    np.testing.assert_allclose(directions @ directions.T, np.eye(4), atol=1e-5)
    assert (np.diff(stds) < 0).all()
    np.testing.assert_allclose(stds, scales[:4], rtol=0.1)
    assert abs(directions[0, 0]) > 0.99


def test_kmeans_labels_count_and_order():
    codes, blob = two_blobs(120)
    labels = projection.kmeans_labels(codes, k=2, seed=0)
    assert labels.shape == (240,)
    assert set(labels.tolist()) == {0, 1}
    assert (labels == blob).all() or (labels == 1 - blob).all()
    many = projection.kmeans_labels(codes, k=8)
    assert many.max() < 8 and len(np.unique(many)) == 8
    sizes = np.bincount(many)
    assert (np.diff(sizes) <= 0).all(), "label 0 should be the largest cluster"


def _faces_with_hair(rgb: tuple[int, int, int], n: int = 2) -> np.ndarray:
    """Skin-coloured faces whose top third is the given hair colour."""
    faces = np.zeros((n, 32, 32, 3), np.uint8)
    faces[:] = (245, 215, 195)
    faces[:, :12] = rgb
    return faces


@pytest.mark.parametrize(("hair", "hue"), [((220, 20, 30), 0.0), ((30, 60, 230), 0.66), ((40, 200, 60), 0.36)])
def test_dominant_hue_of_coloured_hair(hair, hue):
    found = face_features.dominant_hue(_faces_with_hair(hair))
    distance = np.minimum(np.abs(found - hue), 1 - np.abs(found - hue))  # hue is circular
    assert (distance < 0.03).all()


@pytest.mark.parametrize("hair", [(128, 128, 128), (20, 20, 20), (250, 250, 250)])
def test_dominant_hue_of_grey_black_white_hair(hair):
    assert (face_features.dominant_hue(_faces_with_hair(hair)) == -1).all()


def test_image_features_group_faces_by_hair():
    rng = np.random.default_rng(3)
    red = _faces_with_hair((220, 30, 40), 30)
    blue = _faces_with_hair((40, 60, 220), 30)
    faces = np.concatenate([red, blue]).astype(np.int16) + rng.integers(-20, 20, (60, 32, 32, 3))
    features = face_features.image_features(np.clip(faces, 0, 255).astype(np.uint8), dims=16)
    assert features.shape == (60, 16) and features.dtype == np.float32
    np.testing.assert_array_equal(features, face_features.image_features(np.clip(faces, 0, 255).astype(np.uint8), 16))
    hair = np.repeat([0, 1], 30)
    assert _same_blob_neighbour_share(features, hair) == 1.0
    assert face_features.image_features(_faces_with_hair((1, 2, 3), 3), dims=8).shape == (3, 8)


def test_nearest_points_and_blend_weights():
    layout = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]], np.float32)
    indices, distances = projection.nearest_points(layout, (0.9, 0.0), k=3)
    np.testing.assert_array_equal(indices, [1, 0, 2])
    np.testing.assert_allclose(distances, [0.1, 0.9, np.hypot(0.9, 2.0)], rtol=1e-6)
    assert len(projection.nearest_points(layout, (0, 0), k=10)[0]) == 4


def test_nearest_points_break_ties_by_the_lower_index_on_any_cpu():
    # A click on a spot where several faces sit (duplicates in a folder) must pick the same face on
    # every machine: argpartition chose among tied points differently on AVX2 and AVX-512 numpy.
    layout = np.zeros((1000, 2), np.float32)
    layout[::7] = 0.5  # a second stack of tied points, farther away
    for k in (1, 2, 3, 5):
        indices, _ = projection.nearest_points(layout, (0.0, 0.0), k=k)
        np.testing.assert_array_equal(indices, [i for i in range(1000) if i % 7][:k])
    rng = np.random.default_rng(0)
    ring = rng.integers(0, 3, (1000, 1)).astype(np.float32) * np.array([[1.0, 0.0]], np.float32)
    indices, distances = projection.nearest_points(ring, (0.0, 0.0), k=4)
    np.testing.assert_array_equal(indices, np.flatnonzero(ring[:, 0] == 0)[:4])
    assert (distances == 0).all()

    weights = projection.blend_weights(np.array([1.0, 3.0]))
    np.testing.assert_allclose(weights, [0.75, 0.25], rtol=1e-5)
    assert weights.sum() == pytest.approx(1.0)
    on_point = projection.blend_weights(np.array([0.0, 0.5, 1.0]))
    assert on_point[0] > 0.999
    with pytest.raises(WaifuError):
        projection.blend_weights(np.array([]))


def test_a_umap_map_leaves_torchs_thread_count_alone():
    # numba (UMAP) starts an OpenMP pool sized to the machine and sets the calling thread's thread
    # count to it; torch in that thread then ran every op on all cores, and on a busy machine each
    # op waited for a descheduled thread (a training run after a map: 15x slower). A fresh process:
    # numba starts its pool once per process.
    script = ("import torch, numpy as np\n"
              "from waifu_studio.core.explore import projection\n"
              "from waifu_studio.core.explore.projection import ProjectionParams\n"
              "torch.set_num_threads(1)\n"
              "codes = np.random.default_rng(0).normal(size=(120, 8)).astype(np.float32)\n"
              "projection.project(codes, ProjectionParams('umap', n_neighbors=10), use_cache=False)\n"
              "print('threads', torch.get_num_threads())\n")
    env = {**os.environ, "OMP_NUM_THREADS": "2"}  # numba sizes its pool from this
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "1"
