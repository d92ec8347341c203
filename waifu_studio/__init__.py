"""Waifu Studio: train generative models of anime faces and explore what they learned."""

from __future__ import annotations

__version__ = "0.1.0"
