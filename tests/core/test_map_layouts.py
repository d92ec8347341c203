"""t-SNE maps keep neighbourhoods; the map-quality scores; maps computed in a child process."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from waifu_studio.core.errors import WaifuError
from waifu_studio.core.explore import projection
from waifu_studio.core.explore.projection import ProjectionCancelled, ProjectionParams
from waifu_studio.core.explore.projection.neighbours import exact_knn, knn_preservation, trustworthiness
from waifu_studio.core.explore.projection.process import project_in_process
from waifu_studio.core.lazy_import import BackgroundImport


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("WAIFU_STUDIO_CACHE", str(folder))
    return folder


def cube_codes(n: int, factors: int = 6, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Codes driven by ``factors`` independent uniform factors, linearly mixed into ``dim`` dimensions."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 1, (n, factors)) @ rng.normal(size=(factors, dim))).astype(np.float32)


@pytest.mark.slow  # a full-length t-SNE of 3,000 points
def test_tsne_keeps_neighbourhoods_far_better_than_pca():
    # 3,000 points: the FFT gradients and the shortened schedule (125 + 375 iterations, coarser
    # FFT cells), as for real face sets; two of six factors fit on a PCA map, all six on t-SNE's.
    # Both bounds compare with the PCA map of the same codes, the map a user gets first, so they
    # do not depend on how fast this machine is or which kernels it has; each has a wide margin
    # over what was measured (seeds 0 and 1: 10-NN kept 0.51 vs PCA's 0.07-0.08, i.e. 6.7x;
    # intrusions 1 - trustworthiness 0.010 vs PCA's 0.21-0.22, i.e. 1/21; a random map: 0.50).
    # How close it comes to a full-length run belongs in benchmarks/map_bench.py.
    codes = cube_codes(3000)
    tsne = projection.project(codes, ProjectionParams("tsne"), use_cache=False)
    pca = projection.pca_2d(codes)
    assert knn_preservation(codes, tsne, k=10) > 3 * knn_preservation(codes, pca, k=10)
    assert 1 - trustworthiness(codes, tsne, k=10) < 0.25 * (1 - trustworthiness(codes, pca, k=10))


def test_quality_scores():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(300, 8))
    assert knn_preservation(codes, codes[:, :8], k=5) == 1.0  # the codes themselves keep everything
    random_map = rng.normal(size=(300, 2))
    assert knn_preservation(codes, random_map, k=5) < 0.1  # chance is 5/299
    from sklearn.manifold import trustworthiness as sklearn_trustworthiness

    layout = codes[:, :2] + rng.normal(0, 0.3, (300, 2))
    ours = trustworthiness(codes, layout, k=5, sample=300)  # every point sampled: exact
    assert ours == pytest.approx(sklearn_trustworthiness(codes, layout, n_neighbors=5), abs=1e-12)
    with pytest.raises(WaifuError, match="same rows"):
        knn_preservation(codes, random_map[:10])


def test_exact_knn_is_exact_with_self_first():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 12)).astype(np.float32)
    indices, distances = exact_knn(x, 8)
    full = np.linalg.norm(x[:, None, :].astype(np.float64) - x[None, :, :], axis=-1)
    np.testing.assert_array_equal(indices[:, 0], np.arange(500))
    np.testing.assert_allclose(distances[:, 0], 0.0)
    np.fill_diagonal(full, np.inf)
    np.testing.assert_allclose(distances[:, 1:], np.sort(full, axis=1)[:, :7], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(np.sort(indices[:, 1:], axis=1), np.sort(np.argsort(full, axis=1)[:, :7], axis=1))


def test_input_width_defaults():
    assert ProjectionParams("tsne").reduced_dims(384) == 100
    assert ProjectionParams("umap").reduced_dims(384) == 50
    assert ProjectionParams("tsne").reduced_dims(64) == 64  # never widened
    assert ProjectionParams("tsne", pca_dims=20).reduced_dims(384) == 20


def test_map_in_a_child_process_equals_the_map_here(private_cache):
    codes = cube_codes(200)
    params = ProjectionParams("tsne", perplexity=20, tsne_iterations=150)
    here = projection.project(codes, params, use_cache=False)
    calls: list[tuple[float, np.ndarray | None]] = []
    there = project_in_process(codes, params, cache_key="k", progress=lambda f, layout: calls.append((f, layout)))
    np.testing.assert_array_equal(there, here)
    fractions = [f for f, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert sum(1 for f, layout in calls if 0 < f < 1 and layout is not None) >= 3  # frames while it unfolds
    # The child filled the shared cache: the next call (here or in a child) computes nothing.
    assert projection.cached_layout(codes, params, "k") is not None
    again: list[float] = []
    np.testing.assert_array_equal(project_in_process(codes, params, cache_key="k",
                                                     progress=lambda f, _: again.append(f)), here)
    assert again == [1.0]


def test_cancelling_a_map_in_a_child_process():
    codes = cube_codes(300)
    cancel = threading.Event()
    seen: list[float] = []

    def on_progress(fraction, layout):
        seen.append(fraction)
        if layout is not None:
            cancel.set()

    with pytest.raises(ProjectionCancelled):
        project_in_process(codes, ProjectionParams("tsne", tsne_iterations=100_000), progress=on_progress,
                           cancel=cancel, use_cache=False)
    assert max(seen) < 0.5


def test_background_import_reports_failures_and_cancels(tmp_path, monkeypatch):
    with pytest.raises(ModuleNotFoundError):
        BackgroundImport("waifu_no_such_module").module()
    (tmp_path / "waifu_slow_module.py").write_text("import time\ntime.sleep(1.0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    loading = BackgroundImport("waifu_slow_module")
    stop = threading.Event()
    stop.set()
    with pytest.raises(ProjectionCancelled):
        loading.module(lambda: projection.raise_if_cancelled(stop))
    assert loading.module().__name__ == "waifu_slow_module"  # the import itself still completes
    sys.modules.pop("waifu_slow_module", None)
