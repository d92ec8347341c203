"""Hostile inputs through the app: a one-line dialog, the window alive, no thread left hanging.

The inputs come from the same generators as tests/core/test_hostile_inputs.py; a FIFO among them
would block a worker forever if it were opened, which the conftest's thread check then reports.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt

from tests.core.hostile_files import CHECKPOINT_KINDS
from tests.core.hostile_runs import RUN_FOLDER_KINDS
from tests.ui.helpers import setup_tiny_training
from waifu_studio.core.config import ModelConfig
from waifu_studio.core.io.checkpoint import save_checkpoint
from waifu_studio.core.models import build_model

ROOT = Path(__file__).resolve().parents[2]


def _kind(kinds, name):
    return next(k for k in kinds if k.name == name)


@pytest.mark.parametrize("name", ["fifo", "header_nested_200k_deep", "config_huge_vae_small_file",
                                  "dtype_f32_relabelled_i32", "sparse_2gb"])
def test_a_hostile_checkpoint_opened_in_the_app_gives_a_dialog(qtbot, window, tmp_path, name):
    torch.manual_seed(0)
    good = tmp_path / "good.safetensors"
    save_checkpoint(build_model(ModelConfig(family="ae", resolution=32, latent_dim=16, width=8)), good)
    path = tmp_path / f"{name}.safetensors"
    _kind(CHECKPOINT_KINDS, name).make(path, good)
    with qtbot.waitSignal(window.session.error_raised, timeout=60_000):
        window.model_selector.open_path(path)
    _title, message = window.last_error
    assert path.name in message and "\n" not in message and "Traceback" not in message, message
    assert window.isVisible() and window.session.model is None
    # Still usable: the good checkpoint opens right after.
    with qtbot.waitSignal(window.session.model_changed, timeout=60_000):
        window.model_selector.open_path(good)
    assert window.session.model.family == "ae"


def test_training_into_a_folder_another_process_writes_gives_a_dialog(qtbot, window, tmp_path):
    run = tmp_path / "run"
    # Another process holds the run folder (its lock only: it could be a CLI run about to write).
    with subprocess.Popen(
            [sys.executable, "-c", "import sys; from waifu_studio.core.training.run_lock import RunFolderLock; "
             "lock = RunFolderLock(sys.argv[1]).acquire(create=True); print('locked', flush=True); sys.stdin.read()",
             str(run)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as holder:  # exits on stdin EOF
        assert holder.stdout.readline().strip() == b"locked"
        train = setup_tiny_training(qtbot, window)
        train.run_dir_edit.setText(str(run))
        with qtbot.waitSignals([window.session.error_raised, train.training_finished], timeout=60_000):
            qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
        assert window.last_error[1] == f"run folder {run} is in use by process {holder.pid}"
        assert not train.is_training() and train.start_button.isEnabled()
        assert not (run / "config.json").exists()  # the other process's folder is untouched


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    from waifu_studio.cli import main

    run = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "--model", "ae", "--data", "builtin", "--out", str(run), "--max-steps", "4",
                 "--batch-size", "16", "--resolution", "32", "--width", "8", "--latent-dim", "16",
                 "--builtin-count", "64", "--log-every", "1", "--device", "cpu", "--precision", "fp32"]) == 0
    return run


@pytest.mark.parametrize("name", ["state_runs_code", "state_step_negative", "state_fifo", "config_nested_100k_deep",
                                  "metrics_step_text", "state_inflates_to_1gib"])
def test_resuming_a_tampered_run_in_the_app_gives_a_dialog(qtbot, window, trained_run, tmp_path, name):
    run = tmp_path / name
    shutil.copytree(trained_run, run)
    _kind(RUN_FOLDER_KINDS, name).make(run)
    train = window.panels["Train"]
    window.show_tab("Train")
    with qtbot.waitSignals([window.session.error_raised, train.training_finished], timeout=120_000):
        train.resume_run(run, max_steps=6)
    _title, message = window.last_error
    assert "\n" not in message and "Traceback" not in message and str(run) in message, message
    assert not train.is_training() and train.start_button.isEnabled() and window.isVisible()
