"""What the app remembers across restarts (QSettings): model, tab, generator settings, morph endpoints,
window geometry. The state models say what is saved; this module only reads and writes settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from ..core.errors import ConfigError
from ..state.generator import GeneratorSettings
from ..state.morph import EndpointSource

MODEL_KEY = "state/model"
TAB_KEY = "state/tab"
GENERATOR_KEY = "state/generator"
MORPH_KEY = "state/morph"
GEOMETRY_KEY = "window/geometry"


def _json(settings: QSettings, key: str) -> Any:
    try:
        return json.loads(str(settings.value(key, "")))
    except ValueError:  # missing or damaged: start from the defaults
        return None


def save_generator(settings: QSettings, generator: GeneratorSettings) -> None:
    settings.setValue(GENERATOR_KEY, json.dumps({"seed": generator.seed, "side": generator.side,
                                                 "truncation": generator.truncation}))


def restore_generator(settings: QSettings, generator: GeneratorSettings) -> None:
    saved = _json(settings, GENERATOR_KEY)
    if isinstance(saved, dict):
        try:
            generator.update(seed=saved.get("seed"), side=saved.get("side"), truncation=saved.get("truncation"))
        except (ConfigError, TypeError, ValueError):
            pass  # a value from another version: keep the defaults


def save_endpoints(settings: QSettings, sources: dict[str, dict[str, Any]]) -> None:
    settings.setValue(MORPH_KEY, json.dumps(sources))


def restore_endpoints(settings: QSettings) -> dict[str, EndpointSource]:
    """The saved endpoint sources another start can make again (seeds, image files that still exist)."""
    saved = _json(settings, MORPH_KEY)
    out: dict[str, EndpointSource] = {}
    if not isinstance(saved, dict):
        return out
    for which, data in saved.items():
        try:
            source = EndpointSource.from_dict(data)
        except (KeyError, TypeError, ValueError):
            continue
        if which in ("A", "B") and source.remakeable and (source.kind != "file" or Path(str(source.path)).is_file()):
            out[which] = source
    return out


def saved_model_path(settings: QSettings) -> Path | None:
    value = settings.value(MODEL_KEY, "")
    path = Path(str(value)) if value else None
    return path if path is not None and path.is_file() else None


def save_window(settings: QSettings, geometry: QByteArray, tab: str, model_path: Path | None) -> None:
    settings.setValue(GEOMETRY_KEY, geometry)
    settings.setValue(TAB_KEY, tab)
    if model_path is not None:
        settings.setValue(MODEL_KEY, str(model_path))


def saved_geometry(settings: QSettings) -> QByteArray | None:
    value = settings.value(GEOMETRY_KEY)
    return value if isinstance(value, QByteArray) and not value.isEmpty() else None


def saved_tab(settings: QSettings) -> str:
    return str(settings.value(TAB_KEY, ""))
