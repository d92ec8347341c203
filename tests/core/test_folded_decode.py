"""decode and encode run inference-only copies (batch norm folded, channels_last): same faces, never stale.

Precision depends on the CPU: each test that cares checks the choice the code makes here and the
tolerance for that choice, and runs the other branch by forcing it (``cpu_bf16`` fixture).
"""

from __future__ import annotations

import contextlib
import copy
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from waifu_studio.core import devices
from waifu_studio.core.config import FAMILIES
from waifu_studio.core.models import tensor_to_images
from waifu_studio.core.models.folding import fold_decoder
from waifu_studio.core.models.inference import build_folded_decoder

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
# fp32 folding changes only the summation order: a pixel may land one level off.
FP32_MAX_LEVELS = 1
# bf16 keeps 8 significant bits, as many as a uint8 pixel, so each layer's rounding moves a pixel
# by about a level at most. The bf16 copy must round no worse than PyTorch's own bf16 modules on
# the same CPU (native or emulated), with 1.5x margin (measured ratio of means: 0.5-0.86 with
# AVX-512/AMX kernels and with AVX2-only ones), and stay invisible: a mean under 1 level and no
# pixel over 8 off (measured: means 0.19-0.28, max 2-5 levels; PyTorch's own: 0.23-0.46, max 5).
BF16_MARGIN, BF16_MEAN_LEVELS, BF16_MAX_LEVELS = 1.5, 1.0, 8


def unfolded_faces(model, latents: np.ndarray) -> np.ndarray:
    """The faces the original modules draw (eval mode): what decode showed before folding."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return tensor_to_images(model.decode_tensor(torch.from_numpy(latents).to(model.dtype)))
    finally:
        model.train(was_training)


def level_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16))


def with_trained_batch_norm(model):
    """Give every batch norm non-trivial statistics, as a trained model has (init leaves 0/1)."""
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in model.generator.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
    return model


def bf16_modules_faces(model, latents: np.ndarray) -> np.ndarray:
    """What PyTorch's own bf16 modules draw on this CPU: the yardstick for the bf16 copy's rounding."""
    return unfolded_faces(copy.deepcopy(model).to(torch.bfloat16), latents)


def assert_bf16_rounding(faces: np.ndarray, reference: np.ndarray, yardstick: np.ndarray) -> None:
    diff, own = level_diff(faces, reference), level_diff(yardstick, reference)
    assert diff.mean() <= BF16_MARGIN * own.mean() and diff.mean() < BF16_MEAN_LEVELS, (diff.mean(), own.mean())
    assert diff.max() <= BF16_MAX_LEVELS, diff.max()


@pytest.mark.parametrize("family", FAMILIES)
def test_folded_fp32_decode_matches_the_modules_on_a_tiny_model(tiny_model_factory, family):
    model = with_trained_batch_norm(tiny_model_factory(family, resolution=64))
    model.decode_precision = "fp32"
    assert model.folded_decoder().dtype == torch.float32
    z = model.seeds_to_latents(range(16))
    assert level_diff(model.decode(z), unfolded_faces(model, z)).max() <= FP32_MAX_LEVELS


def test_auto_precision_is_the_cpus_choice(tiny_model_factory, cpu_bf16):
    # "auto" (the app's default) computes in bf16 exactly when the CPU branch says so; the CLI's
    # "fp32" never does. Unforced, that branch is bf16 only with native bf16 (tested in test_devices).
    model = with_trained_batch_norm(tiny_model_factory("ae", resolution=64))
    expected = torch.bfloat16 if cpu_bf16 else torch.float32
    assert devices.cpu_uses_bf16() == cpu_bf16
    assert model.folded_decoder().dtype == expected and model.folded_encoder().dtype == expected
    z = model.seeds_to_latents(range(16))
    faces, reference = model.decode(z), unfolded_faces(model, z)
    if cpu_bf16:
        assert_bf16_rounding(faces, reference, bf16_modules_faces(model, z))
    else:
        assert level_diff(faces, reference).max() <= FP32_MAX_LEVELS
    model.decode_precision = "fp32"
    assert model.folded_decoder().dtype == torch.float32


@pytest.mark.parametrize("family", FAMILIES)
def test_folded_decode_matches_the_modules_on_a_bundled_checkpoint(family):
    from waifu_studio.core.io.checkpoint import load_checkpoint

    path = CHECKPOINTS / f"{family}.safetensors"
    if not path.exists():
        pytest.skip(f"{path.name} is not bundled here")
    model = load_checkpoint(path)
    z = model.seeds_to_latents(range(32))
    reference = unfolded_faces(model, z)
    model.decode_precision = "fp32"
    assert level_diff(model.decode(z), reference).max() <= FP32_MAX_LEVELS
    # bf16 on any CPU (emulated where it is not native): the rounding of the path the app takes.
    model.decode_precision = "bf16"
    assert model.folded_decoder().dtype == torch.bfloat16
    assert_bf16_rounding(model.decode(z), reference, bf16_modules_faces(model, z))


@pytest.mark.parametrize("family", ["ae", "vae"])
def test_folded_encode_gives_the_modules_codes(tiny_model_factory, family, faces32):
    model = with_trained_batch_norm(tiny_model_factory(family, resolution=32))
    with torch.no_grad():
        for m in model.encoder.modules():  # trained statistics in the encoder too
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 1.5)
                m.running_mean.normal_(0.0, 0.1)
    images = faces32[:40]
    with torch.no_grad():
        expected = model.encode_tensor(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1).numpy()
    scale = np.abs(expected).max()
    for precision, tolerance in (("fp32", 1e-5), ("bf16", 3e-2)):  # summation order / 8-bit mantissas
        model.encode_precision = precision
        assert model.folded_encoder() is not None
        codes = model.encode(images, batch_size=16)
        assert codes.dtype == np.float32 and codes.shape == (40, model.latent_dim)
        assert np.abs(codes - expected).max() <= tolerance * scale, precision
        np.testing.assert_array_equal(model.encode(images[7:9]), codes[7:9])  # a batch encodes as its faces alone


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_grid_shows_exactly_its_single_faces(tiny_model_factory, precision):
    model = with_trained_batch_norm(tiny_model_factory("vae", resolution=64))
    model.decode_precision = precision
    z = model.seeds_to_latents(range(12))
    grid = model.decode(z)
    np.testing.assert_array_equal(grid, np.concatenate([model.decode(one) for one in z]))
    np.testing.assert_array_equal(grid[5:9], model.decode(z[5:9]))


def test_changed_weights_are_never_drawn_stale(tiny_model_factory, tmp_path):
    model = with_trained_batch_norm(tiny_model_factory("dcgan"))
    z = model.seeds_to_latents(range(4))
    before = model.decode(z)
    first_copy = model.folded_decoder()
    # In-place edit (an optimizer step, an EMA update, batch-norm recalibration all do this).
    with torch.no_grad():
        for p in model.generator.parameters():
            p.mul_(1.5)
    after = model.decode(z)
    assert not np.array_equal(after, before)
    assert level_diff(after, unfolded_faces(model, z)).max() <= 1
    assert model.folded_decoder() is not first_copy
    # load_state_dict (a training run's checkpoint reloaded into the open model).
    other = with_trained_batch_norm(tiny_model_factory("dcgan", latent_dim=16))
    with torch.no_grad():
        for p in other.generator.parameters():
            p.add_(0.05)
    model.load_state_dict(other.state_dict())
    np.testing.assert_array_equal(model.decode(z), other.decode(z))


def test_training_uses_the_modules_and_drops_the_copy(tiny_model_factory):
    from waifu_studio.core.config import TrainConfig
    from waifu_studio.core.models import build_objective

    model = with_trained_batch_norm(tiny_model_factory("ae"))
    z = model.seeds_to_latents(range(4))
    model.decode(z)
    assert model._inference.built()
    objective = build_objective(model, TrainConfig(batch_size=8))
    model.train()
    assert not model._inference.built() and model.folded_decoder() is None and model.folded_encoder() is None
    # decode while training (sample grids) runs the modules in eval mode and keeps train mode.
    np.testing.assert_array_equal(model.decode(z), unfolded_faces(model, z))
    assert model.training and not model._inference.built()
    before = model.decode(z)
    objective.train_step(torch.rand(8, 3, 32, 32) * 2 - 1, 0, contextlib.nullcontext)
    model.eval()
    after = model.decode(z)
    assert not np.array_equal(after, before)
    assert level_diff(after, unfolded_faces(model, z)).max() <= 1


def test_copies_of_a_model_decode_their_own_weights(tiny_model_factory, cpu_bf16):
    model = with_trained_batch_norm(tiny_model_factory("wgan-gp"))
    z = model.seeds_to_latents(range(3))
    faces = model.decode(z)
    twin = copy.deepcopy(model)  # the inference copy is not copied: the twin builds its own
    np.testing.assert_array_equal(twin.decode(z), faces)
    with torch.no_grad():
        next(twin.generator.parameters()).mul_(-1.0)
    assert not np.array_equal(twin.decode(z), faces)
    np.testing.assert_array_equal(model.decode(z), faces)
    # A model loaded in bf16: on a CPU its copy computes in the CPU's choice (fp32 where bf16 is
    # not used: the bf16 weights widen exactly), and draws what its bf16 modules draw, within
    # bf16 rounding (those modules round every activation).
    half = copy.deepcopy(model).to(torch.bfloat16)
    assert half.folded_decoder().dtype == (torch.bfloat16 if cpu_bf16 else torch.float32)
    assert level_diff(half.decode(z), unfolded_faces(half, z)).max() <= BF16_MAX_LEVELS


def test_decode_leaves_the_thread_count_of_every_thread_alone(tiny_model_factory, torch_threads):
    torch_threads(2)  # a small decode may run on 1 of them
    model = tiny_model_factory("dcgan")
    before = torch.get_num_threads()
    model.decode(model.seeds_to_latents([1]))
    assert torch.get_num_threads() == before
    seen = []
    worker = threading.Thread(target=lambda: (model.decode(model.seeds_to_latents([2])),
                                              seen.append(torch.get_num_threads())))
    worker.start()
    worker.join()
    assert seen == [before]


def test_unfoldable_generators_keep_the_modules(tiny_model_factory):
    model = tiny_model_factory("dcgan")
    model.generator.net.append(torch.nn.Identity())
    assert fold_decoder(model.generator) is None and build_folded_decoder(model.generator, torch.float32) is None
    z = model.seeds_to_latents(range(2))
    np.testing.assert_array_equal(model.decode(z), unfolded_faces(model, z))


def test_small_decodes_use_more_threads_only_while_they_are_clearly_faster(torch_threads):
    from waifu_studio.core.models import threads

    torch_threads(2)
    if not threads.can_limit_threads():
        pytest.skip("needs OpenMP thread control")
    chooser = threads.ThreadChooser()
    many = torch.get_num_threads()

    def run(cost: dict[int, float], calls: int) -> list[int]:
        picks = []
        for _ in range(calls):
            count = chooser.choose()
            picks.append(count)
            chooser.record(count, cost[count])
        return picks

    idle = run({1: 0.004, many: 0.002}, 200)  # an idle machine: more threads are faster
    assert idle[0] == 1 and idle[-100:].count(many) >= 95 and 1 in idle[-100:]  # still re-times one thread
    loaded = run({1: 0.004, many: 0.060}, 600)  # loaded: a descheduled helper stalls every layer
    assert loaded.count(many) <= 8  # one slow decode per backed-off trial, no more
    assert loaded[-50:] == [1] * 50
    assert run({1: 0.004, many: 0.0039}, 200).count(many) <= 8  # not clearly faster: stay on one
