"""The CPU's bf16 choice: made from what the chip and PyTorch's kernels really have, forced by one variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from waifu_studio.core import devices
from waifu_studio.core.errors import ConfigError


def _proc_cpuinfo_flags() -> set[str] | None:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return None


def test_native_bf16_needs_the_instructions_and_avx512_kernels():
    features = devices.cpu_features()
    flags = _proc_cpuinfo_flags()
    if flags is not None:  # both sources agree on what decides the choice
        for name in devices.REPORTED_FEATURES:
            assert (name in features) == (name in flags), name
    expected = bool({"avx512_bf16", "amx_bf16"} & features) and torch.backends.mkldnn.is_available() \
        and torch.backends.cpu.get_cpu_capability() == "AVX512"
    assert devices.cpu_has_native_bf16() == expected


def test_auto_precision_is_bf16_only_where_native(force_cpu_bf16, monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.delenv(devices.BF16_ENV, raising=False)
    devices.bf16_setting.cache_clear()
    native = devices.cpu_has_native_bf16()
    assert devices.resolve_precision("auto", cpu) == ("bf16" if native else "fp32")
    assert ("(bf16)" in devices.describe_device(cpu)) == native
    force_cpu_bf16(False)
    assert devices.resolve_precision("auto", cpu) == "fp32" and devices.resolve_precision("bf16", cpu) == "bf16"
    force_cpu_bf16(True)
    assert devices.resolve_precision("auto", cpu) == "bf16" and devices.resolve_precision("fp32", cpu) == "fp32"
    assert "forced by WAIFU_STUDIO_BF16=1" in devices.describe_cpu()


def test_a_bad_setting_is_a_clear_error(monkeypatch, force_cpu_bf16):
    monkeypatch.setenv(devices.BF16_ENV, "yes")
    devices.bf16_setting.cache_clear()
    with pytest.raises(ConfigError, match="WAIFU_STUDIO_BF16='yes' is not one of auto, 0, 1"):
        devices.cpu_uses_bf16()


def test_avx2_kernels_mean_no_native_bf16():
    # What an AVX2-only CPU (no AVX-512, so no native bf16) looks like to PyTorch, on any machine.
    script = "from waifu_studio.core import devices; print(devices.cpu_has_native_bf16(), devices.cpu_uses_bf16())"
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2"}
    env.pop(devices.BF16_ENV, None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "False"]
