"""`train` options come from the declarations: hostile numbers are one line and status 2, --resume applies
what may change, records it, and refuses the rest; a damaged config.json is "cannot resume RUN: reason"."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch

from tests.core.settings_samples import family_using, sample_value
from waifu_studio.cli import main
from waifu_studio.cli.train import cli_settings
from waifu_studio.core.settings import FIXED

TINY = ["--resolution", "32", "--latent-dim", "8", "--width", "4", "--batch-size", "16", "--builtin-count", "64",
        "--log-every", "2", "--sample-every", "100", "--device", "cpu", "--precision", "fp32"]


def _run(argv, capsys):
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    err = capsys.readouterr().err
    return status, err.strip().splitlines()


HOSTILE_ARGS = [
    (["--lr", "nan"], "argument --lr: expected a finite number, got nan"),
    (["--lr", "inf"], "argument --lr: expected a finite number, got inf"),
    (["--lr", "1e400"], "argument --lr: expected a finite number"),
    (["--lr", "0"], "argument --lr: expected a number > 0"),
    (["--betas", "2", "2"], "argument --betas: expected a number < 1, got 2.0"),
    (["--betas", "nan", "nan"], "argument --betas: expected a finite number, got nan"),
    (["--betas", "0.5"], "argument --betas: expected 2 arguments"),
    (["--seed", "18446744073709551616"], "argument --seed: expected a number <= 2147483647"),
    (["--seed", "-1"], "argument --seed: expected a number >= 0, got -1"),
    (["--max-minutes", "nan"], "argument --max-minutes: expected a finite number, got nan"),
    (["--kl-beta", "nan"], "argument --kl-beta: expected a finite number, got nan"),
    (["--gp-weight", "-1"], "argument --gp-weight: expected a number >= 0, got -1.0"),
    (["--builtin-count", "1000000000"], "argument --builtin-count: expected a number <= 50000"),
    (["--latent-dim", "4096"], "argument --latent-dim: expected a number <= 1024"),
    (["--width", "1024"], "argument --width: expected a number <= 128"),
    (["--extra-convs", "99"], "argument --extra-convs: expected a number <= 4"),
    (["--sample-count", "1000000000"], "argument --sample-count: expected a number <= 256"),
    (["--batch-size", "2.5"], "argument --batch-size: expected a whole number, got '2.5'"),
    (["--epochs", "0x40"], "argument --epochs: expected a whole number, got '0x40'"),
    (["--epochs", "9" * 5000], "argument --epochs: expected a whole number"),
    (["--max-steps", "-1"], "argument --max-steps: expected a number >= 0, got -1"),
    (["--ema", "1"], "argument --ema: expected a number < 1, got 1.0"),
    (["--augment", "blur"], "argument --augment: unknown 'blur'"),
    (["--device", "tpu"], "argument --device: unknown device 'tpu'"),
    (["--hflip=no"], "argument --hflip/--no-hflip: ignored explicit argument 'no'"),
    (["--lr-decay", "linear"], "argument --lr-decay: invalid choice: 'linear'"),
]


@pytest.mark.parametrize("args, message", HOSTILE_ARGS, ids=[" ".join(a)[:30] for a, _ in HOSTILE_ARGS])
def test_a_hostile_argument_is_one_line_and_status_2(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, lines = _run(["train", "--model", "vae", "--data", "builtin", "--out", "r", *args], capsys)
    assert status == 2 and len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "r").exists()


def test_no_traceback_reaches_the_terminal(tmp_path):
    result = subprocess.run([sys.executable, "-m", "waifu_studio", "train", "--model", "vae", "--data", "builtin",
                             "--out", str(tmp_path / "r"), "--betas", "nan", "nan"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------ resume
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny ae run, 4 steps (64 faces / batch 16 = 4 steps an epoch), one epoch planned."""
    run = tmp_path_factory.mktemp("runs") / "ae"
    assert main(["train", "--model", "ae", "--data", "builtin", "--out", str(run), "--epochs", "1", *TINY]) == 0
    return run


@pytest.fixture
def run_copy(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    return run


def _config(run):
    return json.loads((run / "config.json").read_text())


def test_resume_applies_every_option_given_and_records_what_lasts(run_copy, capsys):
    argv = ["train", "--resume", str(run_copy), "--epochs", "2", "--lr", "1e-4", "--max-minutes", "30",
            "--sample-every", "3", "--no-hflip", "--device", "cpu"]
    assert main(argv) == 0
    assert "at step 8" in capsys.readouterr().out  # the new length was applied
    train = _config(run_copy)["train"]
    assert train["epochs"] == 2 and train["lr"] == 1e-4 and train["sample_every"] == 3 and train["hflip"] is False
    assert train["max_minutes"] == 0  # a session's time budget is not the run's
    state = torch.load(run_copy / "train_state.pt", weights_only=True)
    groups = state["objective"]["optimizers"]["model"]["param_groups"]
    assert [g["lr"] for g in groups] == [1e-4]  # the saved optimizer state did not keep the old rate
    assert sorted(p.name for p in (run_copy / "samples").glob("step_*.png"))[-2:] == [
        "step_00000006.png", "step_00000008.png"]  # sampled every 3 steps (6) and at the end (8)


RESUME_REFUSALS = [
    (["--latent-dim", "16"], "--latent-dim cannot change when resuming (the run has 8, not 16): "
                             "the checkpoint's weights are built for it"),
    (["--model", "vae"], "--model cannot change when resuming (the run has 'ae', not 'vae')"),
    (["--resolution", "64"], "--resolution cannot change when resuming"),
    (["--batch-size", "32"], "--batch-size cannot change when resuming"),
    (["--data", "."], "--data cannot change when resuming"),
    (["--out", "elsewhere"], "--out is for a new run"),
]


@pytest.mark.parametrize("args, message", RESUME_REFUSALS, ids=[a[0] for a, _ in RESUME_REFUSALS])
def test_resume_refuses_what_may_not_change_in_one_line(args, message, run_copy, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = {name: (run_copy / name).read_bytes() for name in ("config.json", "metrics.jsonl", "train_state.pt")}
    status, lines = _run(["train", "--resume", str(run_copy), *args], capsys)
    assert status == 2 and len(lines) == 1 and message in lines[0], lines
    assert before == {name: (run_copy / name).read_bytes() for name in before}  # nothing touched


def test_a_resume_with_no_step_left_says_which_option_to_raise(run_copy, capsys):
    before = {name: (run_copy / name).read_bytes() for name in ("config.json", "metrics.jsonl", "train_state.pt")}
    status, lines = _run(["train", "--resume", str(run_copy), "--max-steps", "3"], capsys)
    assert status == 2 and lines[0].startswith("data: ")  # the faces are loaded first: they set the epoch length
    assert lines[1:] == ["waifu-studio train: error: this run has already trained 4 steps (1 epochs of 4 steps); "
                         "to train it longer, set --epochs to 2 or more (it is 1) and raise --max-steps above 4 "
                         "or set it to 0, no limit (it is 3)"]
    assert before == {name: (run_copy / name).read_bytes() for name in before}  # config.json not rewritten


def test_options_that_keep_their_value_are_not_changes(run_copy, capsys):
    assert main(["train", "--resume", str(run_copy), "--model", "ae", "--latent-dim", "8", "--epochs", "2",
                 "--max-steps", "6"]) == 0
    assert "at step 6" in capsys.readouterr().out


def _set(section, key, value):
    def edit(document):
        document[section][key] = value
        return json.dumps(document)
    return edit


def _deep(text):
    return text.replace('"family": "ae"', '"family": ' + "[" * 100_000 + "]" * 100_000)


DAMAGED_CONFIGS = [
    (_set("train", "batch_size", 2.5), "train.batch_size: expected a whole number, got 2.5"),
    (_set("train", "lr", "1e-3"), "train.lr: expected a number, got '1e-3'"),
    (_set("model", "width", "0x40"), "model.width: expected a whole number, got '0x40'"),
    (_set("model", "latent_dim", 4096), "model.latent_dim: expected a number <= 1024"),
    (_set("model", "family", "gan"), "model.family: expected one of"),
    (_set("train", "hflip", "no"), "train.hflip: expected true or false, got 'no'"),
    (_set("train", "sample_count", 1_000_000_000), "train.sample_count: expected a number <= 256"),
    (_set("train", "step", -100), "unknown setting(s) train.step"),
    (lambda d: json.dumps(d).replace('"lr": 0.001', '"lr": NaN'), "train.lr: expected a finite number, got nan"),
    (lambda d: json.dumps(d).replace('"lr": 0.001', '"lr": 1e400'), "train.lr: expected a finite number, got inf"),
    (lambda d: _deep(json.dumps(d)), "is damaged: nested too deeply"),
    (lambda d: json.dumps([d]), "a run config must be a JSON object"),
    (lambda d: json.dumps(d)[:-5], "is damaged"),
]


@pytest.mark.parametrize("damage, reason", DAMAGED_CONFIGS, ids=[r[:28] for _, r in DAMAGED_CONFIGS])
def test_a_damaged_config_json_cannot_resume_in_one_line(damage, reason, run_copy, capsys):
    (run_copy / "config.json").write_text(damage(_config(run_copy)))
    status, lines = _run(["train", "--resume", str(run_copy), "--epochs", "3"], capsys)
    assert status == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"waifu-studio train: error: cannot resume {run_copy}: ") and reason in lines[0], lines


@pytest.mark.parametrize("decl", [d for d in cli_settings() if d.resume != FIXED],
                         ids=[d.name for d in cli_settings() if d.resume != FIXED])
def test_every_resumable_option_parses_on_resume(decl, tmp_path, monkeypatch):
    """Each option a resume may change reaches the resumed config (parsing only; the run above trains)."""
    from waifu_studio.cli import build_parser
    from waifu_studio.cli.train import given_settings

    value = sample_value(decl, family_using(decl))
    if decl.kind is bool:
        flag_args = [decl.cli_flag if value else "--no-" + decl.cli_flag[2:]]
    elif decl.kind is tuple:
        flag_args = [decl.cli_flag, *map(str, value)]
    else:
        flag_args = [decl.cli_flag, str(value)]
    args = build_parser().parse_args(["train", "--resume", "RUN", *flag_args])
    assert given_settings(args) == {decl.name: value}
