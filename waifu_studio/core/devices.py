"""Device and precision choice: cuda, then mps, then cpu; bf16 where the hardware has it.

Whether the CPU computes in bf16 (training autocast with ``--precision auto``, and the
inference-only copies that ``decode`` and ``encode`` run) is decided once per process:
``$WAIFU_STUDIO_BF16`` = ``auto`` (default: bf16 only where the CPU has native bf16 dot
products, AVX512-BF16 or AMX, and PyTorch dispatches its AVX-512 kernels), ``1`` (bf16 on any
CPU: emulated and slower without native support; for testing that branch) or ``0`` (fp32).
"""

from __future__ import annotations

import os
import re
from functools import cache

import torch

from .errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
BF16_ENV = "WAIFU_STUDIO_BF16"
BF16_SETTINGS = ("auto", "0", "1")
# CPU features reported by benchmarks and --version-like diagnostics, in /proc/cpuinfo's spelling.
REPORTED_FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
_NATIVE_BF16_FEATURES = frozenset({"avx512_bf16", "amx_bf16"})
# torch.cpu.get_capabilities() spells a few flags differently from /proc/cpuinfo.
_CAPABILITY_NAMES = {"avx512_f": "avx512f"}


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


@cache
def cpu_features() -> frozenset[str]:
    """The CPU's instruction-set flags, in /proc/cpuinfo's spelling (``avx2``, ``avx512_bf16``, ...).

    From ``torch.cpu.get_capabilities()`` where this PyTorch has it (any OS), else /proc/cpuinfo;
    empty when neither is available (then nothing is assumed).
    """
    get_capabilities = getattr(torch.cpu, "get_capabilities", None)
    if get_capabilities is not None:
        try:
            return frozenset(_CAPABILITY_NAMES.get(name, name) for name, value in get_capabilities().items()
                             if value is True)
        except (RuntimeError, AttributeError):  # a build without cpuinfo: read the flags ourselves
            pass
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return frozenset()
    match = re.search(r"^flags\s*:(.*)$", text, re.MULTILINE)
    return frozenset(match.group(1).split()) if match else frozenset()


@cache
def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 dot products in hardware and PyTorch uses those kernels.

    Needs AVX512-BF16 or AMX-BF16 on the chip, PyTorch's kernels dispatched at AVX-512 level
    (``ATEN_CPU_CAPABILITY=avx2`` or an older CPU limits them) and oneDNN in the build. Elsewhere
    bf16 is emulated in fp32 registers: slower than fp32, and rounded differently.
    """
    return bool(_NATIVE_BF16_FEATURES & cpu_features()) and torch.backends.mkldnn.is_available() \
        and torch.backends.cpu.get_cpu_capability() == "AVX512"


@cache
def bf16_setting() -> str:
    """``$WAIFU_STUDIO_BF16`` as read once per process: ``auto``, ``0`` or ``1``."""
    value = os.environ.get(BF16_ENV, "").strip().lower() or "auto"
    if value not in BF16_SETTINGS:
        raise ConfigError(f"{BF16_ENV}={value!r} is not one of {', '.join(BF16_SETTINGS)}")
    return value


def cpu_uses_bf16() -> bool:
    """Whether ``auto`` precision means bf16 on the CPU: native bf16, unless $WAIFU_STUDIO_BF16 forces it."""
    setting = bf16_setting()
    return cpu_has_native_bf16() if setting == "auto" else setting == "1"


def describe_cpu() -> str:
    """One line for reports: ATen's kernel level, the bf16-relevant features, and the bf16 choice."""
    features = [name for name in REPORTED_FEATURES if name in cpu_features()]
    setting = bf16_setting()
    choice = "bf16" if cpu_uses_bf16() else "fp32"
    forced = "" if setting == "auto" else f", forced by {BF16_ENV}={setting}"
    native = "native bf16" if cpu_has_native_bf16() else "no native bf16"
    return (f"kernels {torch.backends.cpu.get_cpu_capability()}; {' '.join(features) or 'no AVX2'}; "
            f"{native}; auto precision {choice}{forced}")


def resolve_precision(preference: str, device: torch.device) -> str:
    """``auto``: bf16 on CUDA GPUs that support it and on CPUs where :func:`cpu_uses_bf16`, else fp32."""
    if preference == "fp32":
        return "fp32"
    if preference == "bf16":
        return "bf16"
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_uses_bf16() else "fp32"
    return "fp32"


def describe_device(device: torch.device | str) -> str:
    """Human name: the GPU's name for CUDA, else the device type."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return "CPU" + (" (bf16)" if cpu_uses_bf16() else "")


def available_devices() -> list[tuple[str, str]]:
    """(value, label) pairs for a device selector."""
    out = [("auto", "Auto"), ("cpu", describe_device("cpu"))]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            out.append((f"cuda:{i}", f"GPU {i}: {torch.cuda.get_device_name(i)}"))
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append(("mps", describe_device("mps")))
    return out
