"""2-D maps of latent codes: PCA, t-SNE (openTSNE) and UMAP, cached on disk.

``project`` (in ``layout``) is the one entry point; ``params`` holds the settings types; the
methods live in ``pca``, ``tsne`` and ``umap_layout``; ``process`` runs a layout in a child
process for the GUI; ``neighbours`` has the exact k-NN search and layout quality measures.
"""

from __future__ import annotations

from .layout import (
    blend_weights,
    cached_layout,
    is_pca_map,
    kmeans_labels,
    nearest_points,
    project,
)
from .params import METHODS, ProgressFn, ProjectionCancelled, ProjectionParams, raise_if_cancelled
from .pca import normalise_layout, pca_2d, principal_directions

__all__ = ["METHODS", "ProgressFn", "ProjectionCancelled", "ProjectionParams", "blend_weights", "cached_layout",
           "is_pca_map", "kmeans_labels", "nearest_points", "normalise_layout",
           "pca_2d", "principal_directions", "project", "raise_if_cancelled"]
