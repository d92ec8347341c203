"""Compare's morph ends: each a seed or an image file, and each side's own latent for an image end.

An image end is checked once (a job that loads it with the project's image loader), then every
side finds its latent for it in its own job: AE/VAE encode it, GANs invert it (the Morph panel's
:func:`~waifu_studio.ui.widgets.morph_endpoints.encode_file`), with progress under that side's
morph face. A newer end or another model on a side supersedes (cancels) that side's job; the
latents are kept in the state, so the slider and the seeds never find them again.
"""

from __future__ import annotations

import os

import numpy as np
from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QSpinBox, QWidget

from ...core.explore.compare import ImageEndpoint, check_image_endpoint
from ...core.models.seeds import MAX_SEED
from ...state.compare import ENDS, SIDES, CompareState, LatentKey
from ..dialogs import ask_open_path
from ..session import Session
from ..workers import Jobs
from .morph_endpoints import INVERT_STEPS, encode_file
from .tab_drop import drop_payload

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp)"
CHECK_RESOLUTION = 64  # an image is checked at this size when no side has a model yet


class CompareEndpoints(QObject):
    """The widgets and jobs of the two morph ends; ``ready(side)`` asks the panel to draw that side again."""

    ready = Signal(str)

    def __init__(self, parent: QWidget, session: Session, state: CompareState, jobs: Jobs) -> None:
        super().__init__(parent)
        self.parent_widget, self.session, self.state, self.jobs = parent, session, state, jobs
        self.seed_boxes: dict[str, QSpinBox] = {}
        self.image_buttons: dict[str, QPushButton] = {}
        self.seed_buttons: dict[str, QPushButton] = {}
        self.names: dict[str, QLabel] = {}
        for index, end in enumerate(ENDS):
            box = QSpinBox()
            box.setRange(0, MAX_SEED)
            box.setValue(state.view.morph_seeds[index])
            box.setToolTip(f"Seed of morph end {end}, the same for both models")
            box.valueChanged.connect(self._on_seeds)
            image = QPushButton("Image...")
            image.setToolTip(f"Use an image file as morph end {end} (or drop one here): each model encodes it "
                             "(AE, VAE) or finds it by inversion (GANs)")
            image.clicked.connect(lambda _c=False, e=end: self.choose_image(e))
            image.setAcceptDrops(True)  # an image file dropped on the button becomes this end
            image.installEventFilter(self)
            seed = QPushButton("Seed")
            seed.setToolTip(f"Morph end {end} is its seed again")
            seed.clicked.connect(lambda _c=False, e=end: self.use_seed(e))
            self.seed_boxes[end], self.image_buttons[end], self.seed_buttons[end] = box, image, seed
            self.names[end] = QLabel("")
        self.progress: dict[str, QProgressBar] = {}
        for side in SIDES:
            bar = QProgressBar()
            bar.setVisible(False)
            self.progress[side] = bar
        self._encoding: dict[str, LatentKey] = {}  # job key -> the latent it is finding
        self._steps: dict[str, tuple[int, int]] = {}  # job key -> inversion (step, steps)
        state.changed.connect(self._on_changed)
        self._on_changed("view")

    def widgets(self, end: str) -> list[QWidget]:
        return [self.seed_boxes[end], self.names[end], self.image_buttons[end], self.seed_buttons[end]]

    # ------------------------------------------------------------------ choosing ends
    def choose_image(self, end: str) -> None:
        path = ask_open_path(self.parent_widget, self.session.settings, "image", f"Image for morph end {end}",
                             IMAGE_FILTER)
        if path is not None:
            self.use_image(end, path)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind not in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop):
            return super().eventFilter(watched, event)
        assert isinstance(event, QDropEvent)
        path = drop_payload(event)[1]
        if path is None:
            event.ignore()
        else:
            event.acceptProposedAction()
            if kind == QEvent.Type.Drop:
                end = next(e for e, button in self.image_buttons.items() if button is watched)
                self.use_image(end, path)
        return True

    def use_image(self, end: str, path: str | os.PathLike) -> None:
        """Check ``path`` off the GUI thread, then make it morph end ``end``; a bad file keeps the old end."""
        sizes = [m.resolution for m in self.state.models.values() if m is not None]
        resolution = min(sizes, default=CHECK_RESOLUTION)
        self.jobs.submit(f"check {end}", lambda _ctx: check_image_endpoint(path, resolution),
                         on_result=lambda image: self.state.set_image(end, image),
                         on_error=lambda msg: self.session.report_error(f"Cannot use this image for morph end {end}",
                                                                        msg))

    def use_seed(self, end: str) -> None:
        self.jobs.cancel(f"check {end}")
        self.state.set_image(end, None)

    # ------------------------------------------------------------------ each side's latents
    def ensure(self, side: str) -> None:
        """Start (or keep) the jobs finding ``side``'s latents of the image ends; cancel those no longer wanted."""
        model, wanted = self.state.models[side], dict(self.state.missing_images(side))
        for end in ENDS:
            job, image = f"encode {side} {end}", wanted.get(end)
            if image is None:
                if self._encoding.pop(job, None) is not None:
                    self.jobs.cancel(job)
                    self._steps.pop(job, None)
                continue
            key = self.state.latent_key(model, image)
            if self._encoding.get(job) == key:
                continue  # already finding this one
            self._encoding[job] = key
            self._steps.pop(job, None)
            self._submit(side, end, job, model, image)
        self._show_progress(side)

    def _submit(self, side: str, end: str, job: str, model, image: ImageEndpoint) -> None:  # noqa: ANN001
        steps = INVERT_STEPS

        def found(latent: np.ndarray) -> None:
            self.state.store_latent(model, image, latent)
            self.ready.emit(side)

        def failed(message: str) -> None:
            self.session.report_error(f"Cannot use {image.name} with model {side}", message)
            if image in self.state.view.morph_images:
                self.state.set_image(end, None)

        def progressed(value: tuple[int, int]) -> None:
            self._steps[job] = value
            self._show_progress(side)

        def finished() -> None:
            self._encoding.pop(job, None)
            self._steps.pop(job, None)
            self._show_progress(side)

        self.jobs.submit(job, lambda ctx: encode_file(model, image.path, ctx, steps)[0], on_result=found,
                         on_error=failed, on_progress=progressed, on_finished=finished)

    def _show_progress(self, side: str) -> None:
        bar = self.progress[side]
        jobs = [job for job in self._encoding if job.startswith(f"encode {side} ")]
        bar.setVisible(bool(jobs))
        if not jobs:
            return
        names = ", ".join(img.name for img in self.state.view.morph_images if img is not None)
        model = self.state.models[side]
        if model is not None and model.has_encoder:
            bar.setRange(0, 0)  # one encoder call: no steps to count
            bar.setFormat(f"Model {side}: encoding {names}")
            return
        done = sum(self._steps.get(job, (0, 1))[0] for job in jobs)
        total = sum(self._steps.get(job, (0, 1))[1] for job in jobs)
        bar.setRange(0, 100)
        bar.setValue(round(100 * done / max(1, total)))
        bar.setFormat(f"Model {side}: inverting {names} %p%")

    def cancel_all(self) -> None:
        for end in ENDS:
            self.jobs.cancel(f"check {end}")
            for side in SIDES:
                self.jobs.cancel(f"encode {side} {end}")
        self._encoding.clear()
        self._steps.clear()

    # ------------------------------------------------------------------ drawing the ends
    def _on_seeds(self) -> None:
        self.state.set_view(morph_seeds=(self.seed_boxes["A"].value(), self.seed_boxes["B"].value()))

    def _on_changed(self, what: str) -> None:
        if what != "view":
            return
        for index, end in enumerate(ENDS):
            image = self.state.view.morph_images[index]
            self.seed_boxes[end].setEnabled(image is None)
            self.seed_buttons[end].setEnabled(image is not None)
            self.names[end].setText("" if image is None else image.name)
            self.names[end].setToolTip("" if image is None else image.path)
