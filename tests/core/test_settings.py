"""One declaration per setting: the dataclasses validate from it, config.json round-trips it, resume obeys it.

Parametrised over the declarations, so a new setting is covered without a new test.
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from tests.core.settings_samples import family_using, sample_value
from waifu_studio.cli.train import cli_settings, new_run_config
from waifu_studio.core.config import (
    FAMILIES,
    SETTING_GROUPS,
    SETTINGS,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from waifu_studio.core.errors import ConfigError
from waifu_studio.core.settings import FIXED, RECORDED, SESSION, UNSET, show
from waifu_studio.core.training import recorded_config, resumed_config

CLI = cli_settings()


def _ids(decls):
    return [f"{d.section}.{d.name}" for d in decls]


def test_every_field_of_the_configs_is_declared():
    for cls in (ModelConfig, TrainConfig, DataConfig):
        declared = {d.name for d in SETTINGS if d.section == cls.SECTION}
        assert declared == {f.name for f in dataclasses.fields(cls)}, cls.__name__


@pytest.mark.parametrize("decl", SETTINGS, ids=_ids(SETTINGS))
def test_a_declaration_is_complete_and_its_defaults_are_valid(decl):
    assert decl.help and decl.resume in (FIXED, RECORDED, SESSION)
    assert decl.resume != FIXED or decl.why_fixed, "a refused change must say why"
    if decl.cli_flag is not None:
        assert decl.group in SETTING_GROUPS and (decl.label or decl.group == "Faces")
    assert all(f in FAMILIES for f in decl.families or ())
    for value in [decl.default, decl.gui_default, *decl.family_defaults.values()]:
        if value is not UNSET:
            assert decl.problem(value) is None, value


@pytest.mark.parametrize("decl", CLI, ids=_ids(CLI))
def test_every_option_round_trips_through_config_json(decl, tmp_path):
    value = sample_value(decl, folder=str(tmp_path))
    given = {"family": family_using(decl), "source": "builtin", decl.name: value}
    config = new_run_config(given)
    assert getattr(getattr(config, decl.section), decl.name) == value
    reread = RunConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert reread == config


@pytest.mark.parametrize("decl", CLI, ids=_ids(CLI))
def test_resume_applies_records_or_refuses_each_option(decl, tmp_path):
    stored = new_run_config({"family": family_using(decl), "source": "builtin"})
    value = sample_value(decl, folder=str(tmp_path))
    if not decl.may_change_on_resume:
        with pytest.raises(ConfigError) as refused:
            resumed_config(stored, {decl.name: value})
        message = str(refused.value)
        assert f"{decl.cli_flag} cannot change when resuming" in message and decl.why_fixed in message
        assert "\n" not in message
        assert resumed_config(stored, {decl.name: getattr(getattr(stored, decl.section), decl.name)}) == stored
        return
    resumed = resumed_config(stored, {decl.name: value})
    assert getattr(getattr(resumed, decl.section), decl.name) == value
    kept = getattr(getattr(recorded_config(stored, resumed), decl.section), decl.name)
    assert kept == (value if decl.resume == RECORDED else getattr(getattr(stored, decl.section), decl.name))


def test_the_app_default_differs_only_where_declared():
    assert TrainConfig().sample_every == 500
    [decl] = [d for d in SETTINGS if d.gui_default is not UNSET]
    assert decl.name == "sample_every" and decl.default_for("ae", gui=True) == 100 and decl.gui_why


HOSTILE_VALUES = [
    ("model", "latent_dim", "64", "expected a whole number, got '64'"),
    ("model", "latent_dim", "0x40", "expected a whole number"),
    ("model", "latent_dim", 64.5, "expected a whole number, got 64.5"),
    ("model", "latent_dim", True, "expected a whole number, got True"),
    ("model", "latent_dim", None, "expected a whole number, got None"),
    ("model", "latent_dim", 4096, "expected a number <= 1024"),
    ("model", "width", 1024, "expected a number <= 128"),
    ("model", "extra_convs", 5, "expected a number <= 4"),
    ("model", "latent_dim", 10**5000, "expected a number <= 1024, got a number too long to print"),
    ("model", "family", "gan", "expected one of ae, vae, dcgan, wgan-gp"),
    ("model", "resolution", 48, "expected one of 32, 64"),
    ("train", "lr", math.nan, "expected a finite number, got nan"),
    ("train", "lr", math.inf, "expected a finite number, got inf"),
    ("train", "lr", 10**400, "expected a finite number"),
    ("train", "lr", "1e-3", "expected a number, got '1e-3'"),
    ("train", "lr", 0, "expected a number > 0, got 0"),
    ("train", "batch_size", 2.5, "expected a whole number, got 2.5"),
    ("train", "hflip", "no", "expected true or false, got 'no'"),
    ("train", "hflip", 0, "expected true or false, got 0"),
    ("train", "betas", [2, 2], "expected a number < 1, got 2"),
    ("train", "betas", [0.5], "expected 2 numbers, got [0.5]"),
    ("train", "betas", [math.nan, 0.9], "expected a finite number, got nan"),
    ("train", "seed", 18446744073709551616, "expected a number <= 2147483647"),
    ("train", "gp_weight", -1, "expected a number >= 0, got -1"),
    ("train", "sample_count", 10**9, "expected a number <= 256"),
    ("train", "ema_decay", 1.0, "expected a number < 1, got 1.0"),
    ("train", "augment", "blur", "unknown 'blur'"),
    ("train", "device", "tpu", "unknown device 'tpu'"),
    ("train", "device", "x" * 10_000, "expected a short text"),
    ("data", "builtin_count", 10**9, "expected a number <= 50000"),
    ("data", "source", "a\x00b", "expected a short text"),
]


@pytest.mark.parametrize("section, name, value, phrase", HOSTILE_VALUES,
                         ids=[f"{s}.{n}-{i}" for i, (s, n, _v, _p) in enumerate(HOSTILE_VALUES)])
def test_a_bad_value_is_one_line_naming_the_setting(section, name, value, phrase):
    document = RunConfig(ModelConfig("vae")).to_dict()
    document[section][name] = value
    with pytest.raises(ConfigError) as refused:
        RunConfig.from_dict(document)
    message = str(refused.value)
    assert message.startswith(f"{section}.{name}: ") and phrase in message, show(message)
    assert "\n" not in message and len(message) < 300


def _deep(depth):
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_DOCUMENTS = [
    (_deep(200_000), "a run config must be a JSON object"),
    (None, "a run config must be a JSON object, got None"),
    ({"model": {"family": "ae"}, "train": {}}, "missing data"),
    ({"model": {"family": "ae"}, "train": {}, "data": {}, "extra": 1}, "unknown ['extra']"),
    ({"model": _deep(200_000), "train": {}, "data": {}}, "model settings must be a JSON object"),
    ({"model": {"family": _deep(200_000)}, "train": {}, "data": {}}, "model.family: expected text"),
    ({"model": {}, "train": {}, "data": {}}, "missing setting(s) model.family"),
    ({"model": {"family": "ae", "depth": 3}, "train": {}, "data": {}}, "unknown setting(s) model.depth"),
    ({"model": {"family": "ae"}, "train": {"lr": {"a": 1}}, "data": {}}, "train.lr: expected a number"),
    ({"model": {"family": "ae", "resolution": 32}, "train": {}, "data": {}}, "data.resolution 64 differs"),
    ({"model": {"family": "ae"}, "train": {"real_label": 0.1, "fake_label": 0.5}, "data": {}}, "fake < real"),
]


@pytest.mark.parametrize("document, phrase", HOSTILE_DOCUMENTS, ids=[p for _, p in HOSTILE_DOCUMENTS])
def test_a_hostile_document_is_one_line_never_a_traceback(document, phrase):
    with pytest.raises(ConfigError) as refused:
        RunConfig.from_dict(document)
    message = str(refused.value)
    assert phrase in message and "\n" not in message and len(message) < 300, message


def test_values_are_made_canonical():
    train = TrainConfig.from_dict({"lr": 1, "betas": [0, 0.9]})
    assert train.lr == 1.0 and isinstance(train.lr, float) and train.betas == (0.0, 0.9)
    assert TrainConfig(augment="Color, translation").augment  # case and spaces are forgiven


MODEL_CONFIG_VALUES = [("latent_dim", "64", "expected a whole number, got '64'"),
                       ("latent_dim", 64.5, "expected a whole number, got 64.5"),
                       ("latent_dim", "0x40", "expected a whole number, got '0x40'"),
                       ("width", math.nan, "expected a whole number, got nan"),
                       ("width", 1e400, "expected a whole number, got inf"),
                       ("width", 1024, "expected a number <= 128, got 1024"),
                       ("extra_convs", True, "expected a whole number, got True"),
                       ("resolution", None, "expected a whole number, got None")]


@pytest.mark.parametrize("key, value, phrase", MODEL_CONFIG_VALUES, ids=[f"{k}={v}" for k, v, _ in MODEL_CONFIG_VALUES])
def test_a_checkpoint_model_config_with_a_bad_value_is_refused_in_one_line(key, value, phrase, tiny_checkpoint):
    """The same declared checks guard a checkpoint's stated architecture, before any model is built."""
    import struct

    from waifu_studio.core.errors import CheckpointError
    from waifu_studio.core.io.checkpoint import read_info

    path = tiny_checkpoint("vae")
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    model_config = json.loads(header["__metadata__"]["model_config"])
    model_config[key] = value
    header["__metadata__"]["model_config"] = json.dumps(model_config)  # NaN and Infinity: Python's JSON
    body = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(body)) + body + raw[8 + length:])
    with pytest.raises(CheckpointError) as refused:
        read_info(path)
    message = str(refused.value)
    assert f"model.{key}: {phrase}" in message and "\n" not in message, message
