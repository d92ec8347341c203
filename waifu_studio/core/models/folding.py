"""A model's conv stacks as fused stages: a (transposed) convolution with batch norm folded in, then an activation.

In eval mode a ``BatchNorm2d`` is an affine map per channel, so it folds exactly into the weight
and bias of the convolution before it (``torch.nn.utils.fusion.fuse_conv_bn_weights``). What is
left is conv -> activation per stage, which :mod:`.inference` runs. Only the layer patterns that
:class:`~.blocks.ConvDecoder` and :class:`~.blocks.ConvEncoder` build are folded; anything else
(another layer type, groups, dilation, group norm) gives None and the caller keeps the modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from .blocks import ConvDecoder, ConvEncoder

_ACTIVATIONS = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.LeakyReLU: "leaky_relu"}


@dataclass(frozen=True)
class Stage:
    """One fused step: (transposed) convolution with folded batch norm, then an activation."""

    transposed: bool
    weight: torch.Tensor  # fp32, batch norm folded in; (in, out, k, k) when transposed, else (out, in, k, k)
    bias: torch.Tensor
    stride: int
    padding: int
    output_padding: int
    activation: str  # "none", "relu", "tanh" or "leaky_relu"
    slope: float = 0.0  # leaky_relu's negative slope

    @property
    def kernel(self) -> int:
        return int(self.weight.shape[-1])

    @property
    def in_channels(self) -> int:
        return int(self.weight.shape[0] if self.transposed else self.weight.shape[1])

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[1] if self.transposed else self.weight.shape[0])

    def out_size(self, size: int) -> int:
        """Output height (= width) for an input of ``size``."""
        if self.transposed:
            return (size - 1) * self.stride - 2 * self.padding + self.kernel + self.output_padding
        return (size + 2 * self.padding - self.kernel) // self.stride + 1


def _square(conv: nn.Conv2d | nn.ConvTranspose2d) -> bool:
    """Square, ungrouped, undilated, zero-padded: what the shared blocks build."""
    pairs = (conv.kernel_size, conv.stride, conv.padding, getattr(conv, "output_padding", (0, 0)))
    return conv.groups == 1 and tuple(conv.dilation) == (1, 1) and conv.padding_mode == "zeros" \
        and not isinstance(conv.padding, str) and all(len(set(pair)) == 1 for pair in pairs)


def fold_stack(layers: Sequence[nn.Module]) -> list[Stage] | None:
    """``[conv, (BatchNorm2d), (activation)]*`` -> stages (fp32, eval-mode statistics), or None."""
    stages: list[Stage] = []
    i = 0
    while i < len(layers):
        conv = layers[i]
        if type(conv) not in (nn.Conv2d, nn.ConvTranspose2d) or not _square(conv):
            return None
        transposed = isinstance(conv, nn.ConvTranspose2d)
        weight = conv.weight.detach().float()
        bias = conv.bias.detach().float() if conv.bias is not None else None
        i += 1
        if i < len(layers) and type(layers[i]) is nn.BatchNorm2d:
            norm = layers[i]
            if norm.running_mean is None or norm.running_var is None:
                return None  # track_running_stats=False: batch statistics even in eval mode
            affine = (norm.weight.detach().float(), norm.bias.detach().float()) if norm.affine else (None, None)
            weight, bias = fuse_conv_bn_weights(weight, bias, norm.running_mean.detach().float(),
                                                norm.running_var.detach().float(), norm.eps, *affine,
                                                transpose=transposed)
            weight, bias = weight.detach(), bias.detach()
            i += 1
        if bias is None:
            bias = torch.zeros(conv.out_channels, device=weight.device)
        activation, slope = "none", 0.0
        if i < len(layers) and type(layers[i]) in _ACTIVATIONS:
            activation = _ACTIVATIONS[type(layers[i])]
            slope = float(layers[i].negative_slope) if activation == "leaky_relu" else 0.0
            i += 1
        stages.append(Stage(transposed, weight.contiguous(), bias.contiguous(), conv.stride[0], conv.padding[0],
                            conv.output_padding[0] if transposed else 0, activation, slope))
    return stages or None


def fold_decoder(generator: nn.Module) -> list[Stage] | None:
    """The stages of a :class:`ConvDecoder` (latent (N, D) -> image), or None if it has other layers."""
    if not isinstance(generator, ConvDecoder):
        return None
    stages = fold_stack(list(generator.net))
    if stages is None or not stages[0].transposed or stages[0].stride != 1 or stages[0].padding != 0:
        return None  # the first stage must map the (N, D, 1, 1) latent to a small image
    return stages


def fold_encoder(encoder: nn.Module) -> list[Stage] | None:
    """The stages of a :class:`ConvEncoder` with batch norm or none (image -> (N, F)), or None."""
    if not isinstance(encoder, ConvEncoder):
        return None
    stages = fold_stack(list(encoder.net))
    if stages is None or any(stage.transposed for stage in stages):
        return None
    return stages
