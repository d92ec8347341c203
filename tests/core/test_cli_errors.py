"""Wrong types, missing paths, unwritable outputs: every CLI mistake is one line on stderr and status 2.

In-process (``main()``), so the table stays fast; tests/core/test_cli.py runs a few through a real
subprocess to prove no traceback reaches the terminal.
"""

from __future__ import annotations

import pytest

from tests.core.helpers import assert_cli_fails_in_one_line

TRAIN = ["train", "--model", "dcgan", "--data", "builtin", "--builtin-count", "16", "--resolution", "32", "--width",
         "8", "--latent-dim", "16", "--max-steps", "1", "--device", "cpu"]
CKPT = "m.safetensors"

CASES = [
    (TRAIN + ["--out", "file.txt/run"], "file.txt is a file, not a folder"),
    (TRAIN + ["--out", "file.txt"], "it is a file"),
    (TRAIN + ["--out", "r", "--batch-size", "abc"], "expected a whole number, got 'abc'"),
    (TRAIN + ["--out", "r", "--epochs", "0"], "expected a number >= 1, got 0"),
    (TRAIN + ["--out", "r", "--max-minutes", "soon"], "invalid float value: 'soon'"),
    (TRAIN + ["--out", "r", "--lr", "-1"], "argument --lr: expected a number > 0, got -1"),
    (TRAIN + ["--out", "r", "--device", "tpu"], "unknown device 'tpu'"),
    (["train", "--resume", "/no/such/run"], "not a run folder"),
    (["train", "--resume", "file.txt"], "not a run folder"),
    (["train", "--model", "dcgan", "--data", "file.txt", "--out", "r"], "data folder not found: file.txt"),
    (["train", "--model", "dcgan", "--data", "builtin", "--resolution", "48", "--out", "r"], "invalid choice: 48"),
    (["generate", "--checkpoint", CKPT, "--seed", "1", "--out", "file.txt/x.png"], "folder file.txt does not exist"),
    (["generate", "--checkpoint", CKPT, "--seed", "-3", "--out", "x.png"], "expected a number >= 0, got -3"),
    (["generate", "--checkpoint", CKPT, "--seed", "1", "--n", "0", "--out", "x.png"], "expected a number >= 1"),
    (["generate", "--checkpoint", CKPT, "--seed", "1", "--out", "x.jpg"], "--out must end in .png"),
    (["generate", "--checkpoint", "file.txt", "--seed", "1", "--out", "x.png"], "not a safetensors checkpoint"),
    (["generate", "--checkpoint", ".", "--seed", "1", "--out", "x.png"], "is a folder, not a checkpoint"),
    (["generate", "--checkpoint", CKPT, "--seed", "1", "--truncation", "lots", "--out", "x.png"],
     "expected a number, got 'lots'"),
    (["morph", "--checkpoint", CKPT, "--from", "1", "--to", "nofile.png", "--out", "m.gif"], "neither a seed nor"),
    (["morph", "--checkpoint", CKPT, "--from", "1", "--to", "2", "--steps", "1", "--out", "m.gif"],
     "expected a number >= 2"),
    (["morph", "--checkpoint", CKPT, "--from", "1", "--to", "file.txt", "--out", "m.gif"], "not an image file"),
    (["embed", "--checkpoint", CKPT, "--data", "prior", "--method", "lda", "--out", "e.npz"], "invalid choice: 'lda'"),
    (["embed", "--checkpoint", CKPT, "--data", "prior", "--method", "pca", "--out", "file.txt/e.npz"],
     "folder file.txt does not exist"),
    (["eval", "--checkpoint", CKPT, "--data", "/no/such"], "data folder not found"),
]


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CASES])
def test_cli_mistakes_are_one_line_and_status_2(argv, message, tmp_path, monkeypatch, capsys, tiny_checkpoint):
    monkeypatch.chdir(tmp_path)
    tiny_checkpoint("dcgan", name=CKPT)
    (tmp_path / "file.txt").write_text("a regular file where a folder is expected\n")
    assert_cli_fails_in_one_line(argv, message, capsys)
    assert not (tmp_path / "r").exists()  # nothing half-created
