"""Directions: edit one face along the principal directions of the latent space (GANSpace idea)
or along a single latent dimension, with a strip showing what the chosen direction does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.explore.directions import N_DIRECTIONS, N_PRIOR_SAMPLES, SWEEP, LatentAxes, compute_axes
from ...core.explore.reproduce import (
    endpoint_part,
    image_recipe,
    latents_part,
    layout_part,
    model_ref,
    write_recipe_file,
)
from ..dialogs import ask_png_path
from ..session import Session
from ..workers import Jobs, Task
from .face_grid import FaceGrid
from .face_tile import latent_mime_data
from .recipe_actions import copy_command

SLIDER_STEPS = 100  # slider units per standard deviation


@dataclass
class EditRender:
    latent: np.ndarray
    face: np.ndarray
    sweep: np.ndarray
    model: object


class DirectionsPanel(QWidget):
    """Sliders that move the current face along latent directions, with a live preview."""

    rendered = Signal()  # preview and sweep updated
    axes_ready = Signal()  # principal directions computed for the current model

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._axes_cache: dict[int, tuple[object, LatentAxes]] = {}
        self._axes: LatentAxes | None = None
        self._axes_model: object | None = None
        self._base: np.ndarray | None = None
        self._shown: EditRender | None = None
        self._selected: tuple[str, int] = ("dim", 0)  # what the sweep strip shows
        self.jobs = Jobs(self)

        self.preview = FaceGrid(min_tile=128)
        self.preview.placeholder = "No model loaded"
        self.preview.drag_requested.connect(self._start_drag)
        self.sweep = FaceGrid(min_tile=40, spacing=4, max_tile=128)
        self.sweep.setFixedHeight(140)
        self.sweep.placeholder = ""
        self.sweep_title = QLabel("Sweep")
        self.sweep.clicked.connect(self._on_sweep_clicked)

        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("All sliders back to 0: the original face")
        self.set_a_button = QPushButton("Set as morph A")
        self.set_b_button = QPushButton("Set as morph B")
        self.save_button = QPushButton("Save PNG...")
        self.command_button = QPushButton("Copy as command")
        self.command_button.setToolTip("Copy the waifu-studio command line that writes the edited face")
        buttons = QHBoxLayout()
        for button in (self.reset_button, self.set_a_button, self.set_b_button, self.save_button, self.command_button):
            buttons.addWidget(button)

        left = QVBoxLayout()
        left.addWidget(self.preview, 1)
        left.addLayout(buttons)
        left.addWidget(self.sweep_title)
        left.addWidget(self.sweep)

        # Principal-direction sliders.
        pcs = QGroupBox("Principal directions (\u00b13 std)")
        pc_grid = QGridLayout(pcs)
        pc_grid.setVerticalSpacing(4)
        self.pc_sliders: list[QSlider] = []
        self.pc_labels: list[QLabel] = []
        for i in range(N_DIRECTIONS):
            slider, value = self._make_slider()
            slider.valueChanged.connect(lambda _v, i=i: self._on_slider(("pc", i)))
            slider.sliderPressed.connect(lambda i=i: self._select(("pc", i)))
            name = QLabel(f"PC {i + 1}")
            pc_grid.addWidget(name, i, 0)
            pc_grid.addWidget(slider, i, 1)
            pc_grid.addWidget(value, i, 2)
            self.pc_sliders.append(slider)
            self.pc_labels.append(value)
        self.axes_status = QLabel("")
        self.axes_status.setEnabled(False)
        pc_grid.addWidget(self.axes_status, N_DIRECTIONS, 0, 1, 3)

        # Single latent dimension.
        dims = QGroupBox("Single latent dimension")
        dim_grid = QGridLayout(dims)
        self.dim_box = QSpinBox()
        self.dim_box.setToolTip("Which latent dimension the slider below moves")
        self.dim_slider, self.dim_value = self._make_slider()
        dim_grid.addWidget(QLabel("Dimension"), 0, 0)
        dim_grid.addWidget(self.dim_box, 0, 1)
        dim_grid.addWidget(QLabel("Offset"), 1, 0)
        dim_grid.addWidget(self.dim_slider, 1, 1)
        dim_grid.addWidget(self.dim_value, 1, 2)
        self.dim_box.valueChanged.connect(self._on_dim_changed)
        self.dim_slider.valueChanged.connect(lambda _v: self._on_slider(("dim", self.dim_box.value())))
        self.dim_slider.sliderPressed.connect(lambda: self._select(("dim", self.dim_box.value())))

        right_widget = QWidget()
        right = QVBoxLayout(right_widget)
        right.setContentsMargins(0, 0, 0, 0)
        right.addWidget(pcs)
        right.addWidget(dims)
        # Directions the user made on the latent map (two selections), saved with the model.
        self.saved_box = QGroupBox("Your directions (made on the latent map)")
        self.saved_grid = QGridLayout(self.saved_box)
        self.saved_sliders: list[tuple[object, QSlider]] = []  # (SavedDirection, slider)
        self.saved_values: list[QLabel] = []  # each slider's offset, as shown
        right.addWidget(self.saved_box)
        help_text = QLabel(
            "Principal directions are the ways this model's faces differ most: a PCA of "
            f"{N_PRIOR_SAMPLES} random faces, mapped back into the latent space (the GANSpace idea). "
            "The first few often change hair colour, brightness or pose.\n\n"
            "The strip under the face sweeps the slider you touched last from -3 to +3 "
            "std; click one of its faces to jump there. Drag the big face onto the Morph tab, or use the buttons "
            "to make it a morph endpoint.")
        help_text.setWordWrap(True)
        help_text.setEnabled(False)  # muted colour
        right.addSpacing(8)
        right.addWidget(help_text)
        right.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(right_widget)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setMinimumWidth(360)

        layout = QHBoxLayout(self)
        layout.addLayout(left, 3)
        layout.addWidget(scroll, 2)

        self.reset_button.clicked.connect(self.reset)
        self.set_a_button.clicked.connect(lambda: self.set_endpoint("A"))
        self.set_b_button.clicked.connect(lambda: self.set_endpoint("B"))
        self.save_button.clicked.connect(self._ask_save)
        self.command_button.clicked.connect(self.copy_command)
        session.model_changed.connect(self._on_model_changed)
        session.current_latent_changed.connect(self._on_current_latent)
        self._on_model_changed(session.model)

    @staticmethod
    def _make_slider() -> tuple[QSlider, QLabel]:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(-3 * SLIDER_STEPS, 3 * SLIDER_STEPS)
        slider.setPageStep(SLIDER_STEPS // 2)
        slider.setMinimumWidth(180)
        value = QLabel("+0.00")
        value.setMinimumWidth(44)
        value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return slider, value

    # ------------------------------------------------------------------ model
    def _on_model_changed(self, model) -> None:
        self.jobs.cancel("render")  # the old model's faces are never shown
        self._axes = None
        self._set_sliders_silently(0)
        for slider in self.pc_sliders:
            slider.setEnabled(False)
        if model is None:
            self._base, self._shown = None, None
            self.preview.set_faces(np.zeros((0, 1, 1, 3), np.uint8))
            self.sweep.set_faces(np.zeros((0, 1, 1, 3), np.uint8))
            return
        self.dim_box.setRange(0, model.latent_dim - 1)
        self._show_saved_directions([])  # the old model's directions never move this one's faces
        self._list_saved_directions()
        self._base = self._initial_latent(model)
        self._ensure_axes()
        self.refresh()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self._list_saved_directions()
        self._ensure_axes()

    def _list_saved_directions(self) -> None:
        """Read the directions saved for this model (in a job: the file and the model's hash)."""
        from ...core.explore.user_directions import saved_directions

        model = self.session.model
        if model is None:
            self._show_saved_directions([])
            return
        self.jobs.submit("saved directions", lambda _ctx: saved_directions(model),
                         on_result=self._show_saved_directions,
                         on_error=lambda m: self.session.report_error("Saved directions", m))

    def _show_saved_directions(self, found: list) -> None:
        """One slider per direction saved for this model (+1 moves a face from the - to the + group)."""
        if [(d.name, d.created) for d, _ in self.saved_sliders] == [(d.name, d.created) for d in found]:
            return
        moved = any(slider.value() for _, slider in self.saved_sliders)
        while self.saved_grid.count():
            self.saved_grid.takeAt(0).widget().deleteLater()
        self.saved_sliders, self.saved_values = [], []
        for row, direction in enumerate(found):
            slider, value = self._make_slider()
            slider.valueChanged.connect(lambda v, label=value: (label.setText(f"{v / SLIDER_STEPS:+.2f}"),
                                                                self.refresh()))
            self.saved_grid.addWidget(QLabel(direction.name), row, 0)
            self.saved_grid.addWidget(slider, row, 1)
            self.saved_grid.addWidget(value, row, 2)
            self.saved_sliders.append((direction, slider))
            self.saved_values.append(value)
        self.saved_box.setVisible(bool(found))
        if moved:  # a removed slider had moved the face
            self.refresh()

    def _ensure_axes(self) -> None:
        """Find the directions of the current model once this tab is seen (a few seconds of CPU)."""
        model = self.session.model
        if model is None or self._axes is not None:
            return
        cached = self._axes_cache.get(id(model))
        if cached is not None and cached[0] is model:
            self._set_axes(model, cached[1])
        elif not self.isVisible():
            self.axes_status.setText("Directions are found when this tab is shown")
        elif not self.jobs.is_busy("axes") or self._axes_model is not model:
            self._axes_model = model
            self.axes_status.setText("Finding principal directions...")
            self.jobs.submit(
                "axes", lambda ctx: compute_axes(model, progress=ctx.progress, cancel=ctx.cancel),
                on_result=lambda axes, m=model: self._set_axes(m, axes),
                on_error=lambda msg: self.axes_status.setText(f"Failed: {msg}"),
                on_progress=lambda f: self.axes_status.setText(f"Finding principal directions... {100 * f:.0f}%"))

    def _initial_latent(self, model) -> np.ndarray:
        latent = self.session.current_latent
        if latent is not None and latent.shape == (model.latent_dim,):
            return latent.copy()
        return model.seeds_to_latents([0])[0]

    def _set_axes(self, model, axes: LatentAxes) -> None:
        self._axes_cache = {id(model): (model, axes)}  # one model at a time: drop others' axes
        if model is not self.session.model:
            return
        self._axes = axes
        for i, slider in enumerate(self.pc_sliders):
            slider.setEnabled(i < len(axes.directions))
        self.axes_status.setText(f"These {len(axes.directions)} directions carry {100 * axes.explained:.0f}% "
                                 "of the variation between faces")
        self.axes_ready.emit()
        self.refresh()

    def _on_current_latent(self, _latent: np.ndarray) -> None:
        latent = self.session.current_latent  # None when it belongs to another model
        if latent is None:
            return
        self._base = latent.copy()
        self._set_sliders_silently(0)
        self.refresh()

    # ---------------------------------------------------------------- editing
    def _set_sliders_silently(self, value: int) -> None:
        for slider in [*self.pc_sliders, self.dim_slider, *(s for _, s in getattr(self, "saved_sliders", []))]:
            slider.blockSignals(True)
            slider.setValue(value)
            slider.blockSignals(False)
        for label in [*self.pc_labels, self.dim_value, *getattr(self, "saved_values", [])]:
            label.setText("+0.00")

    def reset(self) -> None:
        self._set_sliders_silently(0)
        self.refresh()

    def _on_dim_changed(self) -> None:
        # The offset belongs to the dimension it was set on; a new dimension starts at 0.
        self.dim_slider.blockSignals(True)
        self.dim_slider.setValue(0)
        self.dim_slider.blockSignals(False)
        self.dim_value.setText("+0.00")
        self._select(("dim", self.dim_box.value()))

    def _select(self, which: tuple[str, int]) -> None:
        self._selected = which
        self.refresh()

    def _on_slider(self, which: tuple[str, int]) -> None:
        kind, i = which
        slider = self.pc_sliders[i] if kind == "pc" else self.dim_slider
        label = self.pc_labels[i] if kind == "pc" else self.dim_value
        label.setText(f"{slider.value() / SLIDER_STEPS:+.2f}")
        self._selected = which
        self.refresh()

    def _axis(self, which: tuple[str, int], dim: int) -> np.ndarray | None:
        """Latent step of one std along ``which``."""
        kind, i = which
        if kind == "pc":
            if self._axes is None or i >= len(self._axes.directions):
                return None
            return self._axes.directions[i] * self._axes.direction_std[i]
        step = np.zeros(dim, np.float32)
        step[i] = self._axes.dim_std[i] if self._axes is not None else 1.0
        return step

    def edited_latent(self) -> np.ndarray | None:
        """The base latent moved by every slider."""
        if self._base is None:
            return None
        latent = self._base.astype(np.float32).copy()
        dim = len(latent)
        for i, slider in enumerate(self.pc_sliders):
            axis = self._axis(("pc", i), dim)
            if slider.value() and axis is not None:
                latent += axis * (slider.value() / SLIDER_STEPS)
        if self.dim_slider.value():
            latent += self._axis(("dim", self.dim_box.value()), dim) * (self.dim_slider.value() / SLIDER_STEPS)
        for direction, slider in self.saved_sliders:
            if slider.value() and direction.vector.shape == latent.shape:
                latent += direction.vector * (slider.value() / SLIDER_STEPS)
        return latent

    def _sweep_latents(self, latent: np.ndarray) -> tuple[np.ndarray, str]:
        """7 latents: the selected slider set to -3..+3 std, every other slider as it is."""
        kind, i = self._selected
        axis = self._axis(self._selected, len(latent))
        if axis is None:
            return np.zeros((0, len(latent)), np.float32), ""
        slider = self.pc_sliders[i] if kind == "pc" else self.dim_slider
        current = slider.value() / SLIDER_STEPS
        title = f"PC {i + 1}" if kind == "pc" else f"dimension {i}"
        return (latent[None] + (SWEEP - current)[:, None] * axis[None]).astype(np.float32), title

    def refresh(self) -> None:
        model = self.session.model
        latent = self.edited_latent()
        if model is None or latent is None:
            return
        sweep, title = self._sweep_latents(latent)
        self.sweep_title.setText(f"Sweep of {title} from -3 to +3 std (click a face to jump there)" if title else "")

        def render(_ctx) -> EditRender:  # noqa: ANN001 - TaskContext
            # The preview is decoded alone so it equals model.decode(latent) bit for bit.
            face = model.decode(latent)[0]
            strip = model.decode(sweep) if len(sweep) else np.zeros((0, *face.shape), np.uint8)
            return EditRender(latent, face, strip, model)

        self.jobs.submit("render", render, on_result=self._on_rendered, show_superseded=True,
                         on_error=lambda msg: self.session.report_error("Cannot draw face", msg))

    def _on_rendered(self, result: EditRender) -> None:
        self._shown = result
        self.preview.set_faces(result.face[None], ncols=1, tooltips=["Drag onto the Morph tab"])
        labels = [f"{v:+.0f}" for v in SWEEP] if len(result.sweep) else None
        self.sweep.set_faces(result.sweep, ncols=max(1, len(result.sweep)), labels=labels)
        self.rendered.emit()

    def _on_sweep_clicked(self, index: int, _modifiers) -> None:
        kind, i = self._selected
        slider = self.pc_sliders[i] if kind == "pc" else self.dim_slider
        slider.setValue(int(SWEEP[index] * SLIDER_STEPS))

    # ----------------------------------------------------------------- access
    def current_face(self) -> np.ndarray | None:
        """The face in the preview, (H, W, 3) uint8."""
        return None if self._shown is None else self._shown.face.copy()

    def current_faces(self) -> np.ndarray:
        return self.preview.faces()

    def set_endpoint(self, which: str) -> None:
        if self._shown is not None:
            self.session.set_endpoint(which, self._shown.latent, self._shown.face, "edited face", kind="edited")

    def _start_drag(self, _index: int) -> None:
        if self._shown is not None:
            self.preview.start_drag(latent_mime_data(self._shown.latent, "edited face", face=self._shown.face,
                                                     model_key=self.session.model_key), 0)

    def edit_offsets(self) -> list[dict]:
        """Every moved slider as {"axis": "PC 2" | "dimension 5", "std": offset in standard deviations}."""
        moved = [(f"PC {i + 1}", slider.value()) for i, slider in enumerate(self.pc_sliders)]
        moved.append((f"dimension {self.dim_box.value()}", self.dim_slider.value()))
        moved += [(f"saved direction {d.name}", slider.value()) for d, slider in self.saved_sliders]
        return [{"axis": axis, "std": value / SLIDER_STEPS} for axis, value in moved if value]

    def face_recipes(self) -> tuple[dict, dict | None] | None:
        """Recipes of the edited face (alone, no padding) and of its sweep strip (None when empty)."""
        shown, model = self._shown, self.session.model
        if shown is None or model is None or self._base is None:
            return None
        edit = {"base": endpoint_part(latent=self._base, label="base face"), "offsets": self.edit_offsets()}
        ref = [model_ref(model)]
        face = image_recipe(ref, latents_part(shown.latent), layout_part(1, padding=0), edit=edit)
        if not len(shown.sweep):
            return face, None
        sweep_latents, title = self._sweep_latents(shown.latent)
        strip = image_recipe(ref, latents_part(sweep_latents),
                             layout_part(len(sweep_latents), labels=[f"{v:+.0f}" for v in SWEEP]),
                             edit={**edit, "sweep": title})
        return face, strip

    def export_png(self, path: str | Path) -> Task | None:
        """Save the preview and the sweep strip (one PNG each: ``path`` and ``*_sweep.png``)."""
        recipes, model = self.face_recipes(), self.session.model
        if recipes is None:
            self.session.report_error("Nothing to save", "Load a model first: there is no face to save.")
            return None
        path = Path(path)
        face, strip = recipes

        def save(_ctx) -> Path:  # noqa: ANN001 - TaskContext
            write_recipe_file(face, [model], path)
            if strip is not None:
                write_recipe_file(strip, [model], path.with_name(path.stem + "_sweep.png"))
            return path

        return self.jobs.submit(f"save {path}", save,
                                on_result=lambda p: self.session.status_message.emit(f"Saved {p}"),
                                on_error=lambda msg: self.session.report_error("Cannot save image", msg))

    def copy_command(self) -> str | None:
        """Put the CLI command that writes the edited face on the clipboard."""
        recipes = self.face_recipes()
        if recipes is None:
            return None
        return copy_command(self.session, recipes[0], [self.session.model_path], "edited_face.png")

    def _ask_save(self) -> None:
        path = ask_png_path(self, self.session.settings, "Save edited face as PNG", "edited_face.png")
        if path is not None:
            self.export_png(path)

    def shutdown(self) -> None:
        self.jobs.cancel("render")
        self.jobs.cancel("axes")
        self.jobs.cancel("saved directions")
        self.jobs.shutdown(cancel=False)  # saves finish

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)
