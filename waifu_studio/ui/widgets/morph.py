"""Morph panel: two endpoint wells, a strip of K in-between faces, and a handle showing any t large.

Every decode runs off the GUI thread through the panel's :class:`Jobs`: the handle and the strip
are keyed requests, so a fast drag only ever computes the newest position; each well's endpoint
request (seed, drop, inversion) is keyed too, so a newer request for a well makes older ones stale.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.explore.latent import interpolate, morph_latents
from ...core.explore.reproduce import endpoint_for, gif_recipe, image_recipe, layout_part, model_ref, morph_part
from ...core.models import FaceModel
from ...state.morph import ENDS
from ..dialogs import ask_open_path, ask_png_path, ask_save_path
from ..session import Session
from ..workers import Jobs, Task
from .face_tile import DraggedFace, FaceLabel
from .morph_endpoints import INVERT_STEPS, EndpointRequests
from .morph_strip import StripView
from .morph_wells import EndpointWell
from .recipe_actions import copy_command, save_recipe

PREVIEW_PX = 320
SLIDER_MAX = 1000
GIF_FRAME_MS = 90


class MorphPanel(QWidget):
    """Morph between session endpoints A and B."""

    preview_rendered = Signal()
    strip_rendered = Signal()
    gif_saved = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.jobs = Jobs(self)
        self._strip_latents = np.zeros((0, 1), np.float32)
        self._build()
        self.endpoints = EndpointRequests(session, self.jobs, self.wells, lambda: INVERT_STEPS)
        session.model_changed.connect(self._on_model_changed)
        session.morph.changed.connect(self._on_endpoint_changed)
        self._on_model_changed(session.model)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.wells = {w: EndpointWell(w, self) for w in ("A", "B")}
        for which, well in self.wells.items():
            well.seed_requested.connect(lambda seed, w=which: self.set_endpoint_from_seed(w, seed))
            well.face_dropped.connect(lambda face, w=which: self.endpoints.from_face(w, face))
            well.file_dropped.connect(lambda path, w=which: self.drop_image_file(w, path))
            well.open_requested.connect(lambda w=which: self.ask_open_image(w))
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
        self.endpoints.from_seed(which, seed)

    def drop_latent(self, which: str, latent: np.ndarray, label: str = "dropped face") -> None:
        """A face of the current model (its latent) becomes endpoint ``which``."""
        self.endpoints.from_face(which, DraggedFace(np.asarray(latent, np.float32), label))

    def drop_image_file(self, which: str, path: str | os.PathLike) -> None:
        self.endpoints.from_file(which, path)

    def ask_open_image(self, which: str) -> None:
        """"Open image...": a file dialog that starts in the folder images were last opened from."""
        path = ask_open_path(self, self.session.settings, "image", f"Face image for endpoint {which}",
                             "Images (*.png *.jpg *.jpeg *.webp *.bmp)")
        if path is not None:
            self.drop_image_file(which, path)

    def stop_endpoint(self, which: str) -> None:
        """The well's Cancel: an inversion ends at its next step and keeps the best face found so far;
        any other endpoint request is dropped."""
        self.endpoints.stop(which)

    def swap_endpoints(self) -> None:
        self.session.morph.swap()

    def strip_recipe(self, gif: bool = False) -> dict | None:
        """The recipe of the strip (PNG) or of its ping-pong animation (GIF), frames at least 128 px."""
        pair, model = self.session.morph.pair_for(self.session.model_key), self.session.model
        if pair is None or model is None:
            return None
        a, b = pair
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
        return save_recipe(self.jobs, self.session, recipe, [self.session.model], path, on_saved)

    def shutdown(self) -> None:
        self.jobs.shutdown()

    def closeEvent(self, event) -> None:  # noqa: ANN001 - QCloseEvent
        self.shutdown()
        super().closeEvent(event)

    # ------------------------------------------------------------- endpoints
    def _on_model_changed(self, model: FaceModel | None) -> None:
        self.jobs.cancel("preview")  # the old model's faces are never shown
        self.jobs.cancel("strip")
        enabled = model is not None
        for w in (*self.wells.values(), self.slider, self.frames_box, self.slerp_box, self.png_button,
                  self.gif_button):
            w.setEnabled(enabled)
        self.endpoints.rebind()
        for which in ENDS:
            self._show_well(which)
        self._request_strip()
        self._request_preview()

    def _show_well(self, which: str) -> None:
        end = self.session.morph.get(which)
        if end is None:
            self.wells[which].show_endpoint(None, None, "-")
            return
        foreign = end.model_key != self.session.model_key
        note = f"from {end.model_name}, another model: choose a new face" if foreign else ""
        self.wells[which].show_endpoint(end.latent, end.face, end.label, end.seed, model_key=end.model_key,
                                        note=note)

    def _on_endpoint_changed(self, which: str) -> None:
        self._show_well(which)
        self._request_strip()
        self._request_preview()

    # ------------------------------------------------------------ rendering
    def _interpolation(self) -> tuple[np.ndarray, np.ndarray, bool, np.ndarray | None] | None:
        """A and B when both belong to the current model (never decode another model's latent)."""
        pair, model = self.session.morph.pair_for(self.session.model_key), self.session.model
        if pair is None or model is None:
            self._clear_morph()
            return None
        a, b = pair
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

    def _clear_morph(self) -> None:
        self.jobs.cancel("preview")
        self.jobs.cancel("strip")
        self.preview.set_face(None)
        self.preview.setText("Choose endpoints A and B")
        self.preview_caption.setText("")
        self._strip_latents = np.zeros((0, 1), np.float32)
        self.strip.set_frames(np.zeros((0, 1, 1, 3), np.uint8), self._strip_latents)

    def _request_preview(self) -> None:
        spec, model = self._interpolation(), self.session.model
        if spec is None or model is None:
            return
        a, b, spherical, center = spec
        t = self.position()
        latent = interpolate(a, b, t, spherical=spherical, center=center)
        self.jobs.submit("preview", lambda _ctx: (t, model.decode(latent)[0]), on_result=self._on_preview,
                         on_error=lambda m: self.session.report_error("Morph", m), show_superseded=True)

    def _request_strip(self) -> None:
        spec, model = self._interpolation(), self.session.model
        if spec is None or model is None:
            return
        a, b, spherical, center = spec
        latents = morph_latents(a, b, self.frames_box.value(), spherical=spherical, center=center)
        self.jobs.submit("strip", lambda _ctx: (latents, model.decode(latents)), on_result=self._on_strip,
                         on_error=lambda m: self.session.report_error("Morph", m), show_superseded=True)

    def _on_preview(self, result: tuple[float, np.ndarray]) -> None:
        t, face = result
        self.preview.set_face(face)
        self.preview_caption.setText(f"t = {t:.3f}   ({'slerp' if self.slerp_box.isChecked() else 'lerp'})")
        self.preview_rendered.emit()

    def _on_strip(self, result: tuple[np.ndarray, np.ndarray]) -> None:
        latents, faces = result
        self._strip_latents = latents
        self.strip.set_frames(faces, latents)
        self.strip.set_position(self.position())
        self._align_slider()
        self.strip_rendered.emit()

    # --------------------------------------------------------------- dialogs
    def _ask_png(self) -> None:
        path = ask_png_path(self, self.session.settings, "Export morph strip", "morph.png")
        if path is not None:
            self.export_png(path)

    def _ask_gif(self) -> None:
        path = ask_save_path(self, self.session.settings, "export", "Export morph GIF", "morph.gif",
                             "GIF animations (*.gif)", ".gif")
        if path is not None:
            self.export_gif(path)
