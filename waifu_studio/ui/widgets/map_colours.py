"""Colouring the latent map: k-means clusters, hair hue, reconstruction error, distance to neighbours.

The values are computed in tasks (with progress in the legend), kept per map, turned into a
palette and drawn by the view, with a legend that says what the colours mean.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtGui import QBrush, QColor

from ...core.explore.face_features import dominant_hue
from ...core.explore.outliers import neighbour_distances, reconstruction_errors
from ...core.explore.projection import kmeans_labels
from ..workers import Job
from .latent_map_parts import CLUSTER_COLOURS, COLOURINGS, _hue_palette, legend_html, scale_palette

if TYPE_CHECKING:
    from .latent_map import LatentMapPanel


class MapColours:
    """The panel's colouring: computes values for ``settings.colour`` and draws them."""

    def __init__(self, panel: LatentMapPanel) -> None:
        self.panel = panel

    def job(self, key: str) -> Job | None:
        """The job computing ``key``'s value for every point (None when this model cannot)."""
        panel = self.panel
        source, model = panel.source, panel._model
        if key == "cluster":
            return lambda _ctx: kmeans_labels(source.features)
        if key == "hue":
            return lambda _ctx: dominant_hue(np.asarray(source.faces))
        if key == "knn":
            return lambda ctx: neighbour_distances(source.latents, cancel=ctx.cancel)
        if model is None or not model.has_encoder:
            return None
        cache = (source.cache_key, "recon") if source.cache_key else None
        return lambda ctx: reconstruction_errors(model, source.faces, cache=cache, progress=ctx.progress,
                                                 cancel=ctx.cancel)

    def cancel(self) -> None:
        """Drop every colouring being computed (the map's points change)."""
        for key in COLOURINGS.values():
            self.panel.jobs.cancel(f"colour {key}")

    def apply(self) -> None:
        panel = self.panel
        key = panel.settings.colour
        source = panel.source
        if source is None or key == "none" or not panel._complete:
            panel.view.set_colours(None)
            panel.legend.setText("" if key == "none" else "Colours follow when the map is complete.")
            panel.colours_ready.emit()
            return
        values = panel._colour_values.get(key)
        if values is None:
            job = self.job(key)
            if job is None:
                panel.legend.setText("Reconstruction errors need a model with an encoder (AE or VAE).")
                return
            panel.legend.setText(f"Colouring by {panel.colour_box.currentText().lower()}...")

            def done(result: np.ndarray) -> None:
                panel._colour_values[key] = result
                self.apply()

            # One key per colouring: switching to another and back keeps a long computation going.
            panel.jobs.submit(f"colour {key}", job, on_result=done,
                              on_progress=lambda f: self._progress(key, f),
                              on_error=lambda m: panel.session.report_error("Colouring", m))
            return
        extra = None
        if key == "cluster":
            palette = [QBrush(QColor(c)) for c in CLUSTER_COLOURS]
            ids = np.asarray(values, np.intp) % len(palette)
        elif key == "hue":
            palette, ids = _hue_palette(values)
        else:
            palette, ids, low, high = scale_palette(values)
            extra = (low, high)
        panel.view.set_colours(palette, ids)
        panel.legend.setText(legend_html(key, values, extra))
        panel.colours_ready.emit()

    def _progress(self, key: str, fraction: float) -> None:
        if key == self.panel.settings.colour:  # another colouring may be shown meanwhile
            self.panel.legend.setText(f"Colouring... {100 * fraction:.0f}%")

    def values(self) -> np.ndarray | None:
        panel = self.panel
        key = panel.settings.colour
        return panel._colour_values.get(key) if key != "none" else None

