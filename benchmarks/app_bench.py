"""Rows 6 and 7 (app part): start-up to first painted faces, and idle memory with all checkpoints.

Script modes (fresh offscreen processes):
  start T0     create MainWindow (loads the default bundled model), print seconds from T0 (the
               parent's time.time() just before spawning) to the first paint of the generator's
               faces after they arrived; also to the window's first paint
  bare T0      the floor: a bare QMainWindow with a label, first paint
  idle         MainWindow with all four bundled checkpoints loaded, idle 2 s, peak RSS
  idle-bare    python + torch + PySide6 imported and a QApplication, no models: the floor
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _rss_mb() -> float:
    from benchmarks.common import peak_rss_mb

    return peak_rss_mb()


def _face_grid(panel):  # noqa: ANN001, ANN202 - the generator's FaceGrid widget (where faces are painted)
    from waifu_studio.ui.widgets.face_grid import FaceGrid

    grids = panel.findChildren(FaceGrid)
    return grids[0] if grids else panel


def cmd_start(t0: float, bare: bool) -> dict:
    from PySide6.QtCore import QEvent, QObject, QSettings
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    app = QApplication([])
    marks: dict[str, float] = {}

    class Probe(QObject):
        def eventFilter(self, obj, event) -> bool:  # noqa: N802
            if event.type() == QEvent.Type.Paint:
                marks.setdefault("window", time.time())
                if marks.get("faces_set") and "faces" not in marks:
                    marks["faces"] = time.time()
            return False

    probe = Probe()
    if bare:
        window = QMainWindow()
        window.setCentralWidget(QLabel("hello"))
        window.installEventFilter(probe)
        window.centralWidget().installEventFilter(probe)
        window.show()
        while "window" not in marks and time.time() - t0 < 60:
            app.processEvents()
        return {"window_s": marks["window"] - t0}
    from waifu_studio.ui.app import configure_application
    from waifu_studio.ui.main_window import MainWindow
    from waifu_studio.ui.session import Session

    configure_application(app)
    session = Session(QSettings(os.path.join(sys.argv[3], "s.ini"), QSettings.Format.IniFormat))
    window = MainWindow(session)
    window.installEventFilter(probe)
    grid = _face_grid(window.generator)
    grid.installEventFilter(probe)
    window.generator.rendered.connect(lambda: marks.setdefault("faces_set", time.time()))
    window.show()
    while "faces" not in marks and time.time() - t0 < 120:
        app.processEvents()
        time.sleep(0.001)
    window.shutdown() if hasattr(window, "shutdown") else None
    return {"window_s": marks.get("window", float("nan")) - t0, "faces_s": marks.get("faces", float("nan")) - t0}


def cmd_idle(bare: bool, tmp: str) -> dict:
    import torch  # noqa: F401 - the floor includes torch
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    if not bare:
        from waifu_studio.ui.app import configure_application
        from waifu_studio.ui.main_window import MainWindow
        from waifu_studio.ui.session import Session, bundled_checkpoints

        configure_application(app)
        window = MainWindow(Session(QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat)))
        window.show()
        for path in bundled_checkpoints():
            task = window.model_selector.open_path(path, "bundled")
            while task.is_running() or window.model_selector.is_loading():
                app.processEvents()
                time.sleep(0.005)
            end = time.time() + 1.0  # let panels redraw for this model
            while time.time() < end:
                app.processEvents()
                time.sleep(0.005)
    end = time.time() + 2.0
    while time.time() < end:
        app.processEvents()
        time.sleep(0.01)
    rss = _rss_mb()
    if not bare:
        window.shutdown()
    return {"peak_rss_mb": rss}


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode in ("start", "bare"):
        out = cmd_start(float(sys.argv[2]), mode == "bare")
    else:
        out = cmd_idle(mode == "idle-bare", sys.argv[2])
    print(json.dumps(out))
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: only the measurement matters


def run_start(ctx):  # noqa: ANN001, ANN201
    import tempfile

    from .common import Row, median, run_script, yes_no

    reps = 2 if ctx.quick else 5
    faces, window, bare = [], [], []
    for _ in range(reps):
        with tempfile.TemporaryDirectory() as tmp:
            r = run_script("app_bench", ["start", repr(time.time()), tmp])
        faces.append(r["faces_s"])
        window.append(r["window_s"])
        bare.append(run_script("app_bench", ["bare", repr(time.time())])["window_s"])
    f, w, b = median(faces), median(window), median(bare)
    return [Row("app start -> first faces painted", f"{f:.2f} s", f"{b:.2f} s", f"{f / b:.1f}x slower", "<= 2.5 s",
                yes_no(f <= 2.5), note=f"baseline: bare PySide6 window; app window's first paint {w:.2f} s; "
                                      f"median of {reps}", data={"faces": faces, "window": window, "bare": bare})]


def run_idle(ctx):  # noqa: ANN001, ANN201
    import tempfile

    from .common import Row, run_script, yes_no

    with tempfile.TemporaryDirectory() as tmp:
        app = run_script("app_bench", ["idle", tmp])
        floor = run_script("app_bench", ["idle-bare", tmp])
    return [Row("memory: idle app, 4 checkpoints loaded", f"{app['peak_rss_mb']:.0f} MB",
                f"{floor['peak_rss_mb']:.0f} MB", "-", "<= 800 MB", yes_no(app["peak_rss_mb"] <= 800),
                note="peak RSS; baseline: python+torch+Qt, no window", data={"app": app, "floor": floor})]
