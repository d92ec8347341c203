"""Faults during training in the app: out of memory mid-run shows an actionable error, keeps the
app usable and the run's last checkpoint intact."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import Qt

from tests.ui.helpers import setup_tiny_training
from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.models.dcgan import DCGANObjective
from waifu_studio.core.training import CHECKPOINT_NAME, read_metrics
from waifu_studio.ui.main_window import MainWindow

OOM_AT_STEP = 6  # 64 faces / batch 16: epoch-end checkpoints at steps 4, 8...


@pytest.fixture
def window(qtbot, session, tmp_path):
    win = MainWindow(session, load_default=False)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    train = setup_tiny_training(qtbot, win, ema_decay=0.0)
    train.run_dir_edit.setText(str(tmp_path / "run"))
    yield win
    win.shutdown()
    win.close()


def test_out_of_memory_mid_run_suggests_a_smaller_batch_and_keeps_the_checkpoint(qtbot, window, tmp_path,
                                                                                   monkeypatch):
    original = DCGANObjective.train_step

    def runs_out_of_memory(self, real, step, autocast):
        if step >= OOM_AT_STEP:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(self, real, step, autocast)

    monkeypatch.setattr(DCGANObjective, "train_step", runs_out_of_memory)
    train = window.panels["Train"]
    with qtbot.waitSignals([window.session.error_raised, train.training_finished], timeout=60_000):
        qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)

    title, message = window.last_error
    assert "smaller batch" in message and "16" in message, message
    # The app is still alive and usable: the panel is idle and the dialog does not block.
    assert window.isVisible() and not train.is_training() and train.start_button.isEnabled()
    # The last checkpoint (epoch end at step 4) is intact, and the app opens it.
    checkpoint = tmp_path / "run" / CHECKPOINT_NAME
    model = load_checkpoint(checkpoint)
    assert model.checkpoint_info.training["steps"] == 4
    assert [r["step"] for r in read_metrics(tmp_path / "run")][-1] == OOM_AT_STEP
    with qtbot.waitSignal(window.session.model_changed, timeout=10_000):
        window.model_selector.open_path(checkpoint)
    assert window.session.model.family == "dcgan"


class _RunsACommand:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_opening_checkpoints_from_strangers_shows_a_dialog_and_keeps_the_model(qtbot, session, tmp_path,
                                                                               tiny_checkpoint):
    import json
    import struct

    from PySide6.QtWidgets import QMessageBox

    win = MainWindow(session, load_default=False)
    qtbot.addWidget(win)
    win.show()
    good = tiny_checkpoint("dcgan")
    with qtbot.waitSignal(session.model_changed, timeout=10_000):
        win.model_selector.open_path(good)
    previous = session.model

    raw = good.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])

    def with_meta(**changes) -> bytes:
        h = json.loads(json.dumps(header))
        h["__metadata__"].update(changes)
        body = json.dumps(h).encode()
        return struct.pack("<Q", len(body)) + body + raw[8 + n:]

    marker = tmp_path / "pwned"
    strangers = {
        "pickle.safetensors": None,  # torch.save archive whose unpickling runs a command
        "newer.safetensors": with_meta(format_version="99"),
        "diffusion.safetensors": with_meta(family="diffusion"),
        "huge_header.safetensors": struct.pack("<Q", 2**62) + b"{}",
    }
    expected = {"pickle.safetensors": "pickle", "newer.safetensors": "newer",
                "diffusion.safetensors": "unknown model family", "huge_header.safetensors": "header length"}
    for name, content in strangers.items():
        path = tmp_path / name
        if content is None:
            torch.save({"hook": _RunsACommand(str(marker))}, path)
        else:
            path.write_bytes(content)
        win.last_error = None
        with qtbot.waitSignal(session.error_raised, timeout=10_000):
            win.model_selector.open_path(path)
        title, message = win.last_error
        assert title == "Cannot open checkpoint" and expected[name] in message, (name, message)
        assert session.model is previous
        assert any(w.isVisible() for w in win.findChildren(QMessageBox))
    assert not marker.exists(), "opening a checkpoint ran code"
    win.shutdown()
    win.close()
