"""Morph panel: two endpoint wells, a strip of K in-between faces, and a handle showing any t large.

Every decode runs off the GUI thread: the handle and the strip each have a ``LatestRenderer`` so
a fast drag only ever computes the newest position; endpoint changes (seeds, drops, inversions)
are one-shot tasks where a newer request for the same well makes older results stale.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.data import load_image_file
from ...core.explore.latent import interpolate, invert_image, morph_latents
from ...core.explore.reproduce import endpoint_for, gif_recipe, image_recipe, layout_part, model_ref, morph_part
from ...core.models import FaceModel
from ..session import Session
from ..workers import LatestRenderer, Task, start_task
from .face_tile import FaceLabel
from .morph_strip import StripView
from .morph_wells import EndpointWell
from .recipe_actions import copy_command, save_recipe

PREVIEW_PX = 320
SLIDER_MAX = 1000
INVERT_STEPS = 300
GIF_FRAME_MS = 90


def _encode_file(model: FaceModel, path: str, stop: threading.Event | None = None, progress: Callable | None = None,
                 cancel: threading.Event | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Latent, face and label of an image file: encoded (AE/VAE) or found by inversion (GANs).

    ``stop`` (the well's Cancel) ends an inversion early with the best latent found so far;
    ``cancel`` (the task's: a newer request, a model change, closing) ends it and drops it.
    """
    label = Path(path).name
    image = np.array(load_image_file(path, model.resolution))  # writable: torch warns on read-only arrays
    if model.has_encoder:
        latent = model.encode(image)[0]
        return latent, model.decode(latent)[0], label
    stop = stop or threading.Event()
    done = 0

    def on_step(step: int, steps: int, loss: float) -> None:
        nonlocal done
        done = step
        if cancel is not None and cancel.is_set():
            stop.set()  # invert_image watches one event: a cancelled task ends the loop too
        if progress is not None:
            progress((step, steps))

    latent = invert_image(model, image, steps=INVERT_STEPS, cancel=stop, progress=on_step)
    if stop.is_set() and done < INVERT_STEPS:
        label = f"{label} (stopped at step {done} of {INVERT_STEPS}: best face so far)"
    return latent, model.decode(latent)[0], label


class MorphPanel(QWidget):
    """Morph between session endpoints A and B."""

    preview_rendered = Signal()
    strip_rendered = Signal()
    gif_saved = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._model: FaceModel | None = None
        self._preview_renderer = LatestRenderer(self)
        self._strip_renderer = LatestRenderer(self)
        self._preview_renderer.result.connect(self._on_preview)
        self._strip_renderer.result.connect(self._on_strip)
        self._preview_renderer.error.connect(lambda m: session.report_error("Morph", m))
        self._strip_renderer.error.connect(lambda m: session.report_error("Morph", m))
        self._endpoint_tasks: dict[str, Task] = {}
        self._inversion_stops: dict[str, threading.Event] = {}  # per well: end the inversion, keep its best
        self._endpoint_stamp = {"A": 0, "B": 0}
        self._other_tasks: list[Task] = []
        self._strip_latents = np.zeros((0, 1), np.float32)
        self._build()
        session.model_changed.connect(self._on_model_changed)
        session.endpoints_changed.connect(self._on_endpoints_changed)
        self._on_model_changed(session.model)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.wells = {w: EndpointWell(w, self) for w in ("A", "B")}
        for which, well in self.wells.items():
            well.seed_requested.connect(lambda seed, w=which: self.set_endpoint_from_seed(w, seed))
            well.latent_dropped.connect(lambda latent, label, w=which: self.drop_latent(w, latent, label))
            well.file_dropped.connect(lambda path, w=which: self.drop_image_file(w, path))
            well.cancel_requested.connect(lambda w=which: self.stop_endpoint(w))

        self.preview = FaceLabel(PREVIEW_PX, self, "Choose endpoints A and B")
        self.preview_caption = QLabel("")
        self.preview_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        centre = QVBoxLayout()
        centre.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignHCenter)
        centre.addWidget(self.preview_caption)
        centre.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(self.wells["A"], 0, Qt.AlignmentFlag.AlignTop)
        top.addStretch(1)
        top.addLayout(centre)
        top.addStretch(1)
        top.addWidget(self.wells["B"], 0, Qt.AlignmentFlag.AlignTop)

        self.strip = StripView(self)
        self.strip.frame_clicked.connect(self._jump_to_frame)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_MAX)
        self.slider.setValue(SLIDER_MAX // 2)
        self.slider.setSingleStep(10)
        self.slider.setPageStep(100)
        self.slider.setToolTip("Drag to see any point between A and B")
        self.slider.valueChanged.connect(self._on_slider)

        self.frames_box = QSpinBox()
        self.frames_box.setRange(3, 32)
        self.frames_box.setValue(8)
        self.frames_box.setPrefix("Frames: ")
        self.frames_box.valueChanged.connect(self._request_strip)
        self.slerp_box = QCheckBox("Spherical (slerp)")
        self.slerp_box.setToolTip("Interpolate on the sphere around the latent centre instead of a straight line")
        self.slerp_box.toggled.connect(self._on_mode_changed)
        swap = QPushButton("Swap A/B")
        swap.clicked.connect(self.swap_endpoints)
        self.png_button = QPushButton("Export strip PNG...")
        self.png_button.clicked.connect(self._ask_png)
        self.gif_button = QPushButton("Export GIF...")
        self.gif_button.clicked.connect(self._ask_gif)
        self.command_button = QPushButton("Copy as command")
        self.command_button.setToolTip("Copy the waifu-studio command line that writes this strip")
        self.command_button.clicked.connect(lambda: self.copy_command())
        controls = QHBoxLayout()
        for w in (self.frames_box, self.slerp_box, swap):
            controls.addWidget(w)
        controls.addStretch(1)
        controls.addWidget(self.png_button)
        controls.addWidget(self.gif_button)
        controls.addWidget(self.command_button)

        # The slider sits in a row whose margins line its ends up with the strip's end frames.
        self._slider_row = QHBoxLayout()
        self._slider_row.addWidget(self.slider)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addLayout(top)
        layout.addSpacing(12)
        layout.addWidget(self.strip)
        layout.addLayout(self._slider_row)
        layout.addStretch(1)
        layout.addLayout(controls)

    def resizeEvent(self, event) -> None:  # noqa: ANN001 - QResizeEvent
        super().resizeEvent(event)
        QTimer.singleShot(0, self._align_slider)  # after the layout has resized the strip

    def _align_slider(self) -> None:
        # Line the slider's ends up with the first and last frame centres, so the handle sits
        # above the frame it shows.
        k = len(self.strip.frames())
        if k < 2:
            return
        half = self.strip.tile_size() // 2
        handle = 8  # about half a slider handle: the handle's centre, not its edge, marks t
        left = self.strip.tile_rect(0).left() + half - handle
        right = self.strip.width() - self.strip.tile_rect(k - 1).right() + half - handle
        self._slider_row.setContentsMargins(max(0, left), 0, max(0, right), 0)

    # --------------------------------------------------------------- public
    def preview_face(self) -> np.ndarray | None:
        """Exactly what the large preview shows (model resolution, uint8 HxWx3)."""
        return self.preview.face()

    def strip_faces(self) -> np.ndarray:
        return self.strip.frames()

    def position(self) -> float:
        return self.slider.value() / SLIDER_MAX

    def set_endpoint_from_seed(self, which: str, seed: int) -> None:
        model = self._model
        if model is None:
            return

        def work() -> tuple[np.ndarray, np.ndarray]:
            latent = model.seeds_to_latents([int(seed)])[0]
            return latent, model.decode(latent)[0]

        self._start_endpoint(which, work, f"seed {seed}", seed)

    def drop_latent(self, which: str, latent: np.ndarray, label: str = "dropped face") -> None:
        model = self._model
        if model is None:
            return
        latent = np.asarray(latent, np.float32).reshape(-1)
        if latent.shape[0] != model.latent_dim:
            self.session.report_error("Cannot use this face", f"it has {latent.shape[0]} latent values; "
                                      f"the current model uses {model.latent_dim}")
            return
        self._start_endpoint(which, lambda: (latent, model.decode(latent)[0]), label, None)

    def drop_image_file(self, which: str, path: str | os.PathLike) -> None:
        model = self._model
        if model is None:
            return
        path = os.fspath(path)
        well = self.wells[which]
        well.set_busy(True, "Encoding..." if model.has_encoder else "Inverting %p%")

        def progress(value: tuple[int, int]) -> None:
            well.progress.setValue(round(100 * value[0] / max(1, value[1])))

        stop = threading.Event()
        self._start_endpoint(which, _encode_file, Path(path).name, None, model, path, stop, on_progress=progress)
        if not model.has_encoder:
            self._inversion_stops[which.upper()] = stop

    def stop_endpoint(self, which: str) -> None:
        """The well's Cancel: an inversion ends at its next step and keeps the best face found so far;
        any other endpoint request is dropped."""
        which = which.upper()
        stop, task = self._inversion_stops.pop(which, None), self._endpoint_tasks.get(which)
        if stop is not None and task is not None and task.is_running():
            stop.set()
            self.wells[which].set_stopping()
            return
        self._cancel_endpoint(which)

    def swap_endpoints(self) -> None:
        a, b = self.session.endpoint_a, self.session.endpoint_b
        if a is None or b is None:
            return
        self.session.set_endpoint("A", b.latent, b.face, b.label, b.seed)
        self.session.set_endpoint("B", a.latent, a.face, a.label, a.seed)

    def strip_recipe(self, gif: bool = False) -> dict | None:
        """The recipe of the strip (PNG) or of its ping-pong animation (GIF), frames at least 128 px."""
        a, b, model = self.session.endpoint_a, self.session.endpoint_b, self._model
        if a is None or b is None or model is None:
            return None
        frames = self.frames_box.value()
        scale = max(1, 128 // model.resolution)
        ends = [endpoint_for(model, end.latent, end.seed, end.label) for end in (a, b)]
        faces = morph_part(*ends, np.linspace(0.0, 1.0, frames), spherical=self.slerp_box.isChecked())
        if gif:
            return gif_recipe([model_ref(model)], faces, duration_ms=GIF_FRAME_MS, scale=scale)
        return image_recipe([model_ref(model)], faces, layout_part(frames, scale=scale))

    def export_png(self, path: str | os.PathLike) -> Task | None:
        """The strip as one PNG, rendered from its recipe in a worker."""
        return self._save(self.strip_recipe(), path)

    def export_gif(self, path: str | os.PathLike) -> Task | None:
        """Write the strip as a ping-pong GIF (2K-2 frames) in a worker; emits ``gif_saved``."""
        return self._save(self.strip_recipe(gif=True), path, on_saved=lambda p: self.gif_saved.emit(str(p)))

    def copy_command(self, gif: bool = False) -> str | None:
        """Put the CLI command that writes this strip (or GIF) on the clipboard."""
        recipe = self.strip_recipe(gif)
        if recipe is None:
            return None
        return copy_command(self.session, recipe, [self.session.model_path], "morph.gif" if gif else "morph.png")

    def _save(self, recipe: dict | None, path: str | os.PathLike, on_saved: Callable | None = None) -> Task | None:
        if recipe is None:
            self.session.report_error("Nothing to save", "Choose endpoints A and B first.")
            return None
        task = save_recipe(self, self.session, recipe, [self._model], path, on_saved)
        self._other_tasks = [t for t in self._other_tasks if t.is_running()] + [task]
        return task

    def shutdown(self) -> None:
        for task in list(self._endpoint_tasks.values()) + self._other_tasks:
            task.cancel()
        for task in list(self._endpoint_tasks.values()) + self._other_tasks:
            task.wait()
        self._preview_renderer.shutdown()
        self._strip_renderer.shutdown()

    def closeEvent(self, event) -> None:  # noqa: ANN001 - QCloseEvent
        self.shutdown()
        super().closeEvent(event)

    # ------------------------------------------------------------- endpoints
    def _start_endpoint(self, which: str, fn: Callable, label: str, seed: int | None, *args,
                        on_progress: Callable | None = None) -> None:
        """Run ``fn`` in a worker; only the newest request per well may set the endpoint."""
        which = which.upper()
        self._endpoint_stamp[which] += 1
        self._inversion_stops.pop(which, None)
        stamp, model = self._endpoint_stamp[which], self._model
        old = self._endpoint_tasks.get(which)
        if old is not None:
            old.cancel()

        def done(result: tuple) -> None:  # (latent, face) or (latent, face, label)
            if stamp == self._endpoint_stamp[which] and model is self._model:
                self.wells[which].set_busy(False)
                self.session.set_endpoint(which, result[0], result[1], result[2] if len(result) > 2 else label, seed)

        def failed(message: str) -> None:
            if stamp == self._endpoint_stamp[which]:
                self.session.report_error(f"Endpoint {which}", message)

        def finished() -> None:
            if stamp == self._endpoint_stamp[which]:
                self.wells[which].set_busy(False)

        self._endpoint_tasks[which] = start_task(fn, *args, on_result=done, on_error=failed,
                                                 on_progress=on_progress, on_finished=finished)

    def _cancel_endpoint(self, which: str) -> None:
        self._inversion_stops.pop(which, None)
        task = self._endpoint_tasks.get(which)
        if task is not None:
            task.cancel()
        self._endpoint_stamp[which] += 1
        self.wells[which].set_busy(False)

    def _on_model_changed(self, model: FaceModel | None) -> None:
        for which in ("A", "B"):
            self._cancel_endpoint(which)
        self._model = model
        enabled = model is not None
        for w in (*self.wells.values(), self.slider, self.frames_box, self.slerp_box, self.png_button,
                  self.gif_button):
            w.setEnabled(enabled)
        if model is None:
            return
        # Start with two faces so the panel is never empty; the seed boxes remember the user's choice.
        if self.session.endpoint_a is None:
            self.set_endpoint_from_seed("A", self.wells["A"].seed_box.value())
        if self.session.endpoint_b is None:
            self.set_endpoint_from_seed("B", self.wells["B"].seed_box.value())

    def _on_endpoints_changed(self) -> None:
        for which, end in (("A", self.session.endpoint_a), ("B", self.session.endpoint_b)):
            if end is None:
                self.wells[which].show_endpoint(None, None, "-")
            else:
                self.wells[which].show_endpoint(end.latent, end.face, end.label, end.seed)
        self._request_strip()
        self._request_preview()

    # ------------------------------------------------------------ rendering
    def _interpolation(self) -> tuple[np.ndarray, np.ndarray, bool, np.ndarray | None] | None:
        a, b, model = self.session.endpoint_a, self.session.endpoint_b, self._model
        if a is None or b is None or model is None:
            return None
        spherical = self.slerp_box.isChecked()
        # The preview and the strip use the same centre, so frame i equals the handle at t_i.
        return a.latent, b.latent, spherical, (model.latent_mean if spherical else None)

    def _on_slider(self, value: int) -> None:
        self.strip.set_position(value / SLIDER_MAX)
        self._request_preview()

    def _on_mode_changed(self) -> None:
        self._request_strip()
        self._request_preview()

    def _jump_to_frame(self, i: int) -> None:
        k = len(self.strip.frames())
        if k >= 2:
            self.slider.setValue(round(SLIDER_MAX * i / (k - 1)))

    def _request_preview(self) -> None:
        spec, model = self._interpolation(), self._model
        if spec is None or model is None:
            return
        a, b, spherical, center = spec
        t = self.position()
        latent = interpolate(a, b, t, spherical=spherical, center=center)
        self._preview_renderer.request(lambda: (model, t, model.decode(latent)[0]))

    def _request_strip(self) -> None:
        spec, model = self._interpolation(), self._model
        if spec is None or model is None:
            return
        a, b, spherical, center = spec
        latents = morph_latents(a, b, self.frames_box.value(), spherical=spherical, center=center)
        self._strip_renderer.request(lambda: (model, latents, model.decode(latents)))

    def _on_preview(self, result: tuple[FaceModel, float, np.ndarray]) -> None:
        model, t, face = result
        if model is not self._model:
            return
        self.preview.set_face(face)
        self.preview_caption.setText(f"t = {t:.3f}   ({'slerp' if self.slerp_box.isChecked() else 'lerp'})")
        self.preview_rendered.emit()

    def _on_strip(self, result: tuple[FaceModel, np.ndarray, np.ndarray]) -> None:
        model, latents, faces = result
        if model is not self._model:
            return
        self._strip_latents = latents
        self.strip.set_frames(faces, latents)
        self.strip.set_position(self.position())
        self._align_slider()
        self.strip_rendered.emit()

    # --------------------------------------------------------------- dialogs
    def _ask_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export morph strip", "morph.png", "PNG images (*.png)")
        if path:
            self.export_png(path)

    def _ask_gif(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export morph GIF", "morph.gif", "GIF animations (*.gif)")
        if path:
            self.export_gif(path)
