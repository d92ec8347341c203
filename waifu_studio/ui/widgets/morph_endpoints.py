"""Making the morph endpoints: from seeds, dragged faces and image files, and again after a model switch.

Each request runs as the panel's job keyed by its well, so a newer request for a well makes the
older one stale. The result becomes an :class:`~waifu_studio.state.morph.Endpoint` of the model
that made it; on a model switch :func:`~waifu_studio.state.morph.rebind_action` decides whether a
well is made again (seeds, files) or stays marked as coming from the other model.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject

from ...core.data import load_image_file
from ...core.explore.latent import invert_image
from ...core.models import FaceModel
from ...state.morph import ENDS, Endpoint, EndpointSource, rebind_action
from ..session import Session
from ..workers import Jobs, TaskContext
from .face_tile import DraggedFace
from .morph_wells import EndpointWell

INVERT_STEPS = 300


def encode_file(model: FaceModel, path: str, ctx: TaskContext, steps: int = INVERT_STEPS
                ) -> tuple[np.ndarray, np.ndarray, str]:
    """Latent, face and label of an image file: encoded (AE/VAE) or found by inversion (GANs).

    ``ctx.stop`` (the well's Cancel, or a cancel) ends an inversion early with the best latent found
    so far; a cancelled job's result is dropped by the panel's jobs.
    """
    label = Path(path).name
    image = np.array(load_image_file(path, model.resolution))  # writable: torch warns on read-only arrays
    if model.has_encoder:
        latent = model.encode(image)[0]
        return latent, model.decode(latent)[0], label
    done = 0

    def on_step(step: int, total: int, loss: float) -> None:
        nonlocal done
        done = step
        ctx.progress((step, total))

    latent = invert_image(model, image, steps=steps, cancel=ctx.stop, progress=on_step)
    if ctx.stop.is_set() and done < steps:
        label = f"{label} (stopped at step {done} of {steps}: best face so far)"
    return latent, model.decode(latent)[0], label


def endpoint_key(which: str) -> str:
    return f"endpoint {which.upper()}"


class EndpointRequests(QObject):
    """Turns the wells' requests into endpoints of the current model (jobs keyed per well)."""

    def __init__(self, session: Session, jobs: Jobs, wells: dict[str, EndpointWell],
                 invert_steps: Callable[[], int]) -> None:
        super().__init__(jobs)
        self.session, self.jobs, self.wells = session, jobs, wells
        self._invert_steps = invert_steps
        self._inverting: set[str] = set()  # wells whose running request is an inversion (Cancel keeps its best)
        self.pending: dict[str, EndpointSource] = {}  # remembered from the last session, made with the first model

    # ------------------------------------------------------------------ requests
    def from_seed(self, which: str, seed: int) -> None:
        model = self.session.model
        if model is None:
            return
        self.wells[which.upper()].set_busy(True, "Decoding...")

        def work(_ctx: TaskContext) -> tuple[np.ndarray, np.ndarray]:
            latent = model.seeds_to_latents([int(seed)])[0]
            return latent, model.decode(latent)[0]

        self._start(which, work, EndpointSource.from_seed(seed))

    def from_face(self, which: str, dragged: DraggedFace) -> None:
        model, key = self.session.model, self.session.model_key
        if model is None:
            return
        latent = np.asarray(dragged.latent, np.float32).reshape(-1)
        if dragged.model_key is not None and dragged.model_key != key:
            self.session.report_error("Cannot use this face", "it belongs to another model; a latent is only "
                                      "decoded by the model that made it")
            return
        if latent.shape[0] != model.latent_dim:
            self.session.report_error("Cannot use this face", f"it has {latent.shape[0]} latent values; "
                                      f"the current model uses {model.latent_dim}")
            return
        seed = dragged.seed

        def work(_ctx: TaskContext) -> tuple[np.ndarray, np.ndarray, EndpointSource]:
            # A face of seed S at truncation 1 is "seed S": another model can make it again.
            if seed is not None and np.array_equal(model.seeds_to_latents([seed])[0], latent):
                source = EndpointSource.from_seed(seed)
            else:
                source = EndpointSource("face", dragged.label, seed)
            return latent, model.decode(latent)[0], source

        self._start(which, work, None)

    def from_file(self, which: str, path: str | os.PathLike, label: str | None = None) -> None:
        model = self.session.model
        if model is None:
            return
        path, which = os.fspath(path), which.upper()
        well = self.wells[which]
        well.set_busy(True, "Encoding..." if model.has_encoder else "Inverting %p%")

        def progress(value: tuple[int, int]) -> None:
            well.progress.setValue(round(100 * value[0] / max(1, value[1])))

        steps = self._invert_steps()
        self._start(which, lambda ctx: encode_file(model, path, ctx, steps), EndpointSource.from_file(path, label),
                    on_progress=progress)
        if not model.has_encoder:
            self._inverting.add(which)

    def stop(self, which: str) -> None:
        """The well's Cancel: an inversion ends at its next step and keeps the best face found so far;
        any other request is dropped."""
        which = which.upper()
        if which in self._inverting and self.jobs.is_busy(endpoint_key(which)):
            self._inverting.discard(which)
            self.jobs.stop(endpoint_key(which))
            self.wells[which].set_stopping()
            return
        self.cancel(which)

    def cancel(self, which: str) -> None:
        self._inverting.discard(which)
        self.jobs.cancel(endpoint_key(which))
        self.wells[which].set_busy(False)

    def rebind(self) -> None:
        """The model changed: make each endpoint again for it where its source allows."""
        model, key = self.session.model, self.session.model_key
        for which in ENDS:
            self.cancel(which)
        if model is None or key is None:
            return
        for which in ENDS:
            end = self.session.morph.get(which)
            if end is None:  # the last session's endpoint, else a seed: the panel is never empty
                source = self.pending.pop(which, None)
                if source is not None and source.kind == "file" and source.path is not None:
                    self.from_file(which, source.path, source.label)
                else:
                    seed = source.seed if source is not None and source.seed is not None else None
                    self.from_seed(which, self.wells[which].seed_box.value() if seed is None else seed)
                continue
            action = rebind_action(end, key, model.has_encoder)
            if action == "decode_seed":
                assert end.source.seed is not None
                self.from_seed(which, end.source.seed)
            elif action in ("encode_file", "invert_file"):
                assert end.source.path is not None
                self.from_file(which, end.source.path, end.source.label)

    # ------------------------------------------------------------------ wiring
    def _start(self, which: str, job: Callable[[TaskContext], tuple], source: EndpointSource | None,
               on_progress: Callable | None = None) -> None:
        """Run ``job`` for well ``which``; it returns (latent, face[, label or source])."""
        which = which.upper()
        self._inverting.discard(which)
        identity = self.session.current_model.identity
        assert identity is not None

        def done(result: tuple) -> None:
            self.wells[which].set_busy(False)
            made = source
            if len(result) > 2:
                extra = result[2]
                made = extra if isinstance(extra, EndpointSource) else EndpointSource(
                    source.kind, extra, source.seed, source.path)  # type: ignore[union-attr]
            assert made is not None
            self.session.morph.set(which, Endpoint(made, identity.key, identity.name,
                                                   np.asarray(result[0], np.float32), np.asarray(result[1], np.uint8)))
            self.session.status_message.emit(f"Morph endpoint {which}: {made.label}")

        def failed(message: str) -> None:
            self.wells[which].set_busy(False)
            self.session.report_error(f"Endpoint {which}", message)

        self.jobs.submit(endpoint_key(which), job, on_result=done, on_progress=on_progress, on_error=failed,
                         on_finished=lambda: self.wells[which].set_busy(False))
