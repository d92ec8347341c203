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
from .files import FileWriteError, atomic_write_bytes, file_sha256

FORMAT_NAME = "waifu-studio-checkpoint"
# 2: an AE/VAE prior is a Gaussian mixture (``prior.*`` tensors, ``prior`` metadata). Format-1
# files (an AE's single Gaussian in ``prior_mean``/``prior_tril``, a VAE with none) still load.
FORMAT_VERSION = 2
MAX_HEADER_BYTES = 64 * 1024 * 1024  # a real header is a few KB; refuse absurd lengths before reading
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


def _read_header(path: Path) -> tuple[dict[str, Any], int]:
    """Parse the safetensors header ourselves so every refusal can say exactly what is wrong."""
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
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
    data_len = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            data_len = max(data_len, int(entry["data_offsets"][1]))
        except (KeyError, TypeError, ValueError, IndexError):
            raise CheckpointError(f"{path.name} has a malformed entry for tensor {name!r}") from None
    if 8 + header_len + data_len > size:
        raise CheckpointError(f"{path.name} is truncated: it needs {8 + header_len + data_len} bytes, has {size}")
    return header, size


def read_info(path: str | os.PathLike) -> CheckpointInfo:
    """Read and validate a checkpoint's metadata (cheap: no weights are loaded)."""
    path = Path(path)
    header, size = _read_header(path)
    meta = header.get("__metadata__") or {}
    if meta.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{path.name} is a safetensors file but not a Waifu Studio checkpoint (no model metadata)")
    try:
        version = int(meta.get("format_version", "0"))
    except ValueError:
        raise CheckpointError(f"{path.name} has an unreadable format version") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path.name} was made by a newer Waifu Studio (checkpoint format {version}); "
                              f"this version ({__version__}) reads format {FORMAT_VERSION}: please upgrade")
    family = meta.get("family", "")
    if family not in FAMILIES:
        raise CheckpointError(f"{path.name} holds an unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    try:
        config = ModelConfig.from_dict(json.loads(meta["model_config"]))
        training = json.loads(meta.get("training", "{}"))
    except (KeyError, json.JSONDecodeError, ConfigError, TypeError) as err:
        raise CheckpointError(f"{path.name} has an invalid model config: {err}") from None
    try:
        prior = json.loads(meta.get("prior", "{}"))
    except json.JSONDecodeError:
        raise CheckpointError(f"{path.name} has an unreadable prior description") from None
    if config.family != family:
        raise CheckpointError(f"{path.name} is inconsistent: family {family!r} but config says {config.family!r}")
    return CheckpointInfo(path=path, family=family, config=config, format_version=version,
                          project_version=str(meta.get("project_version", "?")), training=training,
                          created=str(meta.get("created", "")), size_bytes=size,
                          prior=prior if isinstance(prior, dict) else {}, weights_dtype=_weights_dtype(header))


def _weights_dtype(header: dict[str, Any]) -> torch.dtype:
    """The storage type of the network's floating-point weights (a prior stays fp32 in any file)."""
    for name, entry in header.items():
        if name != "__metadata__" and not name.startswith(_KEEP_FP32_PREFIXES):
            dtype = _SAFETENSORS_DTYPES.get(str(entry.get("dtype")))
            if dtype is not None:
                return dtype
    return torch.float32


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32) -> FaceModel:
    """Build the model a checkpoint describes and load its weights; refuse anything suspicious.

    The returned model is in eval mode and carries ``model.checkpoint_info`` and
    ``model.checkpoint_sha256`` (the content it was loaded from, hashed before it was read: a file
    replaced later, such as a training run's checkpoint, does not change what the model says it is).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    info = read_info(path)
    try:
        sha256 = file_sha256(info.path)
    except OSError as err:
        raise CheckpointError(f"cannot read {info.path}: {err.strerror or err}") from None
    try:
        tensors = load_file(str(info.path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{info.path.name} is damaged: {err}") from None
    model = build_model(info.config)
    try:
        model.prepare_state(tensors)  # a prior's shapes come from its fit; older files store it otherwise
    except CheckpointError as err:
        raise CheckpointError(f"{info.path.name}: {err}") from None
    expected = model.inference_state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if tuple(expected[k].shape) != tuple(tensors[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s) such as {missing[0]!r}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensor(s) such as {unexpected[0]!r}")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} with wrong shapes, e.g. {k!r} is {tuple(tensors[k].shape)}, "
                         f"expected {tuple(expected[k].shape)}")
        raise CheckpointError(f"{info.path.name} does not match its stated config ({info.describe()}): "
                              + "; ".join(parts))
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
