"""The four model families behind one API (see ``base.FaceModel``)."""

from __future__ import annotations

from .base import FaceModel, images_to_tensor, tensor_to_images
from .registry import build_model, build_objective

__all__ = ["FaceModel", "build_model", "build_objective", "images_to_tensor", "tensor_to_images"]
