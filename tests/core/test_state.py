"""The explorer's Qt-free state models: their rules and their events."""

from __future__ import annotations

import numpy as np
import pytest

from waifu_studio.core.errors import ConfigError
from waifu_studio.core.models.seeds import MAX_SEED
from waifu_studio.state.current_face import CurrentFace
from waifu_studio.state.generator import GeneratorSettings
from waifu_studio.state.model import CurrentModel, ModelIdentity
from waifu_studio.state.morph import Endpoint, EndpointSource, MorphState, rebind_action


def test_a_seed_always_fits_the_grid_from_the_start():
    settings = GeneratorSettings(side=4)
    assert settings.max_seed == MAX_SEED - 15  # seeds S..S+15 must all be valid
    settings.update(seed=MAX_SEED - 15)
    assert settings.seeds()[-1] == MAX_SEED
    settings.update(side=8)  # a bigger grid pulls the seed back so every face is a valid seed
    assert settings.seeds()[-1] == MAX_SEED and settings.seed == MAX_SEED - 63
    with pytest.raises(ConfigError, match="seed must be between"):
        settings.update(seed=MAX_SEED + 1)


def test_settings_fire_one_event_per_change_and_none_for_no_change():
    settings, events = GeneratorSettings(), []
    settings.changed.connect(lambda: events.append(settings.seed))
    settings.update(seed=7, truncation=0.5)
    settings.update(seed=7)
    assert events == [7] and settings.truncation == 0.5
    with pytest.raises(ConfigError, match="truncation"):
        settings.update(truncation=2.0)


def test_model_identity_is_the_checkpoint_content(tiny_checkpoint, tiny_model_factory, tmp_path):
    path = tiny_checkpoint("dcgan")
    model = tiny_model_factory("dcgan")
    same = ModelIdentity.of(model, path)
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(path.read_bytes())
    assert ModelIdentity.of(model, copy).key == same.key  # same bytes, same model
    other = tiny_checkpoint("wgan-gp", name="w.safetensors")
    assert ModelIdentity.of(model, other).key != same.key
    assert same.key.startswith("sha256:") and same.name == path.name


def _end(kind: str, key: str, **source) -> Endpoint:
    face = np.zeros((2, 2, 3), np.uint8)
    return Endpoint(EndpointSource(kind, "x", **source), key, key, np.zeros(4, np.float32), face)


def test_on_a_model_switch_seeds_are_remade_files_encoded_or_inverted_others_stay_foreign():
    assert rebind_action(_end("seed", "m1", seed=3), "m1", False) == "keep"
    assert rebind_action(_end("seed", "m1", seed=3), "m2", False) == "decode_seed"
    assert rebind_action(_end("file", "m1", path="a.png"), "m2", True) == "encode_file"
    assert rebind_action(_end("file", "m1", path="a.png"), "m2", False) == "invert_file"
    assert rebind_action(_end("map", "m1"), "m2", True) == "foreign"
    assert rebind_action(_end("edited", "m1"), "m2", True) == "foreign"


def test_only_two_endpoints_of_the_current_model_make_a_morph():
    morph, changed = MorphState(), []
    morph.changed.connect(changed.append)
    morph.set("a", _end("seed", "m1", seed=1))
    morph.set("B", _end("map", "m2"))
    assert changed == ["A", "B"]
    assert morph.pair_for("m1") is None and morph.pair_for("m2") is None  # a latent is never decoded by another
    morph.set("B", _end("seed", "m1", seed=2))
    assert morph.pair_for("m1") is not None
    assert morph.sources() == {"A": {"kind": "seed", "label": "x", "seed": 1}, "B": {"kind": "seed", "label": "x",
                                                                                       "seed": 2}}
    with pytest.raises(ValueError):
        morph.set("C", None)


def test_the_current_face_is_only_offered_to_its_model():
    face, model = CurrentFace(), CurrentModel()
    face.set(np.ones(4), "m1", "seed 3")
    assert face.latent_for("m1") is not None and face.latent_for("m2") is None
    seen = []
    model.changed.connect(seen.append)
    model.set(None)
    assert seen == [None] and model.key is None
