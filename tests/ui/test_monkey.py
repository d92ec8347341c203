"""A GUI monkey: thousands of random user actions on the real main window, with a fixed seed.

Nothing a user can do in any order may raise, open an error dialog, leak memory or leave a
thread running after the window closes.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from tests.ui.helpers import running_threads, setup_tiny_training
from waifu_studio.core.training import CHECKPOINT_NAME
from waifu_studio.ui.main_window import MainWindow

MONKEY_SEED = 20240611
ACTIONS = 2000
WARMUP = 200
TRAIN_RUNS = ((60, 140), (1200, 1280))  # (start action, stop action): twice, briefly
# Resident growth allowed after warm-up. It catches any leak of 56 KB or more per action over
# the 1,800 actions after warm-up (a decoded 4x4 grid is 192 KB, its pixmap more), and leaves
# about 4x the growth measured without a leak (26 MB: caches, allocator pools, Qt's glyphs).
MAX_RSS_GROWTH_MB = 100
TAB_TITLES = ("Generate", "Morph", "Latent map", "Directions", "Reconstructions", "Train")


def rss_mb() -> float:
    """Resident memory after a garbage collection and returning freed heap pages to the OS.

    Without the trim, memory the allocator keeps cached for reuse (not leaked) counts as growth.
    """
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: measure as is
        pass
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


class Monkey:
    """Random actions on one window; each returns quickly and never waits on a worker."""

    def __init__(self, qtbot, win: MainWindow, rng: random.Random, checkpoints: list[Path], out: Path) -> None:
        self.qtbot, self.win, self.rng, self.checkpoints, self.out = qtbot, win, rng, checkpoints, out
        self.gen = win.generator
        self.morph = win.panels["Morph"]
        self.map = win.panels["Latent map"]
        self.train = win.panels["Train"]
        self.exports: list = []
        self.counts: dict[str, int] = {}
        self.actions = [  # (weight, action)
            (12, self.type_seed), (10, self.set_seed), (10, self.seed_keys), (5, self.grid_size),
            (8, self.truncation), (10, self.click_face), (12, self.morph_slider), (4, self.drag_morph_slider),
            (4, self.frame_count), (3, self.slerp), (3, self.well_seed), (1, self.compute_map),
            (8, self.click_map_point), (1, self.switch_model), (6, self.switch_tab), (2, self.export),
        ]

    def step(self) -> None:
        weights, actions = zip(*self.actions, strict=True)
        action = self.rng.choices(actions, weights)[0]
        self.counts[action.__name__] = self.counts.get(action.__name__, 0) + 1
        action()

    # ---------------------------------------------------------------- generator
    def type_seed(self) -> None:
        box = self.gen.seed_box
        box.lineEdit().selectAll()
        self.qtbot.keyClicks(box.lineEdit(), str(self.rng.randint(0, 99_999)))
        self.qtbot.keyClick(box, Qt.Key.Key_Return)

    def set_seed(self) -> None:
        self.gen.seed_box.setValue(self.rng.randint(0, self.gen.seed_box.maximum()))

    def seed_keys(self) -> None:
        key = self.rng.choice([Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown])
        self.qtbot.keyClick(self.gen.seed_box, key)

    def grid_size(self) -> None:
        self.gen.grid_box.setCurrentIndex(self.rng.randrange(self.gen.grid_box.count()))

    def truncation(self) -> None:
        self.gen.truncation_slider.setValue(self.rng.randint(0, 150))

    def click_face(self) -> None:
        n = self.gen.grid.count()
        which = self.rng.choice("AB")
        if n == 0:
            return
        index = self.rng.randrange(n)
        if self.win.current_panel() is self.gen and self.rng.random() < 0.7:
            modifier = Qt.KeyboardModifier.ShiftModifier if which == "B" else Qt.KeyboardModifier.NoModifier
            self.qtbot.mouseClick(self.gen.face_widget(), Qt.MouseButton.LeftButton, modifier,
                                  self.gen.tile_center(index))
        else:
            self.gen.set_endpoint(which, index)

    # -------------------------------------------------------------------- morph
    def morph_slider(self) -> None:
        self.morph.slider.setValue(self.rng.randint(0, self.morph.slider.maximum()))

    def drag_morph_slider(self) -> None:
        self.win.show_tab("Morph")
        slider = self.morph.slider
        if not slider.isEnabled() or slider.width() < 20:
            return
        y = slider.height() // 2
        handle = QPoint(round(slider.width() * self.morph.position()), y)
        self.qtbot.mousePress(slider, Qt.MouseButton.LeftButton, pos=handle)
        for _ in range(self.rng.randint(2, 6)):
            self.qtbot.mouseMove(slider, QPoint(self.rng.randint(0, slider.width() - 1), y))
            QApplication.processEvents()
        end = QPoint(self.rng.randint(0, slider.width() - 1), y)
        self.qtbot.mouseRelease(slider, Qt.MouseButton.LeftButton, pos=end)

    def frame_count(self) -> None:
        self.morph.frames_box.setValue(self.rng.randint(3, 32))

    def slerp(self) -> None:
        self.morph.slerp_box.toggle()

    def well_seed(self) -> None:
        well = self.morph.wells[self.rng.choice("AB")]
        well.seed_box.setValue(self.rng.randint(0, 1000))
        if well.use_seed.isEnabled():
            well.use_seed.click()

    # --------------------------------------------------------------- latent map
    def compute_map(self) -> None:
        self.map.compute("prior", n=self.rng.choice([100, 200]), method="pca")

    def click_map_point(self) -> None:
        source, layout = self.map.source, self.map.layout()
        if source is None or len(layout) != len(source.latents) or not len(layout):
            return
        self.map.click_point(self.rng.randrange(len(layout)))
        if self.rng.random() < 0.2 and self.map.set_a_button.isEnabled():
            self.map.set_selection_as(self.rng.choice("AB"))

    # ---------------------------------------------------------------- app-wide
    def switch_model(self) -> None:
        self.win.model_selector.open_path(self.rng.choice(self.checkpoints))

    def switch_tab(self) -> None:
        if self.rng.random() < 0.3:
            self.qtbot.keyClick(self.win, Qt.Key(Qt.Key.Key_1.value + self.rng.randrange(len(TAB_TITLES))),
                                Qt.KeyboardModifier.ControlModifier)
        else:
            self.win.show_tab(self.rng.choice(TAB_TITLES))

    def export(self) -> None:
        path = self.out / f"export_{len(self.exports)}.png"
        choice = self.rng.choice(["generator", "morph", "map"])
        if choice == "generator" and self.gen.shown_seeds():
            self.exports.append(self.gen.export_png(path))
        elif choice == "morph" and len(self.morph.strip_faces()):
            self.exports.append(self.morph.export_png(path))
        elif choice == "map" and self.map.source is not None:
            self.exports.append(self.map.export_png(path))


@pytest.mark.timeout(120)
@pytest.mark.slow  # 2,000 actions on the real window, two training runs
def test_monkey_thousands_of_random_actions(qtbot, session, tiny_checkpoint, tmp_path, started_threads):
    checkpoints = [tiny_checkpoint("dcgan"), tiny_checkpoint("ae")]  # both latent 16: endpoints survive switches
    win = MainWindow(session, load_default=False)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    setup_tiny_training(qtbot, win, sample_every=4)
    win.show_tab("Generate")
    with qtbot.waitSignal(session.model_changed, timeout=10_000):
        win.model_selector.open_path(checkpoints[0])
    out = tmp_path / "exports"
    out.mkdir()
    monkey = Monkey(qtbot, win, random.Random(MONKEY_SEED), checkpoints, out)
    train = monkey.train
    starts = {start: i for i, (start, _) in enumerate(TRAIN_RUNS)}
    stops = {stop for _, stop in TRAIN_RUNS}
    run_dirs = []
    rss_after_warmup = None

    with qtbot.captureExceptions() as exceptions:
        for i in range(ACTIONS):
            if i in starts:
                run_dirs.append(tmp_path / f"run{starts[i]}")
                train.run_dir_edit.setText(str(run_dirs[-1]))
                qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
                assert train.is_training()
            elif i in stops:
                with qtbot.waitSignal(train.training_finished, timeout=30_000):
                    qtbot.mouseClick(train.stop_button, Qt.MouseButton.LeftButton)
            else:
                monkey.step()
            QApplication.processEvents()
            assert not exceptions, f"action {i}: {exceptions}"
            assert win.last_error is None, f"action {i}: {win.last_error}"
            if i == WARMUP:
                rss_after_warmup = rss_mb()

        # Let everything in flight land before the final checks.
        qtbot.waitUntil(lambda: not win.model_selector.is_loading() and monkey.gen.jobs.is_idle(), timeout=10_000)
        for task in [t for t in monkey.exports if hasattr(t, "is_running")]:
            qtbot.waitUntil(lambda t=task: not t.is_running(), timeout=10_000)
        QApplication.processEvents()
        rss_end = rss_mb()
        assert win.close()

    assert not exceptions, exceptions
    assert win.last_error is None, win.last_error
    assert not running_threads(started_threads)
    assert sum(monkey.counts.values()) >= ACTIONS - 2 * len(TRAIN_RUNS)
    assert all(monkey.counts.get(a.__name__, 0) > 0 for _, a in monkey.actions), monkey.counts
    for run in run_dirs:
        assert (run / CHECKPOINT_NAME).exists()
    assert all(Path(p).exists() for p in monkey.out.iterdir())
    assert any(monkey.out.iterdir())
    growth = rss_end - rss_after_warmup
    assert growth < MAX_RSS_GROWTH_MB, f"RSS grew {growth:.0f} MB after warm-up"
