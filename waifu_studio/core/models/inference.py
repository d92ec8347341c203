"""Inference-only copy of a decoder: batch norm folded into the convolutions, weights packed once.

In eval mode a ``BatchNorm2d`` is an affine map per channel, so it folds exactly into the weight
and bias of the (transposed) convolution before it. What is left is conv -> activation, which
oneDNN runs as one fused primitive. At batch 1 a 64 px decoder is bound by reading its weights,
and PyTorch's eager convolutions re-lay the weights out for oneDNN on every call (about as long as
the convolution itself), so the copy stores them pre-packed once. On CPUs with native bf16
(AVX512-BF16 or AMX) the copy holds bf16 weights: half the bytes to read.

The copy is never trained and never saved: ``FaceModel`` builds it on first decode, keys it on
the version counters of the generator's tensors (any optimizer step, EMA update, batch-norm
recalibration or ``load_state_dict`` bumps one), and drops it when the model enters train mode.
Anything it cannot fold (another layer type, groups, dilation) means no copy: the caller keeps
using the original modules. Decodes of a few faces also pick their thread count (``threads.py``).
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ConvDecoder
from .threads import ThreadChooser, intra_op_threads

# Largest difference, in [-1, 1] units, the packed copy may show against the original modules on
# a probe batch before it is refused (fp32: summation order only; bf16: 8-bit mantissas, measured
# at most 5 uint8 levels = 0.04 on the bundled checkpoints).
_PROBE_TOLERANCE = {torch.float32: 2e-3, torch.float16: 2e-2, torch.bfloat16: 6e-2}
_BUILD_LOCK = threading.Lock()  # one build at a time; builds are rare (per model load / weight change)
_ACTIVATIONS = {nn.ReLU: "relu", nn.Tanh: "tanh"}
PRECISIONS = ("auto", "fp32", "bf16")
SUBPIXEL_MAX_CHANNELS = 16  # transposed convs with fewer output channels run as sub-pixel convs
SMALL_BATCH = 4  # decodes of up to this many faces choose their thread count (see threads.py)


@cache
def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 dot products in hardware (AVX512-BF16 or AMX)."""
    if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            flags = set(re.findall(r"\b(avx512_bf16|amx_bf16)\b", fh.read()))
    except OSError:  # not Linux: stay in fp32 rather than guess
        return False
    return bool(flags)


def inference_dtype(model_dtype: torch.dtype, device: torch.device, precision: str = "auto") -> torch.dtype:
    """The dtype the copy computes in. ``auto``: on a CPU bf16 where it is native, else fp32; on a GPU the model's.

    ``$WAIFU_STUDIO_DECODE_PRECISION`` (``fp32``/``bf16``) overrides ``auto`` for a whole process.
    """
    if precision == "auto":
        precision = os.environ.get("WAIFU_STUDIO_DECODE_PRECISION", "auto")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown decode precision {precision!r}; expected one of {PRECISIONS}")
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cpu":  # CPUs without native bf16 (or fp16) emulate it: slower than fp32
        return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    return model_dtype


@dataclass(frozen=True)
class _Stage:
    """One fused step: (transposed) convolution with folded batch norm, then an activation."""

    transposed: bool
    weight: torch.Tensor  # fp32, batch norm folded in
    bias: torch.Tensor
    stride: tuple[int, int]
    padding: tuple[int, int]
    output_padding: tuple[int, int]
    activation: str  # "none", "relu" or "tanh"


def _fold(conv: nn.Conv2d | nn.ConvTranspose2d, norm: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``norm(conv(x))`` as one convolution (fp32, eval-mode statistics)."""
    weight = conv.weight.detach().float()
    out_channels = weight.shape[1] if isinstance(conv, nn.ConvTranspose2d) else weight.shape[0]
    bias = conv.bias.detach().float() if conv.bias is not None else torch.zeros(out_channels, device=weight.device)
    if norm is None:
        return weight.clone(), bias.clone()
    scale = norm.weight.detach().float() * torch.rsqrt(norm.running_var.detach().float() + norm.eps)
    shift = norm.bias.detach().float() - norm.running_mean.detach().float() * scale
    # ConvTranspose2d weights are (in, out, kh, kw); Conv2d weights are (out, in, kh, kw).
    per_out = scale.view(1, -1, 1, 1) if isinstance(conv, nn.ConvTranspose2d) else scale.view(-1, 1, 1, 1)
    return (weight * per_out).contiguous(), bias * scale + shift


def fold_decoder(generator: nn.Module) -> list[_Stage] | None:
    """The stages of a :class:`ConvDecoder` with batch norm folded, or None if it has other layers."""
    if not isinstance(generator, ConvDecoder):
        return None
    layers = list(generator.net)
    stages: list[_Stage] = []
    i = 0
    while i < len(layers):
        conv = layers[i]
        if type(conv) not in (nn.Conv2d, nn.ConvTranspose2d) or conv.groups != 1 or conv.dilation != (1, 1) \
                or conv.padding_mode != "zeros" or isinstance(conv.padding, str) \
                or any(len(set(pair)) != 1 for pair in (conv.kernel_size, conv.stride, conv.padding)):
            return None  # only what ConvDecoder builds: square, ungrouped, undilated, zero-padded
        i += 1
        norm = None
        if i < len(layers) and type(layers[i]) is nn.BatchNorm2d:
            norm = layers[i]
            if norm.running_mean is None or norm.running_var is None or not norm.affine:
                return None
            i += 1
        activation = "none"
        if i < len(layers) and type(layers[i]) in _ACTIVATIONS:
            activation = _ACTIVATIONS[type(layers[i])]
            i += 1
        weight, bias = _fold(conv, norm)
        transposed = isinstance(conv, nn.ConvTranspose2d)
        stages.append(_Stage(transposed, weight, bias, tuple(conv.stride), tuple(conv.padding),
                             tuple(conv.output_padding) if transposed else (0, 0), activation))
    first = stages[0] if stages else None
    if first is None or not first.transposed or first.stride != (1, 1) or first.padding != (0, 0):
        return None  # the first stage must map the (N, D, 1, 1) latent to a small image
    return stages


def _out_size(stage: _Stage, size: int) -> int:
    k = stage.weight.shape[-1]
    if stage.transposed:
        return (size - 1) * stage.stride[0] - 2 * stage.padding[0] + k + stage.output_padding[0]
    return (size + 2 * stage.padding[0] - k) // stage.stride[0] + 1


def _is_upsampling_x2(stage: _Stage) -> bool:
    """A 4x4, stride 2, padding 1 transposed conv: each output pixel phase sees a 2x2 input window."""
    return stage.transposed and stage.weight.shape[-1] == 4 and stage.stride == (2, 2) \
        and stage.padding == (1, 1) and stage.output_padding == (0, 0)


def _subpixel_weight(weight: torch.Tensor) -> torch.Tensor:
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


def _geometry(stage: _Stage) -> tuple[bool, list[int], list[int], list[int], str]:
    """What running a stage needs besides its weights (the fp32 weights are not kept)."""
    return stage.transposed, list(stage.stride), list(stage.padding), list(stage.output_padding), stage.activation


def _activate(x: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "relu":
        return torch.relu_(x)
    if activation == "tanh":
        return torch.tanh_(x)
    return x


class FoldedDecoder:
    """Latents (N, D) -> images; a frozen, inference-only copy of a ConvDecoder.

    ``packed`` uses oneDNN's pre-packed fused ops (CPU); otherwise plain ``torch.nn.functional``
    calls on the folded weights (any device). Call it under ``torch.inference_mode()``.
    """

    def __init__(self, stages: list[_Stage], latent_dim: int, dtype: torch.dtype, device: torch.device,
                 packed: bool) -> None:
        self.latent_dim, self.dtype, self.device, self.packed = latent_dim, dtype, device, packed
        self._ops: list[tuple] = []
        mkldnn = torch.ops.mkldnn
        size = 1
        for index, stage in enumerate(stages):
            weight = stage.weight.to(device, dtype)
            bias = stage.bias.to(device, dtype)
            channels = weight.shape[1] if stage.transposed else weight.shape[0]
            out = _out_size(stage, size)
            if index == 0 and packed and dtype == torch.bfloat16:
                # A transposed conv of a 1x1 input is a matrix product (packed: 1.4x faster than
                # the packed transposed conv at batch 1). Rows ordered (y, x, c) make its output an
                # NHWC (channels_last) image without a copy. fp32 keeps the transposed conv: there
                # GEMV and GEMM sum in different orders, and a grid must show exactly the faces
                # of its single seeds (oneDNN's bf16 product is the same at every batch size).
                matrix = weight.permute(2, 3, 1, 0).reshape(out * out * channels, self.latent_dim).contiguous()
                matrix = mkldnn._reorder_linear_weight(matrix, 1)
                self._ops.append(("linear", matrix, bias.repeat(out * out), stage.activation, channels, out))
            elif packed and _is_upsampling_x2(stage) and channels < SUBPIXEL_MAX_CHANNELS:
                # oneDNN pads output channels to a vector width: a 3-channel transposed conv runs at
                # about an eighth of the others' speed. As a 3x3 conv with one channel group per output pixel phase
                # (then pixel_shuffle) it fills 4x the lanes: measured 1.6x faster for the RGB layer.
                sub_weight = _subpixel_weight(stage.weight).to(device, dtype)
                packed_weight = mkldnn._reorder_convolution_weight(
                    sub_weight, [1, 1], [1, 1], [1, 1], 1, [1, weight.shape[0], size, size])
                self._ops.append(("subpixel", stage.activation, packed_weight, bias.repeat_interleave(4)))
            elif packed:
                shape = [1, weight.shape[0] if stage.transposed else weight.shape[1], size, size]
                if stage.transposed:
                    packed_weight = mkldnn._reorder_convolution_transpose_weight(
                        weight, list(stage.padding), list(stage.output_padding), list(stage.stride), [1, 1], 1, shape)
                else:
                    packed_weight = mkldnn._reorder_convolution_weight(
                        weight, list(stage.padding), list(stage.stride), [1, 1], 1, shape)
                self._ops.append(("packed", _geometry(stage), packed_weight, bias))
            else:
                weight = weight.contiguous(memory_format=torch.channels_last)
                self._ops.append(("plain", _geometry(stage), weight, bias))
            size = out
        self.resolution = size

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (N, D) -> images (N, 3, R, R) in [-1, 1], this copy's dtype, channels_last."""
        n = z.shape[0]
        x = z.to(self.device, self.dtype)
        mkldnn = torch.ops.mkldnn
        for op in self._ops:
            kind = op[0]
            if kind == "linear":
                _, matrix, bias, activation, channels, out = op
                x = mkldnn._linear_pointwise(x, matrix, bias, activation, [], "")
                x = x.view(n, out, out, channels).permute(0, 3, 1, 2)
                continue
            if kind == "subpixel":
                _, activation, weight, bias = op
                x = x.contiguous(memory_format=torch.channels_last)
                x = mkldnn._convolution_pointwise(x, weight, bias, [1, 1], [1, 1], [1, 1], 1, activation, [], "")
                x = F.pixel_shuffle(x, 2)  # the activation is per element: it commutes with the shuffle
                continue
            _, (transposed, stride, padding, output_padding, activation), weight, bias = op
            if x.dim() == 2:
                x = x.view(n, self.latent_dim, 1, 1)
            if kind == "packed":
                x = x.contiguous(memory_format=torch.channels_last)
                if transposed:
                    x = mkldnn._convolution_transpose_pointwise(x, weight, bias, padding, output_padding, stride,
                                                                [1, 1], 1, activation, [], "")
                else:
                    x = mkldnn._convolution_pointwise(x, weight, bias, padding, stride, [1, 1], 1, activation, [], "")
            else:
                if transposed:
                    x = F.conv_transpose2d(x, weight, bias, stride, padding, output_padding)
                else:
                    x = F.conv2d(x, weight, bias, stride, padding)
                x = _activate(x, activation)
        return x

    def decode_images(self, z: torch.Tensor) -> np.ndarray:
        """Latents (N, D) -> uint8 images (N, R, R, 3), rounded exactly as ``tensor_to_images``."""
        # The output is channels_last, so its NHWC view is contiguous: no copy for the permute.
        x = self(z).permute(0, 2, 3, 1).float().clamp_(-1.0, 1.0).add_(1.0).mul_(127.5).round_()
        return x.to(torch.uint8).contiguous().cpu().numpy()


def build_folded_decoder(generator: nn.Module, precision: str = "auto") -> FoldedDecoder | None:
    """A checked inference copy of ``generator`` (in eval mode), or None when it cannot be made.

    The copy is run once on probe latents against the original modules; a copy that disagrees
    (beyond summation order, or bf16 rounding) is refused, so a change in PyTorch's private
    oneDNN ops can cost speed but never faces.
    """
    stages = fold_decoder(generator)
    if stages is None:
        return None
    reference_param = next(generator.parameters())
    device, model_dtype = reference_param.device, reference_param.dtype
    dtype = inference_dtype(model_dtype, device, precision)
    if dtype not in _PROBE_TOLERANCE or model_dtype not in _PROBE_TOLERANCE:
        return None
    tolerance = max(_PROBE_TOLERANCE[dtype], _PROBE_TOLERANCE[model_dtype])  # the reference rounds too
    latent_dim = stages[0].weight.shape[0]
    probe = torch.randn(2, latent_dim, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.inference_mode():
        expected = generator(probe.to(model_dtype)).float()
        use_packed = device.type == "cpu" and torch.backends.mkldnn.is_available()
        for packed in ((True, False) if use_packed else (False,)):
            try:
                decoder = FoldedDecoder(stages, latent_dim, dtype, device, packed)
                error = float((decoder(probe).float() - expected).abs().max())
            except (RuntimeError, AttributeError):
                continue  # an op this build of PyTorch lacks or refuses: try the plain ops
            if error <= tolerance:
                return decoder
    return None


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
    """One model's folded decoder and thread choice. Copies and pickles start empty (packed tensors don't copy)."""

    def __init__(self) -> None:
        self._entry: tuple[tuple, str, FoldedDecoder | None] | None = None
        self.threads = ThreadChooser()  # kept across rebuilds: it measures the machine, not the weights

    def clear(self) -> None:
        self._entry = None

    def __deepcopy__(self, memo: dict) -> InferenceCache:
        return InferenceCache()

    def __reduce__(self) -> tuple:
        return (InferenceCache, ())

    def get(self, generator: nn.Module, precision: str = "auto") -> FoldedDecoder | None:
        """The folded copy of ``generator``'s current weights, built (once) if they changed."""
        key = weights_key(generator)
        if key is None:
            return None
        entry = self._entry  # one read: another thread may replace it
        if entry is not None and entry[0] == key and entry[1] == precision:
            return entry[2]
        with _BUILD_LOCK:
            entry = self._entry
            if entry is not None and entry[0] == key and entry[1] == precision:
                return entry[2]
            decoder = build_folded_decoder(generator, precision)
            self._entry = (key, precision, decoder)
            return decoder

    def decode(self, decoder: FoldedDecoder, latents: np.ndarray, batch_size: int) -> np.ndarray:
        """uint8 faces of ``latents`` (N, D) from ``decoder``; small batches on the faster thread count."""
        z = torch.from_numpy(latents)
        threads = self.threads.choose() if len(z) <= SMALL_BATCH else None
        start = time.perf_counter()
        with torch.inference_mode(), intra_op_threads(threads):
            out = [decoder.decode_images(z[i:i + batch_size]) for i in range(0, len(z), batch_size)]
        self.threads.record(threads, (time.perf_counter() - start) / len(z))
        return out[0] if len(out) == 1 else np.concatenate(out)
