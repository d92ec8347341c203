"""The fitted sampling prior of AE and VAE models: a Gaussian mixture that seeds sample from."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch

from waifu_studio.core.errors import CheckpointError, WaifuError
from waifu_studio.core.io.checkpoint import load_checkpoint, read_info, save_checkpoint
from waifu_studio.core.models.prior_fit import choose_mixture, fit_prior
from waifu_studio.core.models.seeds import seeds_to_noise, seeds_to_z

DIM = 8


def clustered_codes(n: int, seed: int, weights=(0.2, 0.3, 0.5)) -> np.ndarray:
    """Codes in tight clusters far apart: one Gaussian puts most of its mass between them."""
    centres = np.random.default_rng(100).normal(0.0, 6.0, (len(weights), DIM))
    rng = np.random.default_rng(seed)
    which = rng.choice(len(weights), size=n, p=weights)
    return (centres[which] + rng.normal(0.0, 0.4, (n, DIM))).astype(np.float32)


def mixture_loglik(prior, codes: np.ndarray) -> float:
    return float(prior.log_likelihood(codes).mean())


@pytest.fixture(scope="module")
def three_clusters():
    """A three-component diagonal mixture fitted to clustered codes (fitted once per module: fits cost seconds)."""
    return choose_mixture(clustered_codes(600, seed=1), clustered_codes(200, seed=2), components=3,
                          covariances=("diag",))


@pytest.fixture
def mixture_ae(tiny_model_factory, three_clusters):
    model = tiny_model_factory("ae", latent_dim=DIM)
    model.prior.set_mixture(*three_clusters[0], report=three_clusters[1])
    return model


def test_the_choice_by_heldout_likelihood_beats_one_gaussian_on_clustered_codes(tiny_model_factory):
    model = tiny_model_factory("vae", latent_dim=DIM)
    report = fit_prior(model, clustered_codes(600, seed=1), clustered_codes(200, seed=2))
    one = tiny_model_factory("vae", latent_dim=DIM)
    one.prior.fit_gaussian(clustered_codes(600, seed=1))
    fresh = clustered_codes(1000, seed=3)  # codes neither fit nor choice saw
    assert report["components"] >= 3
    # Three clusters of spread 0.4 about 6 apart: a mixture explains fresh codes far better.
    assert mixture_loglik(model.prior, fresh) > mixture_loglik(one.prior, fresh) + 3.0
    # Every candidate was scored, and the kept one is the best of them.
    assert report["heldout_loglik"] == max(c["heldout_loglik"] for c in report["candidates"])
    assert {c["covariance"] for c in report["candidates"]} == {"full", "diag", "tied", "spherical"}


@pytest.mark.parametrize("covariance", ["full", "diag", "tied", "spherical"])
def test_every_covariance_type_is_stored_as_the_density_scikit_learn_fitted(tiny_model_factory, covariance):
    model = tiny_model_factory("ae", latent_dim=DIM)
    fit_codes, heldout = clustered_codes(500, seed=4), clustered_codes(300, seed=5)
    params, report = choose_mixture(fit_codes, heldout, components=3, covariances=(covariance,))
    model.prior.set_mixture(*params, report=report)
    assert mixture_loglik(model.prior, heldout) == pytest.approx(report["heldout_loglik"], abs=1e-3)


def test_seeds_pick_components_by_weight_and_truncation_shrinks_towards_the_components_mean(mixture_ae):
    prior = mixture_ae.prior
    latents = mixture_ae.seeds_to_latents(range(3000))
    nearest = np.linalg.norm(latents[:, None] - prior.means.numpy()[None], axis=2).argmin(1)
    shares = np.bincount(nearest, minlength=prior.components) / len(latents)
    # 3000 draws: a share's binomial standard deviation is at most 0.009; 0.04 is over 4 of them.
    np.testing.assert_allclose(np.sort(shares), np.sort(prior.weights.numpy()), atol=0.04)
    _, picks = seeds_to_noise(range(3000), DIM)
    chosen = prior.pick_components(picks)
    centres = mixture_ae.seeds_to_latents(range(3000), truncation=0.0)
    np.testing.assert_array_equal(centres, prior.means.numpy()[chosen])
    half = mixture_ae.seeds_to_latents(range(3000), truncation=0.5)
    np.testing.assert_allclose(half, (centres + latents) / 2, atol=1e-5)


def test_a_seed_gives_the_same_latent_across_calls_and_processes(mixture_ae, tmp_path):
    path = save_checkpoint(mixture_ae, tmp_path / "ae.safetensors")
    here = load_checkpoint(path).seeds_to_latents([0, 7, 123456])
    np.testing.assert_array_equal(here, mixture_ae.seeds_to_latents([0, 7, 123456]))
    np.testing.assert_array_equal(here[1], mixture_ae.seeds_to_latents([7])[0])  # alone or in a batch
    code = ("import sys, numpy as np; from waifu_studio.core.io.checkpoint import load_checkpoint; "
            "np.save(sys.argv[2], load_checkpoint(sys.argv[1]).seeds_to_latents([0, 7, 123456]))")
    subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "z.npy")], check=True, timeout=120)
    np.testing.assert_array_equal(np.load(tmp_path / "z.npy"), here)


def test_a_mixture_checkpoint_holds_only_tensors_and_text(mixture_ae, tmp_path):
    path = save_checkpoint(mixture_ae, tmp_path / "ae.safetensors", dtype=torch.float16)
    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len])
    metadata = header.pop("__metadata__")
    assert all(isinstance(v, str) for v in metadata.values())
    sizes = {"F16": 2, "F32": 4, "I64": 8}  # I64: batch norm step counters
    data = 0
    for name, entry in header.items():
        count = int(np.prod(entry["shape"])) if entry["shape"] else 1
        assert entry["data_offsets"][1] - entry["data_offsets"][0] == count * sizes[entry["dtype"]], name
        data += count * sizes[entry["dtype"]]
    assert 8 + header_len + data == len(raw)  # nothing but the JSON header and raw numbers
    assert {header[f"prior.{n}"]["dtype"] for n in ("weights", "means", "scales")} == {"F32"}
    assert json.loads(metadata["prior"])["components"] == mixture_ae.prior.components
    assert read_info(path).prior["components"] == mixture_ae.prior.components


def _format1_file(tmp_path, model, tensors: dict[str, torch.Tensor], name: str):
    """A checkpoint as format 1 wrote it: ``tensors`` in place of the model's prior."""
    from safetensors.torch import save_file

    state = {k: v for k, v in model.state_dict().items() if not k.startswith("prior.")}
    state.update(tensors)
    meta = {"format": "waifu-studio-checkpoint", "format_version": "1", "family": model.family,
            "model_config": json.dumps(model.config.to_dict()), "training": "{}"}
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / name), metadata=meta)
    return tmp_path / name


def test_format1_checkpoints_load_and_sample_as_before(tiny_model_factory, tmp_path):
    ae = tiny_model_factory("ae", latent_dim=DIM)
    rng = np.random.default_rng(0)
    mean = torch.from_numpy(rng.normal(size=DIM).astype(np.float32))
    tril = torch.from_numpy(np.tril(rng.normal(size=(DIM, DIM))).astype(np.float32) + 3 * torch.eye(DIM).numpy())
    loaded = load_checkpoint(_format1_file(tmp_path, ae, {"prior_mean": mean, "prior_tril": tril}, "ae.safetensors"))
    eps = torch.from_numpy(seeds_to_z(range(10), DIM) * np.float32(0.7))
    np.testing.assert_array_equal(loaded.seeds_to_latents(range(10), 0.7), (mean + eps @ tril.T).numpy())
    vae = tiny_model_factory("vae", latent_dim=DIM)
    loaded = load_checkpoint(_format1_file(tmp_path, vae, {}, "vae.safetensors"))
    np.testing.assert_array_equal(loaded.seeds_to_latents(range(10)), seeds_to_z(range(10), DIM))


def test_a_prior_that_does_not_fit_the_model_is_refused_with_a_reason(tiny_model_factory, tmp_path):
    ae = tiny_model_factory("ae", latent_dim=DIM)
    bad = {"prior.weights": torch.ones(2), "prior.means": torch.zeros(3, DIM), "prior.scales": torch.ones(2, DIM)}
    with pytest.raises(CheckpointError, match=r"means must have shape \(2, 8\)"):
        load_checkpoint(_format1_file(tmp_path, ae, bad, "bad.safetensors"))
    with pytest.raises(CheckpointError, match="prior_tril"):
        load_checkpoint(_format1_file(tmp_path, ae, {"prior_mean": torch.zeros(DIM)}, "half.safetensors"))


def test_gans_take_no_fitted_prior(tiny_model_factory):
    with pytest.raises(WaifuError, match="only AE and VAE"):
        fit_prior(tiny_model_factory("dcgan", latent_dim=DIM), clustered_codes(100, seed=0))


def test_candidates_too_big_to_store_or_too_slow_to_fit_are_skipped(monkeypatch):
    from waifu_studio.core.models import prior_fit

    monkeypatch.setattr(prior_fit, "MAX_PRIOR_VALUES", 200)  # full covariance over 8-d codes: at most 2 components
    _, report = choose_mixture(clustered_codes(300, seed=1), clustered_codes(100, seed=2), covariances=("full",))
    assert [c["components"] for c in report["candidates"]] == [1, 2]
    assert report["components"] == 2
    monkeypatch.setattr(prior_fit, "MAX_EM_WORK", 2 * 270 * 8 * 8)  # tied over 270 8-d codes: at most 2 components
    _, report = choose_mixture(clustered_codes(270, seed=1), clustered_codes(100, seed=2), covariances=("tied",))
    assert [c["components"] for c in report["candidates"]] == [1, 2]


def test_a_noise_offset_keeps_each_seed_in_its_component(mixture_ae):
    from waifu_studio.core.explore.reproduce import seed_latents

    seeds = list(range(40))
    base = mixture_ae.seeds_to_latents(seeds)
    moved = seed_latents(mixture_ae, seeds, 1.0, (2, 1.5))
    chosen = mixture_ae.prior.pick_components(seeds_to_noise(seeds, DIM)[1])
    assert len(set(chosen)) == 3
    expected = np.zeros_like(base)
    expected[:, 2] = 1.5 * mixture_ae.prior.scales.numpy()[chosen, 2]  # diagonal scales: one dimension moves
    np.testing.assert_allclose(moved - base, expected, atol=1e-5)


@pytest.mark.parametrize("family", ["ae", "vae"])
def test_training_ends_with_a_mixture_chosen_on_held_out_training_codes(tiny_model_factory, faces32, family):
    from waifu_studio.core.config import TrainConfig
    from waifu_studio.core.models import build_objective

    model = tiny_model_factory(family)
    objective = build_objective(model, TrainConfig.for_family(family))
    faces = torch.from_numpy(faces32)
    objective.before_save(faces)  # a checkpoint during the run: one Gaussian
    assert model.prior.components == 1 and model.prior.fit_report["fitted_on"] == len(faces32)
    assert objective.finish(faces) is True  # the final samples change, so the grid is redrawn
    report = model.prior.fit_report
    assert report["fitted_on"] == len(faces32) and report["heldout_from"].startswith("every 10th code")
    assert len(report["candidates"]) > 4
    assert not np.allclose(model.latent_mean, 0.0)
