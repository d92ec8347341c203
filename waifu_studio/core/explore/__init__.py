"""Exploring what a model learned: latents and morphs (``latent``), maps (``maps``, ``projection``)."""
