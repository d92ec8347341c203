"""Checkpoints: one ``.safetensors`` file per model, weights plus JSON metadata.

Loading never unpickles anything: the header is parsed as JSON by us, the tensors by the
safetensors library, and every fact is checked before a model is built from it. Writes are
atomic (temp file, fsync, rename), so a crash mid-write leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ... import __version__
from ..config import FAMILIES, ModelConfig
from ..errors import CheckpointError, ConfigError
from ..models import FaceModel, build_model
from ..models.registry import build_meta_model
from .files import FileWriteError, atomic_write_bytes, file_sha256, open_regular

FORMAT_NAME = "waifu-studio-checkpoint"
# 2: an AE/VAE prior is a Gaussian mixture (``prior.*`` tensors, ``prior`` metadata). Format-1
# files (an AE's single Gaussian in ``prior_mean``/``prior_tril``, a VAE with none) still load.
FORMAT_VERSION = 2
# A real header is 4-10 KB (about 100 tensor entries); 1 MiB leaves a 100x margin and keeps a
# hostile header from costing more than a few MB of parsed JSON.
MAX_HEADER_BYTES = 1024 * 1024
# Buffers kept in fp32 even in an fp16 file: a prior's Cholesky factors lose too much in fp16.
_KEEP_FP32_PREFIXES = ("prior_", "prior.")
_SAFETENSORS_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint says about itself, without the weights."""

    path: Path
    family: str
    config: ModelConfig
    format_version: int
    project_version: str
    training: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    size_bytes: int = 0
    prior: dict[str, Any] = field(default_factory=dict)  # how an AE/VAE prior was fitted (prior_fit.py)
    weights_dtype: torch.dtype = torch.float32  # how the network weights are stored (fp16: bundled files)

    def describe(self) -> str:
        c = self.config
        return f"{self.family} {c.resolution}px, latent {c.latent_dim} ({self.path.name})"


def save_checkpoint(model: FaceModel, path: str | os.PathLike, *, dtype: torch.dtype = torch.float32,
                    training: dict[str, Any] | None = None) -> Path:
    """Save ``model`` for inference. ``dtype=torch.float16`` halves the file (bundled models)."""
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    for name, tensor in model.inference_state_dict().items():
        t = tensor.detach().to("cpu")
        if t.is_floating_point():
            t = t.float() if name.startswith(_KEEP_FP32_PREFIXES) else t.to(dtype)
        tensors[name] = t.contiguous()
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "family": model.config.family,
        "model_config": json.dumps(model.config.to_dict()),
        "training": json.dumps(training or {}),
        "project_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if model.prior is not None and model.prior.fit_report:
        metadata["prior"] = json.dumps(model.prior.fit_report)
    try:
        return atomic_write_bytes(path, save(tensors, metadata=metadata))
    except FileWriteError as err:
        raise CheckpointError(str(err)) from None


# safetensors dtype names: bytes per element, and which torch dtypes each may hold.
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
_FLOAT_NAMES = ("F32", "F16", "BF16")  # what save_checkpoint writes for floating-point tensors
_STORED_AS = {torch.int64: ("I64",)}  # integer buffers (batch-norm step counts) keep their type


def _refuse(path: Path, reason: str) -> CheckpointError:
    return CheckpointError(f"{path.name} is not a valid checkpoint: {reason}")


def _check_entry(path: Path, name: str, entry: Any) -> tuple[int, int, int]:
    """One tensor entry of the header -> (begin, end, bytes its shape needs), every field type-checked."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise CheckpointError(f"{path.name} has a malformed entry for tensor {name[:60]!r}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in _DTYPE_BYTES:
        raise _refuse(path, f"tensor {name[:60]!r} has an unknown dtype {str(dtype)[:20]!r}")
    ints = (shape, offsets)
    if not all(isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v)
               for v in ints) or len(offsets) != 2 or len(shape) > 8:
        raise _refuse(path, f"tensor {name[:60]!r} has a malformed shape or data offsets")
    numel = 1
    for side in shape:
        numel *= side
    return offsets[0], offsets[1], numel * _DTYPE_BYTES[dtype]


def _read_header(path: Path) -> tuple[dict[str, Any], int, int]:
    """Parse the safetensors header ourselves so every refusal can say exactly what is wrong.

    Returns (header, header length, file size). Every tensor entry is type-checked and the data
    offsets must tile the data section exactly, so the file holds nothing but the declared tensors.
    """
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    try:
        with open_regular(path) as fh:  # a FIFO or a device is refused, never waited on
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{path.name} is not a checkpoint: the file is empty or truncated ({size} bytes)")
            (header_len,) = struct.unpack("<Q", head)
            plausible = 0 < header_len <= MAX_HEADER_BYTES and 8 + header_len <= size
            raw = fh.read(header_len) if plausible else b""
    except OSError as err:
        raise CheckpointError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        header = json.loads(raw) if plausible else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    except RecursionError:
        raise _refuse(path, "its header is nested too deeply") from None
    if header is None:
        # Only now look for pickle signatures: a valid header length can start with these bytes too.
        if head[:2] == b"PK" or (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")):
            raise CheckpointError(
                f"{path.name} is a PyTorch pickle (.pt) file, which can run code when opened; "
                "Waifu Studio only opens .safetensors checkpoints")
        if header_len == 0 or header_len > MAX_HEADER_BYTES:
            raise CheckpointError(
                f"{path.name} is not a safetensors checkpoint (header length {header_len} is impossible)")
        if 8 + header_len > size:
            raise CheckpointError(f"{path.name} is truncated: its header says {header_len} bytes, the file has {size}")
        raise CheckpointError(f"{path.name} is not a safetensors checkpoint (its header is not JSON)")
    if not isinstance(header, dict):
        raise CheckpointError(f"{path.name} is not a safetensors checkpoint (malformed header)")
    spans = sorted(_check_entry(path, name, entry) for name, entry in header.items() if name != "__metadata__")
    data_len = max((end for _, end, _ in spans), default=0)
    if 8 + header_len + data_len > size:
        raise CheckpointError(f"{path.name} is truncated: it needs {8 + header_len + data_len} bytes, has {size}")
    position = 0
    for begin, end, needed in spans:
        if begin != position or end - begin != needed:
            raise _refuse(path, "its tensors' data offsets do not match their shapes (overlap, gap or wrong size)")
        position = end
    if 8 + header_len + data_len != size:
        raise _refuse(path, f"{size - 8 - header_len - data_len:,} bytes follow the last tensor")
    return header, header_len, size


def _metadata(path: Path, header: dict[str, Any]) -> dict[str, str]:
    """The ``__metadata__`` block: a JSON object of strings (the safetensors format), or a refusal."""
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _refuse(path, "its metadata is not a set of text fields")
    return meta


def _json_field(path: Path, meta: dict[str, str], key: str, default: str) -> Any:
    what = key.replace("_", " ")
    try:
        return json.loads(meta.get(key, default))
    except json.JSONDecodeError:
        raise CheckpointError(f"{path.name} has an invalid {what}: not JSON") from None
    except RecursionError:
        raise CheckpointError(f"{path.name} has an invalid {what}: nested too deeply") from None


def read_info(path: str | os.PathLike) -> CheckpointInfo:
    """Read and validate a checkpoint's metadata (cheap: no weights are loaded)."""
    path = Path(path)
    header, _, size = _read_header(path)
    meta = _metadata(path, header)
    if meta.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{path.name} is a safetensors file but not a Waifu Studio checkpoint (no model metadata)")
    version_text = meta.get("format_version", "")
    if not (version_text.isascii() and version_text.isdigit() and len(version_text) <= 6) or int(version_text) < 1:
        raise CheckpointError(f"{path.name} has an unreadable format version {version_text[:20]!r}")
    version = int(version_text)
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path.name} was made by a newer Waifu Studio (checkpoint format {version}); "
                              f"this version ({__version__}) reads format {FORMAT_VERSION}: please upgrade")
    family = meta.get("family", "")
    if family not in FAMILIES:
        raise CheckpointError(f"{path.name} holds an unknown model family {family[:40]!r}; "
                              f"known: {', '.join(FAMILIES)}")
    stated = _json_field(path, meta, "model_config", "null")
    if not isinstance(stated, dict):
        raise CheckpointError(f"{path.name} has an invalid model config: not a JSON object")
    try:
        config = ModelConfig.from_dict(stated)
    except (ConfigError, TypeError, ValueError, OverflowError) as err:
        raise CheckpointError(f"{path.name} has an invalid model config: {err}") from None
    prior = _json_field(path, meta, "prior", "{}")
    if config.family != family:
        raise CheckpointError(f"{path.name} is inconsistent: family {family!r} but config says {config.family!r}")
    training = _json_field(path, meta, "training", "{}")
    return CheckpointInfo(path=path, family=family, config=config, format_version=version,
                          project_version=meta.get("project_version", "?"),
                          training=training if isinstance(training, dict) else {},  # descriptive only
                          created=meta.get("created", ""), size_bytes=size,
                          prior=prior if isinstance(prior, dict) else {}, weights_dtype=_weights_dtype(header))


def _weights_dtype(header: dict[str, Any]) -> torch.dtype:
    """The storage type of the network's floating-point weights (a prior stays fp32 in any file)."""
    for name, entry in header.items():
        if name != "__metadata__" and not name.startswith(_KEEP_FP32_PREFIXES):
            dtype = _SAFETENSORS_DTYPES.get(str(entry.get("dtype")))
            if dtype is not None:
                return dtype
    return torch.float32


def _check_tensors_match(info: CheckpointInfo, header: dict[str, Any]) -> None:
    """The header's tensors are exactly those of the stated architecture, in compatible dtypes.

    Checked on shapes alone: the model is built on PyTorch's "meta" device and the header's
    entries become meta tensors (no memory), adapted as a load adapts them (a prior's shapes come
    from its fit; format-1 files name it otherwise). So a small file that states a huge model, or
    tensors relabelled to another dtype, is refused before any weight is read.
    """
    try:
        model = build_meta_model(info.config)
    except ConfigError as err:
        raise CheckpointError(f"{info.path.name} states a model too large to load: {err}") from None
    entries = {name: entry for name, entry in header.items() if name != "__metadata__"}
    stored = {name: torch.empty(entry["shape"], device="meta") for name, entry in entries.items()}
    try:
        model.prepare_state(stored)
    except CheckpointError as err:
        raise CheckpointError(f"{info.path.name}: {err}") from None
    expected = model.inference_state_dict()
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    wrong = sorted(k for k in set(expected) & set(stored) if stored[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s) such as {missing[0]!r}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensor(s) such as {unexpected[0][:60]!r}")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} with wrong shapes, e.g. {k!r} is {tuple(stored[k].shape)}, "
                         f"expected {tuple(expected[k].shape)}")
        raise CheckpointError(f"{info.path.name} does not match its stated config ({info.describe()}): "
                              + "; ".join(parts))
    for name, entry in entries.items():
        if name not in expected:
            continue  # a format-1 prior, renamed by the adaptation above (its shapes were checked there)
        dtype = expected[name].dtype
        allowed = _FLOAT_NAMES if dtype.is_floating_point else _STORED_AS.get(dtype, ())
        if entry["dtype"] not in allowed:
            raise CheckpointError(f"{info.path.name} stores tensor {name!r} as {entry['dtype']}, "
                                  f"expected {' or '.join(allowed) or dtype}; it was altered or is damaged")


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32) -> FaceModel:
    """Build the model a checkpoint describes and load its weights; refuse anything suspicious.

    The returned model is in eval mode and carries ``model.checkpoint_info`` and
    ``model.checkpoint_sha256`` (the content it was loaded from, hashed before it was read: a file
    replaced later, such as a training run's checkpoint, does not change what the model says it is).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    info = read_info(path)
    header, _, size = _read_header(path)
    _check_tensors_match(info, header)
    try:
        sha256 = file_sha256(path)  # hashed before it is read: a file replaced later keeps this identity
        # The tensors, now known to be the architecture's (checked above), are mapped by the
        # safetensors library (nothing is unpickled) from the descriptor open_regular checked:
        # /dev/fd/N reopens that very file, so a FIFO swapped in since cannot block the load.
        with open_regular(path) as fh:
            if os.fstat(fh.fileno()).st_size != size:
                raise CheckpointError(f"{info.path.name} changed while it was being opened")
            tensors = load_file(f"/dev/fd/{fh.fileno()}", device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{info.path.name} is damaged: {str(err).splitlines()[0] if str(err) else err}") from None
    model = build_model(info.config)
    try:
        model.prepare_state(tensors)  # a prior's shapes come from its fit; older files store it otherwise
    except CheckpointError as err:
        raise CheckpointError(f"{info.path.name}: {err}") from None
    expected = model.inference_state_dict()
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{info.path.name} contains NaN or infinite weights (in {name!r}); "
                                  "it probably comes from a run that diverged")
    state = {k: v.to(expected[k].dtype) for k, v in tensors.items()}
    model.load_state_dict(state, strict=True)
    model.to(device=device)
    if dtype != torch.float32:
        model.to(dtype=dtype)
    model.eval()
    if model.prior is not None:
        model.prior.fit_report = dict(info.prior)
    model.checkpoint_info = info  # type: ignore[attr-defined]
    model.checkpoint_sha256 = sha256  # type: ignore[attr-defined]
    return model
