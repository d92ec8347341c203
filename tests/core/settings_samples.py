"""A valid value other than the default for any declared setting, so tests cover a new setting by themselves."""

from __future__ import annotations

from typing import Any

from waifu_studio.core.settings import Setting


def family_using(decl: Setting) -> str:
    """A family that uses ``decl`` (the vae when every family does)."""
    return decl.families[0] if decl.families else "vae"


def sample_value(decl: Setting, family: str | None = None, folder: str = "") -> Any:
    """A valid value different from what a new run of ``family`` starts with (``folder``: for the data source)."""
    family = family or family_using(decl)
    start = decl.default_for(family)
    if decl.name == "family":
        return "dcgan"
    if decl.name == "source":
        return folder
    if decl.name == "device":
        return "cpu"
    if decl.choices is not None:
        return next(c for c in decl.choices if c != start)
    if decl.subset_of is not None:
        return ",".join(reversed(decl.subset_of[:2]))  # an order other than the declared one
    if decl.kind is bool:
        return not start
    if decl.kind is tuple:
        return tuple(0.25 + 0.5 * i / max(1, decl.length - 1) for i in range(decl.length))
    if decl.kind is int:
        return start + 1 if decl.maximum is None or start + 1 <= decl.maximum else start - 1
    if decl.kind is float:
        return start / 2 if start else min(0.5, (decl.maximum or 1.0) / 2)
    raise AssertionError(f"no sample for {decl.name}")


