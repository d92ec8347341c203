"""``waifu-studio fit-prior``: refits only the prior, keeps the file's storage type, explains bad input in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.core.helpers import assert_cli_fails_in_one_line
from waifu_studio.cli import main
from waifu_studio.core.data import builtin_faces
from waifu_studio.core.io.checkpoint import load_checkpoint, read_info, save_checkpoint


@pytest.fixture
def fp16_ae(tmp_path, tiny_model_factory):
    """A tiny AE stored in fp16 (as the bundled models are) with the untrained N(0, I) prior."""
    return save_checkpoint(tiny_model_factory("ae"), tmp_path / "ae16.safetensors", dtype=torch.float16)


@pytest.mark.parametrize("family", ["ae", "vae"])
def test_a_refit_changes_the_prior_and_never_the_networks(family, tmp_path, faces_folder, tiny_model_factory, capsys):
    src = save_checkpoint(tiny_model_factory(family), tmp_path / "in.safetensors", dtype=torch.float16)
    out = tmp_path / "out.safetensors"
    assert main(["fit-prior", "--checkpoint", str(src), "--data", str(faces_folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "chose " in printed and "val split" in printed
    before, after = load_file(str(src)), load_file(str(out))
    networks = sorted(k for k in before if not k.startswith("prior."))
    assert networks == sorted(k for k in after if not k.startswith("prior."))
    for name in networks:  # bit for bit, still fp16
        assert after[name].dtype == before[name].dtype
        assert torch.equal(after[name], before[name]), name
    # The prior now sits where the training codes are (it was N(0, I)): a fitted mixture's mean is
    # their mean (every EM step keeps it there).
    model = load_checkpoint(out)
    info = read_info(out)
    codes = model.encode(builtin_faces(count=40, resolution=32).images, precision="fp32")  # as fit-prior encodes
    train = codes[np.arange(40) % 10 != 0]
    assert info.prior["fitted_on"] == 36 and info.prior["split"] == "train"
    np.testing.assert_allclose(model.latent_mean, train.mean(0), atol=1e-4 * np.abs(train).max())
    assert np.abs(train.mean(0)).max() > 100 * 1e-4 * np.abs(train).max()  # so the check above means something


def test_a_number_of_components_is_taken_as_given(fp16_ae, tmp_path, faces_folder):
    out = tmp_path / "out.safetensors"
    assert main(["fit-prior", "--checkpoint", str(fp16_ae), "--data", str(faces_folder), "--components", "2",
                 "--split", "all", "--out", str(out)]) == 0
    info = read_info(out)
    assert info.prior["components"] == 2 and info.prior["fitted_on"] == 40
    assert load_checkpoint(out).prior.components == 2


CASES = [
    (["--checkpoint", "missing.safetensors"], "not found"),
    (["--checkpoint", "gan.safetensors"], "only AE and VAE"),
    (["--data", "no/such/folder"], "data folder not found"),
    (["--data", "empty"], "no usable image"),
    (["--components", "0"], "expected 'auto' or a number >= 1, got 0"),
    (["--components", "many"], "expected 'auto' or a whole number, got 'many'"),
    (["--components", "500"], "between 1 and the 36 codes"),
    (["--split", "test"], "invalid choice: 'test'"),
    (["--out", "refit.pt"], "--out must end in .safetensors"),
    (["--out", "no/such/dir/refit.safetensors"], "does not exist"),
]


@pytest.mark.parametrize("change, message", CASES, ids=[" ".join(c) for c, _ in CASES])
def test_fit_prior_mistakes_are_one_line_and_status_2(change, message, tmp_path, monkeypatch, capsys, fp16_ae,
                                                      faces_folder, tiny_checkpoint):
    monkeypatch.chdir(tmp_path)
    tiny_checkpoint("dcgan", name="gan.safetensors")
    (tmp_path / "empty").mkdir()
    args = {"--checkpoint": str(fp16_ae), "--data": str(faces_folder), "--out": "refit.safetensors"}
    extra: list[str] = []
    for flag, value in zip(change[::2], change[1::2], strict=True):
        if flag in args:
            args[flag] = value
        else:
            extra += [flag, value]
    assert_cli_fails_in_one_line(["fit-prior"] + [x for kv in args.items() for x in kv] + extra, message, capsys)
    assert not (tmp_path / "refit.safetensors").exists()
