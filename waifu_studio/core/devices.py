"""Device and precision choice: cuda, then mps, then cpu; bf16 where the hardware has it."""

from __future__ import annotations

import torch

from .errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def select_device(preference: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu. Asking for a missing device is a clear error."""
    pref = (preference or "auto").lower()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if pref.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("CUDA was requested but no CUDA GPU is available; use --device auto or cpu")
        return torch.device(pref)
    if pref == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise ConfigError("MPS was requested but is not available on this machine")
        return torch.device("mps")
    if pref == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"unknown device {preference!r}; choose one of {', '.join(DEVICE_CHOICES)}")


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 math (AVX-512 BF16 or AMX), where bf16 autocast pays."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def resolve_precision(preference: str, device: torch.device) -> str:
    """``auto``: bf16 on CUDA GPUs that support it and on CPUs with native bf16, else fp32."""
    if preference == "fp32":
        return "fp32"
    if preference == "bf16":
        return "bf16"
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return "fp32"


def describe_device(device: torch.device | str) -> str:
    """Human name: the GPU's name for CUDA, else the device type."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return "CPU" + (" (bf16)" if cpu_has_fast_bf16() else "")


def available_devices() -> list[tuple[str, str]]:
    """(value, label) pairs for a device selector."""
    out = [("auto", "Auto"), ("cpu", describe_device("cpu"))]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            out.append((f"cuda:{i}", f"GPU {i}: {torch.cuda.get_device_name(i)}"))
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append(("mps", describe_device("mps")))
    return out
