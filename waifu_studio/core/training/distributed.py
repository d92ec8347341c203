"""Data-parallel training across processes started by ``torchrun`` (one process per GPU, or CPU ranks).

``torchrun --nproc_per_node=N -m waifu_studio train ...`` sets RANK, WORLD_SIZE and LOCAL_RANK;
:func:`init_from_env` joins the process group (nccl on GPUs, gloo on CPUs). Without those
variables nothing here does anything and training is the plain single-process loop.

The Trainer averages gradients itself (:func:`average_gradients`, called just before every
optimizer step) instead of wrapping modules in DistributedDataParallel: the objectives call
their modules directly, GANs run several optimizers per step, and an explicit all-reduce keeps
every rank's weights identical with no change to them. Rank 0 alone writes files.

Debugging: with ``WAIFU_STUDIO_DDP_DEBUG=1`` every rank writes ``ddp_rank<R>.sha256`` into the
run folder at the end, a hash of all its trained parameters (tests compare them across ranks).
"""

from __future__ import annotations

import datetime
import hashlib
import os
from collections.abc import Callable, Iterable
from typing import TypeVar

import torch
import torch.distributed as dist

from ..errors import TrainingError, WaifuError

DEBUG_ENV = "WAIFU_STUDIO_DDP_DEBUG"
T = TypeVar("T")


def env_world_size() -> int:
    """WORLD_SIZE as torchrun set it (1 when not launched by torchrun)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if is_distributed() else 0


def is_main_process() -> bool:
    return rank() == 0


def local_device(device: torch.device) -> torch.device:
    """In a distributed CUDA run each process uses the GPU of its LOCAL_RANK."""
    if is_distributed() and device.type == "cuda":
        return torch.device("cuda", local_rank())
    return device


def init_from_env(device: torch.device, timeout_minutes: float = 30.0) -> bool:
    """Join the torchrun process group if WORLD_SIZE > 1. Returns True when distributed."""
    if env_world_size() <= 1 or is_distributed():
        return is_distributed()
    if not dist.is_available():
        raise TrainingError("this PyTorch build has no torch.distributed; run without torchrun")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    try:
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=timeout_minutes))
    except (RuntimeError, ValueError) as err:
        raise TrainingError(f"cannot join the torchrun process group ({backend}): {err}") from None
    return True


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def average_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """Replace every rank's gradients by their mean over ranks (one flat all-reduce)."""
    if not is_distributed():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_module(module: torch.nn.Module) -> None:
    """Give every rank rank 0's parameters and buffers."""
    if not is_distributed():
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank if ``flag`` is True on any rank (stop requests, deadlines)."""
    if not is_distributed():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_ranks(values: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Average scalar tensors over ranks (same keys on every rank), for logging the whole batch."""
    if not is_distributed() or not values:
        return values
    keys = sorted(values)
    t = torch.stack([torch.as_tensor(values[k], dtype=torch.float32, device=device).reshape(()) for k in keys])
    dist.all_reduce(t)
    t /= world_size()
    return {k: t[i] for i, k in enumerate(keys)}


def on_main(fn: Callable[[], T]) -> T | None:
    """Run ``fn`` on rank 0 only; if it raises a WaifuError, every rank raises (nobody waits forever)."""
    if not is_distributed():
        return fn()
    result: T | None = None
    message, failed = "", None
    if is_main_process():
        try:
            result = fn()
        except WaifuError as err:
            message, failed = str(err) or type(err).__name__, err
    shared = [message]
    dist.broadcast_object_list(shared, src=0)
    if is_main_process() and failed is not None:
        raise failed
    if shared[0]:
        raise TrainingError(shared[0])
    return result


def parameter_digest(modules: Iterable[torch.nn.Module]) -> str:
    """SHA-256 of every parameter's bytes, in order (identical weights give identical digests)."""
    h = hashlib.sha256()
    for module in modules:
        for name, p in module.named_parameters():
            h.update(name.encode())
            h.update(p.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")
