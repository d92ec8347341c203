"""``train_state.pt``: read with a size cap and PyTorch's safe loader, then checked field by field.

A resumed run trusts nothing in the file: every key, type, shape and range is compared with what
the run being resumed expects (its freshly built model and objective, its data set) before any
of it is used, and each refusal is one line that says what is wrong. The file is a zip archive
(``torch.save``); an entry stored compressed could expand to gigabytes, so only stored entries
whose total fits the cap are accepted, and the cap follows from the run's own size.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import WaifuError
from ..io.files import read_regular_bytes

REQUIRED_KEYS = frozenset({"model", "objective", "step", "elapsed", "data_rng", "perm", "torch_rng"})
OPTIONAL_KEYS = frozenset({"cuda_rng"})
MAX_STEP = 2**53  # a float64 still counts steps exactly up to here


class StateRefused(Exception):
    """Why a ``train_state.pt`` cannot be used (the Trainer turns it into "cannot resume X: ...")."""


def state_size_limit(modules: list[nn.Module], faces: int) -> int:
    """Largest plausible ``train_state.pt`` for a run: its weights about four times over (weights,
    Adam's two moments, a GAN's averaged copy), the data order (8 bytes per face) and 64 MiB of
    slack for RNG states, batch-norm statistics and the archive's own overhead."""
    weights = sum(t.numel() * t.element_size() for m in modules for t in m.state_dict().values())
    return 4 * weights + 8 * faces + 64 * 2**20


def read_state(path: Path, limit: int) -> dict[str, Any]:
    """Load ``path`` with ``weights_only=True`` after checking its size and archive entries."""
    try:
        data = read_regular_bytes(path, limit)
    except OSError as err:
        raise StateRefused(f"cannot read {path.name}: {err.strerror or err}") from None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise StateRefused(f"{path.name} is damaged or not a training state ({err})") from None
    if any(e.compress_type != zipfile.ZIP_STORED for e in entries):
        raise StateRefused(f"{path.name} holds compressed entries, which Waifu Studio never writes")
    if sum(e.file_size for e in entries) > limit:
        raise StateRefused(f"{path.name} declares more data than a state of this run can hold")
    try:
        # weights_only=True: the restricted unpickler that rebuilds tensors and plain containers only.
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure here means a damaged or hostile file
        raise StateRefused(f"{path.name} is damaged or unsafe ({one_line(err)})") from None
    if not isinstance(state, dict):
        raise StateRefused(f"{path.name} is not a training state (it holds a {type(state).__name__})")
    return state


def one_line(err: BaseException) -> str:
    """A one-line summary of an error whose message may run to paragraphs (PyTorch's loader's do)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    telling = [line for line in lines if "Unsupported" in line or "error" in line.lower()]
    detail = (telling or lines or [""])[0]
    return f"{type(err).__name__}: {detail[:200]}" if detail else type(err).__name__


def check_state(state: dict[str, Any], *, model: nn.Module, objective_state: dict[str, Any],
                modules: Mapping[str, nn.Module], optimizers: Mapping[str, torch.optim.Optimizer],
                faces: int) -> None:
    """Raise :class:`StateRefused` unless ``state`` fits this run exactly.

    ``objective_state`` is the freshly built objective's own ``state_dict()``: the loaded one must
    have the same keys, and its modules and optimizers the shapes of ``modules`` / ``optimizers``.
    """
    keys = set(state)
    if not REQUIRED_KEYS <= keys or keys - REQUIRED_KEYS - OPTIONAL_KEYS:
        missing, extra = sorted(REQUIRED_KEYS - keys), sorted(map(str, keys - REQUIRED_KEYS - OPTIONAL_KEYS))
        problems = [f"no {', '.join(missing)}"] if missing else []
        problems += [f"unknown keys {', '.join(extra)[:80]}"] if extra else []
        raise StateRefused("train_state.pt has " + "; ".join(problems))
    step, elapsed = state["step"], state["elapsed"]
    if not _is_int(step) or not 0 <= step <= MAX_STEP:
        raise StateRefused(f"its step {_show(step)} is not a whole number >= 0")
    if not _is_number(elapsed) or not math.isfinite(elapsed) or elapsed < 0:
        raise StateRefused(f"its elapsed time {_show(elapsed)} is not a finite number >= 0")
    _check_rng("data_rng", state["data_rng"], torch.Generator().get_state())
    _check_rng("torch_rng", state["torch_rng"], torch.get_rng_state())
    cuda_rng = state.get("cuda_rng", torch.zeros(1, dtype=torch.uint8))
    if not (isinstance(cuda_rng, torch.Tensor) and cuda_rng.dtype == torch.uint8 and cuda_rng.dim() == 1):
        raise StateRefused("its cuda_rng is not an RNG state")
    perm = state["perm"]
    if not isinstance(perm, torch.Tensor) or perm.dtype != torch.int64 or perm.dim() != 1:
        raise StateRefused("its data order (perm) is not a list of face indices")
    if len(perm) != faces:
        raise StateRefused(f"the data set changed size ({len(perm)} -> {faces} faces)")
    if not torch.equal(torch.sort(perm).values, torch.arange(faces)):
        raise StateRefused("its data order (perm) is not a permutation of the faces")
    check_module("model", state["model"], model)
    loaded = state["objective"]
    if not isinstance(loaded, dict) or set(loaded) != set(objective_state):
        raise StateRefused("its objective state does not fit this model family")
    for key, reference in objective_state.items():
        if key not in ("modules", "optimizers") and type(loaded[key]) is not type(reference):
            raise StateRefused(f"its objective setting {key!r} has the wrong type")
    if not isinstance(loaded["modules"], dict) or set(loaded["modules"]) != set(modules):
        raise StateRefused("its objective modules do not fit this model family")
    for name, module in modules.items():
        check_module(f"objective module {name!r}", loaded["modules"][name], module)
    if not isinstance(loaded["optimizers"], dict) or set(loaded["optimizers"]) != set(optimizers):
        raise StateRefused("its optimizers do not fit this model family")
    for name, optimizer in optimizers.items():
        _check_optimizer(name, loaded["optimizers"][name], optimizer)


def check_module(what: str, loaded: Any, module: nn.Module) -> None:
    """``loaded`` fits ``module``: first adapted as a load adapts it (a face model's prior takes its
    shapes from its fit, and older states name it otherwise), then checked by :func:`check_tensors`."""
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise StateRefused(f"its {what} weights are not a set of tensors")
    prepare = getattr(module, "prepare_state", None)
    if prepare is not None:
        try:
            prepare(loaded)
        except WaifuError as err:
            raise StateRefused(f"its {what} weights do not match config.json ({err})") from None
    check_tensors(what, loaded, module.state_dict())


def check_tensors(what: str, loaded: Any, expected: Mapping[str, torch.Tensor]) -> None:
    """``loaded`` is a dict with exactly ``expected``'s names, shapes and kinds, and finite floats."""
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise StateRefused(f"its {what} weights are not a set of tensors")
    missing, extra = sorted(set(expected) - set(loaded)), sorted(map(str, set(loaded) - set(expected)))
    if missing or extra:
        example = (missing or extra)[0]
        raise StateRefused(f"its {what} weights do not match config.json "
                           f"({'missing' if missing else 'unexpected'} {example[:60]!r})")
    for name, reference in expected.items():
        tensor = loaded[name]
        if tensor.shape != reference.shape or tensor.is_floating_point() != reference.is_floating_point():
            raise StateRefused(f"its {what} weights do not match config.json ({name!r} is {tuple(tensor.shape)} "
                               f"{tensor.dtype}, the run needs {tuple(reference.shape)} {reference.dtype})")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise StateRefused(f"its {what} weights contain NaN or infinite values (in {name!r})")


def _check_optimizer(name: str, loaded: Any, optimizer: torch.optim.Optimizer) -> None:
    """An Adam state: same groups and parameter counts as ``optimizer``, moments shaped like the parameters."""
    groups = optimizer.param_groups
    if not isinstance(loaded, dict) or set(loaded) != {"state", "param_groups"} \
            or not isinstance(loaded["param_groups"], list) or len(loaded["param_groups"]) != len(groups):
        raise StateRefused(f"its optimizer {name!r} does not fit this model")
    params: list[torch.Tensor] = []
    for group, reference in zip(loaded["param_groups"], groups, strict=True):
        # Hyper-parameter keys are not compared: another PyTorch version may add or drop some.
        if not isinstance(group, dict) or len(group) > 32 or not isinstance(group.get("params"), list) \
                or len(group["params"]) != len(reference["params"]):
            raise StateRefused(f"its optimizer {name!r} does not fit this model")
        for key, value in group.items():
            if key != "params" and not _plain_setting(value):
                raise StateRefused(f"its optimizer {name!r} has an invalid {key!r}")
        params += reference["params"]
    ids = [i for group in loaded["param_groups"] for i in group["params"]]
    if not all(_is_int(i) for i in ids) or len(set(ids)) != len(params):
        raise StateRefused(f"its optimizer {name!r} has invalid parameter ids")
    shapes = dict(zip(ids, (p.shape for p in params), strict=True))
    state = loaded["state"]
    if not isinstance(state, dict) or not set(state) <= set(shapes):
        raise StateRefused(f"its optimizer {name!r} has state for unknown parameters")
    for index, slots in state.items():
        if not isinstance(slots, dict) or not all(isinstance(v, torch.Tensor) for v in slots.values()):
            raise StateRefused(f"its optimizer {name!r} has a malformed state")
        for slot, tensor in slots.items():
            if tensor.shape not in (shapes[index], torch.Size([])) or not tensor.is_floating_point() \
                    or not bool(torch.isfinite(tensor).all()):
                raise StateRefused(f"its optimizer {name!r} state {str(slot)[:30]!r} does not fit its parameter")


def _check_rng(name: str, value: Any, reference: torch.Tensor) -> None:
    if not isinstance(value, torch.Tensor) or value.dtype != torch.uint8 or value.shape != reference.shape:
        raise StateRefused(f"its {name} is not an RNG state of this PyTorch ({reference.numel()} bytes)")


def _plain_setting(value: Any) -> bool:
    """An optimizer hyper-parameter: a finite number, a bool, None, or a tuple/list of those (Adam has
    no text settings, so a string is refused too)."""
    if isinstance(value, (tuple, list)):
        return len(value) <= 8 and all(_plain_setting(v) for v in value)
    if isinstance(value, torch.Tensor):
        return value.numel() == 1 and bool(torch.isfinite(value).all())
    return value is None or isinstance(value, bool) or (_is_number(value) and math.isfinite(value))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(value: Any) -> str:
    return repr(value)[:40]
