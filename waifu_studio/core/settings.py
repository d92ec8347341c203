"""Declared settings: each training setting is declared once, on its dataclass field.

A :class:`Setting` is the whole story of one setting: its type, default and per-family defaults,
bounds or choices, help text, the families that use it, what a resumed run may do with it, its
command-line flag and its place in the app's form. ``config.py`` declares every field of its
dataclasses with :func:`setting`; the dataclasses validate themselves from the declarations, the
``train`` command builds its parser from them and the app builds its training form from them, so
the three cannot drift apart (nanoGPT's configurator, one step further).
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field
from typing import Any

from .errors import ConfigError

# What a resumed run may do with a setting.
FIXED = "fixed"  # the run is built on it (architecture, data, seed): a resume refuses a change
RECORDED = "recorded"  # may change; config.json keeps the new value for later resumes
SESSION = "session"  # may change for this session only (device, time budget); config.json keeps the old value

_KEY = "waifu_studio.setting"


class _Unset:
    """The default of a setting that has none (a dataclass's MISSING cannot be a field default)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
_MAX_TEXT = 4096  # a path or a policy; more is a damaged or hostile file
_shown = reprlib.Repr()
_shown.maxstring, _shown.maxother, _shown.maxlevel, _shown.maxlist = 40, 40, 2, 4


def show(value: Any) -> str:
    """A short, safe rendering of any value for a one-line message (deep nesting included)."""
    try:
        return _shown.repr(value)
    except ValueError:  # an int past Python's 4300-digit str() limit
        return "a number too long to print"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


@dataclass(frozen=True)
class Setting:
    """One declared setting. ``name`` and ``section`` are filled in by :func:`declared`."""

    kind: type  # int, float, bool, str, or tuple (of floats, ``length`` of them)
    help: str
    label: str = ""  # the app's label ("" : no place in the app's form)
    group: str = ""  # the app's group of fields
    default: Any = UNSET
    family_defaults: Mapping[str, Any] = field(default_factory=dict)
    gui_default: Any = UNSET  # the app's default where it differs from the CLI's (see gui_why)
    gui_why: str = ""
    families: tuple[str, ...] | None = None  # the families that use it (None: all)
    family_labels: Mapping[str, str] = field(default_factory=dict)
    choices: tuple[Any, ...] | None = None
    subset_of: tuple[str, ...] | None = None  # text: a comma-separated subset of these, in any order, or "none"
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    length: int = 0  # tuples only
    resume: str = FIXED
    why_fixed: str = ""  # why a resume may not change it
    flag: str | None = ""  # "": --name-with-dashes; None: not a command-line option (derived)
    metavar: str | tuple[str, ...] | None = None
    rule: Callable[[Any], str | None] | None = None  # a check beyond type, bounds and choices
    zero_text: str = ""  # what 0 means, where it means something else ("no limit")
    decimals: int = 3  # the app shows floats with this many significant digits at least
    name: str = ""
    section: str = ""  # "model", "train" or "data": the RunConfig part that holds it

    # ------------------------------------------------------------------ derived facts
    @property
    def cli_flag(self) -> str | None:
        if self.flag is None:
            return None
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def may_change_on_resume(self) -> bool:
        return self.resume != FIXED

    def used_by(self, family: str) -> bool:
        return self.families is None or family in self.families

    def default_for(self, family: str | None = None, *, gui: bool = False) -> Any:
        """The value a new run starts with: the app's default, the family's, or the plain one."""
        if gui and self.gui_default is not UNSET:
            return self.gui_default
        if family is not None and family in self.family_defaults:
            return self.family_defaults[family]
        return self.default

    def label_for(self, family: str) -> str:
        return self.family_labels.get(family, self.label)

    def range_text(self) -> str:
        """The allowed numbers in words ("2 to 1024", ">= 1", "> 0 to 1"), or "" when unbounded or a choice."""
        if self.kind not in (int, float, tuple) or self.choices is not None:
            return ""
        low = "" if self.minimum is None else f"{'>' if self.exclusive_minimum else ''}{_number(self.minimum)}"
        high = "" if self.maximum is None else f"{'<' if self.exclusive_maximum else ''}{_number(self.maximum)}"
        if low and high:
            return f"{low} to {high}"
        return f">= {low}" if low and not low.startswith(">") else low or (f"<= {high}" if high else "")

    # ------------------------------------------------------------------ checking values
    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable (one short phrase), or None when it is."""
        if self.kind is tuple:
            if not isinstance(value, list | tuple) or len(value) != self.length:
                return f"expected {self.length} numbers, got {show(value)}"
            for item in value:
                trouble = self.item_problem(item)
                if trouble:
                    return trouble
        elif self.kind is bool:
            if value is not True and value is not False:
                return f"expected true or false, got {show(value)}"
        elif self.kind is str:
            if not isinstance(value, str):
                return f"expected text, got {show(value)}"
            if len(value) > _MAX_TEXT or "\x00" in value:
                return f"expected a short text, got {show(value)}"
            if self.choices is not None and value not in self.choices:
                return f"expected one of {', '.join(map(str, self.choices))}; got {show(value)}"
            if self.subset_of is not None:
                try:
                    split_subset(value, self.subset_of)
                except ValueError as err:
                    return str(err)
        else:
            trouble = self._number_problem(value, self.kind)
            if trouble:
                return trouble
            if self.choices is not None and value not in self.choices:
                return f"expected one of {', '.join(map(str, self.choices))}; got {show(value)}"
        return self.rule(value) if self.rule is not None else None

    def item_problem(self, item: Any) -> str | None:
        """Why one number of a tuple setting is not acceptable, or None."""
        return self._number_problem(item, float)

    def _number_problem(self, value: Any, kind: type) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            what = "a whole number" if kind is int else "a number"
            return f"expected {what}, got {show(value)}"
        if kind is int and not isinstance(value, int):
            return f"expected a whole number, got {show(value)}"
        if kind is float:
            try:
                number = float(value)
            except OverflowError:  # an int past float range (JSON allows any length)
                number = math.inf
            if not math.isfinite(number):
                return f"expected a finite number, got {show(value)}"
        low, high = self.minimum, self.maximum
        if low is not None and (value <= low if self.exclusive_minimum else value < low):
            return f"expected a number {'>' if self.exclusive_minimum else '>='} {_number(low)}, got {show(value)}"
        if high is not None and (value >= high if self.exclusive_maximum else value > high):
            return f"expected a number {'<' if self.exclusive_maximum else '<='} {_number(high)}, got {show(value)}"
        return None

    def check(self, value: Any, where: str = "") -> Any:
        """``value`` made canonical (ints to floats for float settings, lists to tuples), or ConfigError."""
        trouble = self.problem(value)
        if trouble:
            raise ConfigError(f"{where}{self.name}: {trouble}")
        if self.kind is float:
            return float(value)
        if self.kind is tuple:
            return tuple(float(v) for v in value)
        return value


def split_subset(text: str, options: tuple[str, ...]) -> tuple[str, ...]:
    """'color, Translation' -> ('color', 'translation'); '' or 'none' -> (). ValueError for an unknown part."""
    if text.strip().lower() in ("", "none"):
        return ()
    parts = tuple(p.strip().lower() for p in text.split(",") if p.strip())
    unknown = [p for p in parts if p not in options]
    if unknown:
        raise ValueError(f"unknown {', '.join(map(show, unknown[:3]))}; choose from {', '.join(options)} or none")
    return parts


def setting(default: Any = UNSET, *, kind: type | None = None, **declaration: Any) -> Any:
    """A dataclass field that carries its :class:`Setting` declaration (its type is the default's)."""
    if kind is None:
        kind = type(default)
    decl = Setting(kind=kind, default=default, **declaration)
    return field(default=MISSING if default is UNSET else default, metadata={_KEY: decl})


def declared(cls: type) -> tuple[Setting, ...]:
    """The declared settings of a config dataclass, in field order, named."""
    cached = cls.__dict__.get("_declared_settings")
    if cached is None:
        section = getattr(cls, "SECTION", cls.__name__)
        cached = tuple(dataclasses.replace(f.metadata[_KEY], name=f.name, section=section)
                       for f in dataclasses.fields(cls) if _KEY in f.metadata)
        cls._declared_settings = cached  # type: ignore[attr-defined]
    return cached


def validate_fields(obj: Any) -> None:
    """Check every declared field of a frozen config dataclass and store its canonical value."""
    for decl in declared(type(obj)):
        value = decl.check(getattr(obj, decl.name))
        object.__setattr__(obj, decl.name, value)


def from_mapping(cls: type, data: Any, where: str) -> Any:
    """Build ``cls`` from JSON-like ``data``, refusing unknown keys, wrong types and bad values.

    Every failure is a one-line :class:`ConfigError` naming the setting, whatever ``data`` holds
    (deeply nested lists, nulls, huge numbers); ``where`` prefixes the names ("train.").
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where.rstrip('.') or 'the'} settings must be a JSON object, got {show(data)}")
    decls = {d.name: d for d in declared(cls)}
    unknown = [k for k in data if k not in decls]
    if unknown:
        names = ", ".join(where + (k if len(k) <= 40 else show(k)) for k in sorted(unknown)[:5])
        raise ConfigError(f"unknown setting(s) {names}{', ...' if len(unknown) > 5 else ''}")
    missing = [name for name, d in decls.items() if d.default is UNSET and name not in data]
    if missing:
        raise ConfigError(f"missing setting(s) {', '.join(where + m for m in missing)}")
    values = {name: decls[name].check(value, where) for name, value in data.items()}
    return cls(**values)
