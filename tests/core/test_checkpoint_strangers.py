"""Checkpoints from strangers, beyond tests/core/test_checkpoint.py: a torch.save archive whose
unpickling would run a command, odd header lengths, malformed entries, infinite weights."""

from __future__ import annotations

import json
import os
import struct

import pytest
import torch

from waifu_studio.core.errors import CheckpointError
from waifu_studio.core.io.checkpoint import MAX_HEADER_BYTES, load_checkpoint, read_info


class _RunsACommand:
    """Unpickling this runs ``touch MARKER`` (what a hostile .pt file does)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_torch_save_archive_with_a_command_renamed_safetensors_never_runs_it(tmp_path):
    marker = tmp_path / "pwned"
    for name in ("model.safetensors", "model.pt", "model.ckpt"):
        path = tmp_path / name
        torch.save({"state_dict": {"w": torch.zeros(2)}, "hook": _RunsACommand(str(marker))}, path)
        with pytest.raises(CheckpointError, match="pickle"):
            load_checkpoint(path)
        with pytest.raises(CheckpointError, match="pickle"):
            read_info(path)
    assert not marker.exists(), "opening a checkpoint ran code"
    # Legacy (non-zip) torch.save format too.
    legacy = tmp_path / "legacy.safetensors"
    torch.save({"hook": _RunsACommand(str(marker))}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError):
        load_checkpoint(legacy)
    assert not marker.exists()


def _parts(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return raw, json.loads(raw[8:8 + n]), raw[8 + n:]


def _with_header(header, data: bytes) -> bytes:
    body = json.dumps(header).encode()
    return struct.pack("<Q", len(body)) + body + data


@pytest.mark.parametrize("case, expected", [
    ("header_just_over_limit", "header length"),
    ("header_longer_than_file", "truncated"),
    ("header_is_a_list", "malformed header"),
    ("entry_without_offsets", "malformed entry"),
    ("offsets_past_the_end", "truncated"),
    ("config_not_json", "invalid model config"),
    ("family_config_mismatch", "inconsistent"),
    ("format_version_text", "unreadable format version"),
    ("missing_tensor", "missing 1 tensor"),
    ("extra_tensor", "unexpected tensor"),
    ("infinite_weights", "NaN or infinite"),
])
def test_more_bad_checkpoints_are_refused_with_a_message(tmp_path, tiny_checkpoint, case, expected):
    good = tiny_checkpoint("dcgan")
    raw, header, data = _parts(good)
    meta = header["__metadata__"]
    path = tmp_path / f"{case}.safetensors"
    if case == "header_just_over_limit":
        path.write_bytes(struct.pack("<Q", MAX_HEADER_BYTES + 1) + b"{" * 64)
    elif case == "header_longer_than_file":
        path.write_bytes(struct.pack("<Q", 10_000) + b"{}")
    elif case == "header_is_a_list":
        path.write_bytes(_with_header([1, 2, 3], b""))
    elif case == "entry_without_offsets":
        name = next(k for k in header if k != "__metadata__")
        del header[name]["data_offsets"]
        path.write_bytes(_with_header(header, data))
    elif case == "offsets_past_the_end":
        name = next(k for k in header if k != "__metadata__")
        header[name]["data_offsets"] = [0, len(data) + 10_000]
        path.write_bytes(_with_header(header, data))
    elif case == "config_not_json":
        meta["model_config"] = "{not json"
        path.write_bytes(_with_header(header, data))
    elif case == "family_config_mismatch":
        meta["family"] = "wgan-gp"
        path.write_bytes(_with_header(header, data))
    elif case == "format_version_text":
        meta["format_version"] = "one"
        path.write_bytes(_with_header(header, data))
    else:
        from safetensors.torch import load_file, save_file

        tensors = load_file(str(good))
        if case == "missing_tensor":
            tensors.pop(sorted(tensors)[0])
        elif case == "extra_tensor":
            tensors["surprise.weight"] = torch.zeros(3)
        else:
            first = sorted(k for k, t in tensors.items() if t.is_floating_point())[0]
            tensors[first] = torch.full_like(tensors[first], float("inf"))
        save_file(tensors, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match=expected):
        load_checkpoint(path)

