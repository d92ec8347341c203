from __future__ import annotations

import numpy as np

from waifu_studio.core.explore.latent import interpolate, invert_image, lerp, morph_latents, slerp


def test_slerp_and_lerp_endpoints_equal_the_two_faces(tiny_model_factory):
    model = tiny_model_factory("wgan-gp")
    a, b = model.seeds_to_latents([1, 2])
    for spherical in (False, True):
        path = morph_latents(a, b, 5, spherical=spherical)
        assert path.shape == (5, model.latent_dim)
        faces = model.decode(path)
        np.testing.assert_array_equal(faces[0], model.decode(a)[0])
        np.testing.assert_array_equal(faces[-1], model.decode(b)[0])


def test_slerp_keeps_the_norm_on_the_shell():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=512).astype(np.float32), rng.normal(size=512).astype(np.float32)
    mid_s, mid_l = slerp(a, b, 0.5), lerp(a, b, 0.5)
    # lerp cuts through the low-density middle; slerp stays near the typical radius.
    assert abs(np.linalg.norm(mid_s) - np.linalg.norm(a)) < 0.05 * np.linalg.norm(a)
    assert np.linalg.norm(mid_l) < 0.8 * np.linalg.norm(a)
    np.testing.assert_allclose(interpolate(a, b, 0.25, spherical=True), slerp(a, b, 0.25), rtol=1e-6)


def test_slerp_around_a_centre_and_parallel_vectors():
    a = np.array([1.0, 0.0], np.float32)
    np.testing.assert_allclose(slerp(a, 2 * a, 0.5), [1.5, 0.0], atol=1e-6)  # parallel -> lerp
    c = np.array([10.0, 10.0], np.float32)
    mid = slerp(c + [1, 0], c + [0, 1], 0.5, center=c)
    assert abs(np.linalg.norm(mid - c) - 1.0) < 1e-5


def _varied_generator(tiny_model_factory):
    """An untrained DCGAN draws nearly the same grey face for every z; larger weights make faces differ."""
    import torch

    model = tiny_model_factory("dcgan")
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.generator.parameters():
            if p.ndim == 4:
                p.normal_(0.0, 0.25)
    return model


def test_inversion_finds_a_latent_that_reproduces_a_generated_face(tiny_model_factory):
    model = _varied_generator(tiny_model_factory)
    target_latent = model.seeds_to_latents([123])[0]
    target = model.decode(target_latent)[0]
    start_err = float(((model.decode(model.seeds_to_latents([0]))[0] / 255.0 - target / 255.0) ** 2).mean())
    seen = []
    z = invert_image(model, target, steps=60, progress=lambda s, n, loss: seen.append(loss))
    err = float(((model.decode(z)[0] / 255.0 - target / 255.0) ** 2).mean())
    assert len(seen) == 60
    assert err < start_err * 0.5


def test_inversion_can_be_cancelled(tiny_model_factory):
    import threading

    model = tiny_model_factory("dcgan")
    cancel = threading.Event()
    steps = []

    def progress(step, total, loss):
        steps.append(step)
        if step == 3:
            cancel.set()

    z = invert_image(model, model.sample(1, 0)[0], steps=100, progress=progress, cancel=cancel)
    assert z.shape == (model.latent_dim,) and len(steps) == 3
