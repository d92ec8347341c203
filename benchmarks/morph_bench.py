"""Row 3: morph drag latency, input to painted preview, the real MorphPanel against a naive widget.

A drag is simulated as a mouse moving the handle at a steady speed: one input every
``INPUT_MS`` across the strip and back. Inputs arrive on schedule whether or not the GUI is busy
(like real mouse events); when the GUI gets to them, it applies the newest (Qt compresses mouse
moves the same way). Latency = time the preview label was painted - scheduled time of the input
it shows. The baseline decodes synchronously on the GUI thread in ``valueChanged``.

Run as a script (fresh process, offscreen Qt); prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

INPUT_MS = 8
SWEEP_S = 2.0


def _drive(app, slider, painted_log: list, value_at_paint, sweeps: int) -> dict:
    """Move ``slider`` along a scheduled path; returns latency stats from ``painted_log``."""
    from PySide6.QtCore import QTimer

    n_inputs = int(SWEEP_S * 1000 / INPUT_MS)
    path = [round(1000 * (i / (n_inputs - 1))) for i in range(n_inputs)]
    path = (path + path[::-1]) * sweeps
    scheduled: dict[int, float] = {}  # slider value -> scheduled time of its newest input
    t0 = time.perf_counter()
    state = {"i": 0}

    def tick() -> None:
        due = min(len(path) - 1, int((time.perf_counter() - t0) * 1000 / INPUT_MS))
        if due >= state["i"]:
            for j in range(state["i"], due + 1):
                scheduled[path[j]] = t0 + j * INPUT_MS / 1000
            state["i"] = due + 1
            slider.setValue(path[due])

    timer = QTimer()
    timer.setInterval(2)
    timer.timeout.connect(tick)
    painted_log.clear()
    timer.start()
    end = t0 + len(path) * INPUT_MS / 1000 + 1.0
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.0005)
    timer.stop()
    latencies = []
    for t_paint, value in painted_log:
        if value in scheduled and scheduled[value] <= t_paint:
            latencies.append(t_paint - scheduled[value])
    latencies.sort()
    duration = len(path) * INPUT_MS / 1000
    nan = float("nan")
    p95_index = min(len(latencies) - 1, int(0.95 * len(latencies)))
    return {"median_ms": 1000 * latencies[len(latencies) // 2] if latencies else nan,
            "p95_ms": 1000 * latencies[p95_index] if latencies else nan,
            "frames_painted": len(latencies), "fps": len(latencies) / duration, "inputs": len(path)}


def main() -> None:
    from PySide6.QtCore import QEvent, QObject, QSettings, Qt
    from PySide6.QtWidgets import QApplication, QSlider, QVBoxLayout, QWidget

    from waifu_studio.core.explore.latent import interpolate
    from waifu_studio.core.io.checkpoint import load_checkpoint
    from waifu_studio.ui.session import Session
    from waifu_studio.ui.widgets.face_tile import FaceLabel
    from waifu_studio.ui.widgets.morph import PREVIEW_PX, MorphPanel

    family, settings_path = sys.argv[1], sys.argv[2]
    sweeps = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    app = QApplication([])
    model = load_checkpoint(f"checkpoints/{family}.safetensors")
    session = Session(QSettings(settings_path, QSettings.Format.IniFormat))
    panel = MorphPanel(session)
    panel.resize(1100, 700)
    panel.show()
    session.set_model(model)
    deadline = time.perf_counter() + 60
    while (session.endpoint_b is None or session.endpoint_a is None or not len(panel.strip_faces())) \
            and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.005)

    class PaintProbe(QObject):
        """Logs (time, slider value) at the first paint of the preview after each new face."""

        def __init__(self, target, value_fn) -> None:
            super().__init__()
            self.pending: int | None = None
            self.log: list = []
            self.value_fn = value_fn
            target.installEventFilter(self)

        def arm(self) -> None:
            self.pending = self.value_fn()

        def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
            if event.type() == QEvent.Type.Paint and self.pending is not None:
                self.log.append((time.perf_counter(), self.pending))
                self.pending = None
            return False

    def shown_value() -> int:
        return round(float(panel.preview_caption.text().split()[2]) * 1000)

    probe = PaintProbe(panel.preview, shown_value)
    panel.preview_rendered.connect(probe.arm)
    project = _drive(app, panel.slider, probe.log, shown_value, sweeps)

    # Baseline: the same decode, synchronously in valueChanged on the GUI thread.
    a, b = session.endpoint_a.latent, session.endpoint_b.latent
    naive = QWidget()
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, 1000)
    label = FaceLabel(PREVIEW_PX, naive)
    layout = QVBoxLayout(naive)
    layout.addWidget(label)
    layout.addWidget(slider)
    naive.resize(1100, 700)
    naive.show()
    naive_probe = PaintProbe(label, slider.value)

    def on_value(value: int) -> None:
        label.set_face(model.decode(interpolate(a, b, value / 1000))[0])
        naive_probe.arm()

    slider.valueChanged.connect(on_value)
    baseline = _drive(app, slider, naive_probe.log, slider.value, sweeps)
    panel.shutdown()
    print(json.dumps({"project": project, "baseline": baseline}))


if __name__ == "__main__":
    main()


def run(ctx):  # noqa: ANN001, ANN201 - Context -> list[Row]
    import tempfile

    from .common import CHECKPOINTS, Row, run_script, yes_no

    rows = []
    for family in ("dcgan", "ae"):
        if not (CHECKPOINTS / f"{family}.safetensors").exists():
            rows.append(Row(f"morph drag {family}", "skipped", met="skip", note="checkpoint missing"))
            continue
        with tempfile.TemporaryDirectory() as tmp:
            r = run_script("morph_bench", [family, f"{tmp}/settings.ini", "1" if ctx.quick else "3"])
        p, b = r["project"], r["baseline"]
        ok_med, ok_p95 = p["median_ms"] <= 16, p["p95_ms"] <= 33
        rows.append(Row(f"morph drag {family}: input->paint median", f"{p['median_ms']:.1f} ms",
                        f"{b['median_ms']:.1f} ms", f"{b['median_ms'] / p['median_ms']:.2f}x", "<= 16 ms",
                        yes_no(ok_med), note=f"{p['fps']:.0f} vs {b['fps']:.0f} frames/s painted", data=r))
        rows.append(Row(f"morph drag {family}: input->paint p95", f"{p['p95_ms']:.1f} ms", f"{b['p95_ms']:.1f} ms",
                        f"{b['p95_ms'] / p['p95_ms']:.2f}x", "<= 33 ms", yes_no(ok_p95),
                        note=f"{p['inputs']} inputs every {INPUT_MS} ms"))
    return rows
