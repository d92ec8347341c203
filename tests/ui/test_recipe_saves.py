"""Files the app writes equal the CLI's, byte for byte, on the app's real display path (bf16 where the
CPU has it natively, and forced bf16 so every CPU runs it); "Copy as command" writes the same file."""

from __future__ import annotations

import shlex

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from waifu_studio.cli import main as cli_main
from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.io.recipe import read_recipe
from waifu_studio.ui.widgets.generator import GeneratorPanel


def _run_command(command: str, cwd, monkeypatch) -> None:
    argv = shlex.split(command)
    assert argv[0] == "waifu-studio"
    monkeypatch.chdir(cwd)
    assert cli_main(argv[1:]) == 0


@pytest.fixture(params=["auto", "bf16"])
def generator(request, force_cpu_bf16, qtbot, session, tiny_checkpoint):
    """The Generate panel decoding for display as the app does ("auto") or in forced bf16."""
    if request.param == "bf16":
        force_cpu_bf16(True)
    path = tiny_checkpoint("dcgan")
    model = load_checkpoint(path)
    panel = GeneratorPanel(session)
    qtbot.addWidget(panel)
    panel.resize(900, 700)
    panel.show()
    with qtbot.waitSignal(panel.rendered, timeout=5000):
        session.set_model(model, path)
    yield panel, path, model, request.param
    panel.close()


def _show_grid(qtbot, panel, seed: int, side: int, truncation: int = 100) -> None:
    line = panel.seed_box.lineEdit()
    line.selectAll()
    qtbot.keyClicks(line, str(seed))
    qtbot.keyClick(line, Qt.Key.Key_Return)
    panel.grid_box.setCurrentIndex(panel.grid_box.findData(side))
    panel.truncation_slider.setValue(truncation)
    first = seed
    qtbot.waitUntil(lambda: panel.shown_seeds() == list(range(first, first + side * side))
                    and panel._shown.truncation == truncation / 100, timeout=5000)


def test_a_grid_saved_from_the_app_equals_the_cli_file_byte_for_byte(generator, qtbot, tmp_path):
    panel, path, model, display = generator
    _show_grid(qtbot, panel, 21, 3, truncation=80)
    qtbot.mouseClick(panel.labels_check, Qt.MouseButton.LeftButton)
    app_file = tmp_path / "app.png"
    task = panel.export_png(app_file)
    qtbot.waitUntil(lambda: not task.is_running(), timeout=10000)
    cli_file = tmp_path / "cli.png"
    assert cli_main(["generate", "--checkpoint", str(path), "--seed", "21", "--n", "9", "--truncation", "0.8",
                     "--labels", "--out", str(cli_file)]) == 0
    assert app_file.read_bytes() == cli_file.read_bytes()
    if display == "bf16":
        # The screen really showed bf16 faces (8-bit mantissas round some of 9 random-weight faces'
        # pixels differently from fp32), and the file still equals the fp32 CLI file.
        exact = model.decode_exact(model.seeds_to_latents(range(21, 30), 0.8))
        assert not np.array_equal(panel.current_faces(), exact)


def test_copy_as_command_writes_the_same_grid(generator, qtbot, tmp_path, monkeypatch):
    panel, path, _, _ = generator
    _show_grid(qtbot, panel, 7, 2)
    app_file = tmp_path / "app.png"
    task = panel.export_png(app_file)
    qtbot.waitUntil(lambda: not task.is_running(), timeout=10000)
    qtbot.mouseClick(panel.command_button, Qt.MouseButton.LeftButton)
    command = QApplication.clipboard().text()
    assert command.startswith("waifu-studio generate") and "--seed 7 --n 4" in command
    _run_command(command, tmp_path, monkeypatch)
    assert (tmp_path / "seeds_7.png").read_bytes() == app_file.read_bytes()
    assert read_recipe(app_file)["faces"]["seeds"] == [7, 8, 9, 10]


def test_morph_strip_and_gif_from_the_app_equal_the_cli_and_the_copied_command(qtbot, session, tiny_checkpoint,
                                                                               tmp_path, monkeypatch):
    from waifu_studio.ui.widgets.morph import MorphPanel

    path = tiny_checkpoint("ae")
    panel = MorphPanel(session)
    qtbot.addWidget(panel)
    panel.show()
    session.set_model(load_checkpoint(path), path)
    panel.wells["A"].seed_box.setValue(3)
    panel.set_endpoint_from_seed("A", 3)
    panel.set_endpoint_from_seed("B", 11)
    qtbot.waitUntil(lambda: session.endpoint_a is not None and session.endpoint_a.seed == 3
                    and session.endpoint_b is not None and session.endpoint_b.seed == 11, timeout=5000)
    panel.frames_box.setValue(6)
    qtbot.mouseClick(panel.slerp_box, Qt.MouseButton.LeftButton)
    for suffix in (".png", ".gif"):
        app_file = tmp_path / f"app{suffix}"
        task = panel.export_png(app_file) if suffix == ".png" else panel.export_gif(app_file)
        qtbot.waitUntil(lambda t=task: not t.is_running(), timeout=10000)
        cli_file = tmp_path / f"cli{suffix}"
        scale = str(128 // 32)
        extra = ["--duration", "90"] if suffix == ".gif" else []
        assert cli_main(["morph", "--checkpoint", str(path), "--from", "3", "--to", "11", "--steps", "6", "--slerp",
                         "--scale", scale, *extra, "--out", str(cli_file)]) == 0
        assert app_file.read_bytes() == cli_file.read_bytes()
        command = panel.copy_command(gif=suffix == ".gif")
        assert command == QApplication.clipboard().text() and command.startswith("waifu-studio morph")
        _run_command(command, tmp_path, monkeypatch)
        assert (tmp_path / f"morph{suffix}").read_bytes() == app_file.read_bytes()
    panel.close()


def test_an_edited_face_saved_from_directions_reproduces_with_its_offsets(qtbot, session, tiny_checkpoint, tmp_path,
                                                                          monkeypatch):
    from waifu_studio.ui.widgets.directions import SLIDER_STEPS, DirectionsPanel

    path = tiny_checkpoint("dcgan")
    panel = DirectionsPanel(session)
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    with qtbot.waitSignal(panel.axes_ready, timeout=10000):
        session.set_model(load_checkpoint(path), path)
    panel.pc_sliders[0].setValue(2 * SLIDER_STEPS)
    panel.dim_box.setValue(4)
    panel.dim_slider.setValue(-SLIDER_STEPS)
    qtbot.waitUntil(lambda: panel.jobs.is_idle() and panel.current_face() is not None, timeout=5000)
    app_file = tmp_path / "edited.png"
    task = panel.export_png(app_file)
    qtbot.waitUntil(lambda: not task.is_running(), timeout=10000)
    recipe = read_recipe(app_file)
    assert recipe["edit"]["offsets"] == [{"axis": "PC 1", "std": 2.0}, {"axis": "dimension 4", "std": -1.0}]
    assert read_recipe(tmp_path / "edited_sweep.png")["layout"]["labels"][0] == "-3"
    qtbot.mouseClick(panel.command_button, Qt.MouseButton.LeftButton)
    command = QApplication.clipboard().text()
    assert command.startswith("waifu-studio reproduce --recipe")
    _run_command(command, tmp_path, monkeypatch)
    assert (tmp_path / "edited_face.png").read_bytes() == app_file.read_bytes()
    panel.close()
