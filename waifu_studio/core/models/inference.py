"""Inference-only copies of a model's decoder and encoder: batch norm folded in, channels_last, bf16 where it pays.

``folding.py`` turns a conv stack into fused stages (conv with batch norm folded in, then an
activation); this module runs them with public ``torch.nn.functional`` calls on channels_last
tensors, so oneDNN runs every convolution without a layout conversion of the activations. On
CPUs where ``devices.cpu_uses_bf16()`` (native bf16, or forced) the copies hold bf16 weights:
half the bytes to read, and AMX/AVX512-BF16 dot products.

Two formulations are chosen by measurement (``benchmarks/decode_bench.py``), not by taste:

- The decoder's first stage turns the (N, D, 1, 1) latent into a k x k image: a matrix product,
  run as ``F.linear`` with rows ordered (y, x, c), so its output is already an NHWC
  (channels_last) image (5x faster than the transposed conv at batch 1 in fp32). A product's
  sums may depend on how many rows it has (a 1-row product is a GEMV; oneDNN's bf16 GEMM blocks
  large products differently), so it always runs on blocks of ``LINEAR_ROWS`` latents, the last
  padded with zeros: a grid shows exactly the faces of its single seeds.
- A 4x4, stride-2 transposed conv to few channels (the RGB layer) pads its output channels to a
  vector width in oneDNN; as a 3x3 conv with one channel group per output-pixel phase, then
  ``pixel_shuffle``, it fills 4x the lanes.

A copy is never trained and never saved: ``FaceModel`` builds it on first use, keys it on the
version counters of the module's tensors (any optimizer step, EMA update, batch-norm
recalibration or ``load_state_dict`` bumps one), and drops it when the model enters train mode.
Each copy is checked against the modules on a probe batch when built and refused if it
disagrees; then the caller keeps the modules. Decodes of a few faces pick their thread count
(``threads.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..devices import cpu_uses_bf16
from .folding import Stage, fold_decoder, fold_encoder
from .threads import ThreadChooser, intra_op_threads

# Largest difference the copy may show against the original modules on a probe batch before it
# is refused, relative to the output's scale (decoder: [-1, 1] images). fp32: summation order
# only; bf16: 8-bit mantissas (measured up to 0.04 on the bundled decoders: 5 uint8 levels).
_PROBE_TOLERANCE = {torch.float32: 2e-3, torch.float16: 2e-2, torch.bfloat16: 6e-2}
_BUILD_LOCK = threading.Lock()  # one build at a time; builds are rare (per model load / weight change)
PRECISIONS = ("auto", "fp32", "bf16")
SUBPIXEL_MAX_CHANNELS = 16  # 4x4 stride-2 transposed convs with fewer output channels run as sub-pixel convs
SMALL_BATCH = 4  # decodes of up to this many faces choose their thread count (see threads.py)
LINEAR_ROWS = 16  # the decoder's first product always runs on this many latents (see above)
# Faces per encoder call. On 2 cores, 32-512 gave the same rate within noise on one thread (245-278
# faces/s, bf16); on two threads of a loaded machine larger batches did better (148/s at 256,
# 51/s at 32): fewer thread joins. benchmarks/encode_bench.py prints the sweep.
ENCODE_BATCH = 256
ENCODE_FIRST_TRIAL = 2
CHANNELS_LAST = torch.channels_last


def inference_dtype(model_dtype: torch.dtype, device: torch.device, precision: str = "auto") -> torch.dtype:
    """The dtype a copy computes in. ``auto``: on a CPU bf16 where ``cpu_uses_bf16()``, else fp32; on a GPU the model's
    dtype."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown inference precision {precision!r}; expected one of {PRECISIONS}")
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cpu":  # CPUs without native bf16 emulate it: slower than fp32
        return torch.bfloat16 if cpu_uses_bf16() else torch.float32
    return model_dtype


def _is_upsampling_x2(stage: Stage) -> bool:
    """A 4x4, stride 2, padding 1 transposed conv: each output pixel phase sees a 2x2 input window."""
    return stage.transposed and stage.kernel == 4 and stage.stride == 2 and stage.padding == 1 \
        and stage.output_padding == 0


def subpixel_weight(weight: torch.Tensor) -> torch.Tensor:
    """(in, out, 4, 4) transposed-conv weights -> (out * 4, in, 3, 3) conv weights for pixel_shuffle(2).

    Output row 2m + a of the transposed conv sums input rows m-1, m (a = 0: kernel rows 3, 1) or
    m, m+1 (a = 1: kernel rows 2, 0); a 3x3 window around m covers both. Channel c * 4 + a * 2 + b
    holds phase (a, b) of output channel c, the order pixel_shuffle reads.
    """
    c_in, c_out = weight.shape[:2]
    taps = {0: {0: 3, 1: 1}, 1: {1: 2, 2: 0}}  # phase -> {window row: kernel row}
    sub = weight.new_zeros(c_out, 2, 2, c_in, 3, 3)
    for a, rows in taps.items():
        for b, cols in taps.items():
            for r, kr in rows.items():
                for c, kc in cols.items():
                    sub[:, a, b, :, r, c] = weight[:, :, kr, kc].t()
    return sub.reshape(c_out * 4, c_in, 3, 3)


def _activate(x: torch.Tensor, activation: str, slope: float) -> torch.Tensor:
    if activation == "relu":
        return torch.relu_(x)
    if activation == "tanh":
        return torch.tanh_(x)
    if activation == "leaky_relu":
        return F.leaky_relu_(x, slope)
    return x


class _Op:
    """One stage, laid out for how it runs: ``linear``, ``subpixel`` or ``conv``."""

    def __init__(self, kind: str, stage: Stage, weight: torch.Tensor, bias: torch.Tensor, size: int) -> None:
        self.kind, self.stage, self.weight, self.bias, self.size = kind, stage, weight, bias, size

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        stage = self.stage
        if self.kind == "linear":  # (N, D) -> NHWC rows -> an (N, C, k, k) channels_last view, no copy
            n, pad = x.shape[0], -x.shape[0] % LINEAR_ROWS
            if pad:
                x = F.pad(x, (0, 0, 0, pad))
            rows = [F.linear(x[i:i + LINEAR_ROWS], self.weight, self.bias) for i in range(0, n + pad, LINEAR_ROWS)]
            x = (rows[0] if len(rows) == 1 else torch.cat(rows))[:n]
            x = x.view(n, self.size, self.size, stage.out_channels).permute(0, 3, 1, 2)
            return _activate(x, stage.activation, stage.slope)
        x = x.contiguous(memory_format=CHANNELS_LAST)
        if self.kind == "subpixel":  # the activation is per element: it commutes with the shuffle
            x = _activate(F.conv2d(x, self.weight, self.bias, 1, 1), stage.activation, stage.slope)
            return F.pixel_shuffle(x, 2)
        if stage.transposed:
            x = F.conv_transpose2d(x, self.weight, self.bias, stage.stride, stage.padding, stage.output_padding)
        else:
            x = F.conv2d(x, self.weight, self.bias, stage.stride, stage.padding)
        return _activate(x, stage.activation, stage.slope)


def _plan(stages: list[Stage], dtype: torch.dtype, device: torch.device, size: int) -> list[_Op]:
    """The ops that run ``stages`` on a ``size`` x ``size`` input (1: the decoder's latent)."""
    ops = []
    for index, stage in enumerate(stages):
        out = stage.out_size(size)
        weight, bias = stage.weight.to(device, dtype), stage.bias.to(device, dtype)
        if index == 0 and size == 1 and stage.transposed:
            matrix = weight.permute(2, 3, 1, 0).reshape(out * out * stage.out_channels, stage.in_channels)
            ops.append(_Op("linear", stage, matrix.contiguous(), bias.repeat(out * out), out))
        elif _is_upsampling_x2(stage) and stage.out_channels < SUBPIXEL_MAX_CHANNELS:
            sub = subpixel_weight(stage.weight).to(device, dtype).contiguous(memory_format=CHANNELS_LAST)
            ops.append(_Op("subpixel", stage, sub, bias.repeat_interleave(4), out))
        else:
            ops.append(_Op("conv", stage, weight.contiguous(memory_format=CHANNELS_LAST), bias, out))
        size = out
    return ops


class FoldedDecoder:
    """Latents (N, D) -> images; a frozen, inference-only copy of a ConvDecoder (call under inference_mode)."""

    def __init__(self, stages: list[Stage], dtype: torch.dtype, device: torch.device) -> None:
        self.latent_dim, self.dtype, self.device = stages[0].in_channels, dtype, device
        self._ops = _plan(stages, dtype, device, 1)
        self.resolution = self._ops[-1].size

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (N, D) -> images (N, 3, R, R) in [-1, 1], this copy's dtype, channels_last."""
        x = z.to(self.device, self.dtype)
        if self._ops[0].kind != "linear":
            x = x.view(x.shape[0], self.latent_dim, 1, 1)
        for op in self._ops:
            x = op(x)
        return x

    def decode_images(self, z: torch.Tensor) -> np.ndarray:
        """Latents (N, D) -> uint8 images (N, R, R, 3), rounded exactly as ``tensor_to_images``."""
        # The output is channels_last, so its NHWC view is contiguous: no copy for the permute.
        x = self(z).permute(0, 2, 3, 1).float().clamp_(-1.0, 1.0).add_(1.0).mul_(127.5).round_()
        return x.to(torch.uint8).contiguous().cpu().numpy()


class FoldedEncoder:
    """uint8 images (N, R, R, 3) -> encoder outputs (N, F); a frozen, inference-only copy of a ConvEncoder."""

    def __init__(self, stages: list[Stage], dtype: torch.dtype, device: torch.device, resolution: int) -> None:
        self.dtype, self.device, self.resolution = dtype, device, resolution
        self._ops = _plan(stages, dtype, device, resolution)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 NHWC images -> (N, F) float32 outputs. The NHWC input is channels_last as it is: no copy."""
        x = images.to(self.device).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0).to(self.dtype)
        for op in self._ops:
            x = op(x)
        return x.flatten(1).float()


def _agrees(copy: Callable[[torch.Tensor], torch.Tensor], expected: torch.Tensor, probe: torch.Tensor,
            tolerance: float) -> bool:
    """True when ``copy(probe)`` runs and matches ``expected`` within ``tolerance`` of its scale."""
    try:
        error = float((copy(probe).float() - expected).abs().max())
    except (RuntimeError, NotImplementedError):  # an op this build of PyTorch lacks on this device
        return False
    return error <= tolerance * max(1.0, float(expected.abs().max()))


def _tolerance(dtype: torch.dtype, model_dtype: torch.dtype) -> float | None:
    if dtype not in _PROBE_TOLERANCE or model_dtype not in _PROBE_TOLERANCE:
        return None
    return max(_PROBE_TOLERANCE[dtype], _PROBE_TOLERANCE[model_dtype])  # the reference rounds too


def build_folded_decoder(generator: nn.Module, dtype: torch.dtype) -> FoldedDecoder | None:
    """A checked inference copy of ``generator`` (in eval mode) computing in ``dtype``, or None."""
    stages = fold_decoder(generator)
    reference = next(generator.parameters())
    tolerance = _tolerance(dtype, reference.dtype)
    if stages is None or tolerance is None:
        return None
    probe = torch.randn(2, stages[0].in_channels, generator=torch.Generator().manual_seed(0)).to(reference.device)
    with torch.inference_mode():
        decoder = FoldedDecoder(stages, dtype, reference.device)
        expected = generator(probe.to(reference.dtype)).float()
        return decoder if _agrees(decoder, expected, probe, tolerance) else None


def build_folded_encoder(encoder: nn.Module, dtype: torch.dtype, resolution: int) -> FoldedEncoder | None:
    """A checked inference copy of ``encoder`` (in eval mode) computing in ``dtype``, or None."""
    stages = fold_encoder(encoder)
    reference = next(encoder.parameters())
    tolerance = _tolerance(dtype, reference.dtype)
    if stages is None or tolerance is None:
        return None
    probe = torch.randint(0, 256, (2, resolution, resolution, 3), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        copy = FoldedEncoder(stages, dtype, reference.device, resolution)
        x = probe.to(reference.device).permute(0, 3, 1, 2).float().div(127.5).sub(1.0).to(reference.dtype)
        expected = encoder(x).float()
        return copy if _agrees(copy, expected, probe, tolerance) else None


def weights_key(module: nn.Module) -> tuple | None:
    """Identity and version of every tensor of ``module``: changes whenever any of them changes.

    None when a tensor keeps no version counter (made under ``inference_mode``): no caching then.
    """
    try:
        return tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in
                     (*module.parameters(), *module.buffers()))
    except RuntimeError:
        return None


class InferenceCache:
    """One model's folded copies (decoder, encoder) and thread choice. Copies and pickles start empty."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple, torch.dtype, object]] = {}
        # Kept across rebuilds: they measure the machine, not the weights. Encoding runs batches
        # of hundreds of faces: one thread is tried first only twice (a loaded machine's choice).
        self.threads = ThreadChooser()
        self.encode_threads = ThreadChooser(first_trial=ENCODE_FIRST_TRIAL)

    def clear(self) -> None:
        self._entries = {}

    def built(self) -> bool:
        """True when a copy is held (tests: training drops them)."""
        return any(entry[2] is not None for entry in self._entries.values())

    def __deepcopy__(self, memo: dict) -> InferenceCache:
        return InferenceCache()

    def __reduce__(self) -> tuple:
        return (InferenceCache, ())

    def get(self, role: str, module: nn.Module, dtype: torch.dtype, build: Callable[[], object]) -> object | None:
        """The ``role`` copy of ``module``'s current weights in ``dtype``, built by ``build()`` when they changed."""
        key = weights_key(module)
        if key is None:
            return None
        entry = self._entries.get(role)  # one read: another thread may replace it
        if entry is not None and entry[0] == key and entry[1] == dtype:
            return entry[2]
        with _BUILD_LOCK:
            entry = self._entries.get(role)
            if entry is not None and entry[0] == key and entry[1] == dtype:
                return entry[2]
            copy = build()
            self._entries = {**self._entries, role: (key, dtype, copy)}
            return copy

    def decode(self, decoder: FoldedDecoder, latents: np.ndarray, batch_size: int) -> np.ndarray:
        """uint8 faces of ``latents`` (N, D) from ``decoder``; small batches on the faster thread count."""
        z = torch.from_numpy(latents)
        threads = self.threads.choose() if len(z) <= SMALL_BATCH else None
        start = time.perf_counter()
        with torch.inference_mode(), intra_op_threads(threads):
            out = [decoder.decode_images(z[i:i + batch_size]) for i in range(0, len(z), batch_size)]
        self.threads.record(threads, (time.perf_counter() - start) / len(z))
        return out[0] if len(out) == 1 else np.concatenate(out)

    def encode(self, encoder: FoldedEncoder, images: np.ndarray, batch_size: int,
               to_codes: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
        """float32 codes of uint8 ``images`` (N, R, R, 3) from ``encoder``; each batch on the faster thread count."""
        out = []
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                chunk = images[i:i + batch_size]
                if not chunk.flags.writeable or not chunk.flags.c_contiguous:
                    chunk = np.array(chunk, order="C")  # read-only arrays (cache mmaps) cannot back a tensor
                threads = self.encode_threads.choose()
                start = time.perf_counter()
                with intra_op_threads(threads):
                    out.append(to_codes(encoder(torch.from_numpy(chunk))).float().cpu().numpy())
                self.encode_threads.record(threads, (time.perf_counter() - start) / len(chunk))
        return out[0] if len(out) == 1 else np.concatenate(out)
