"""Conv building blocks shared by every family: one decoder/generator and one encoder/critic.

The layouts follow DCGAN (Radford et al. 2015): 4x4 stride-2 (transposed) convolutions that
double or halve the resolution, channel counts halving as resolution doubles. ``extra_convs``
adds 3x3 convolutions at each resolution for capacity (the AE and VAE use it for sharper
reconstructions) without changing the interface.
"""

from __future__ import annotations

import math

from torch import nn

MIN_REFINE_SIZE = 16


def channel_plan(resolution: int, width: int) -> list[int]:
    """Channels at 4x4, 8x8, ... up to resolution/2: e.g. 64px, width 64 -> [512, 256, 128, 64]."""
    steps = int(math.log2(resolution // 4))
    return [width * 2 ** (steps - 1 - i) for i in range(steps)]


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":  # per-sample normalisation: allowed in a WGAN-GP critic, unlike batch norm
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}")


class ConvDecoder(nn.Module):
    """Latent (N, D) -> image (N, 3, R, R) in [-1, 1]."""

    def __init__(self, latent_dim: int, resolution: int, width: int, extra_convs: int = 0) -> None:
        super().__init__()
        plan = channel_plan(resolution, width)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, plan[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(plan[0]),
            nn.ReLU(True),
        ]
        size = 4
        for c_in, c_out in zip(plan[:-1], plan[1:], strict=True):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
            size *= 2
            # Extra capacity only where detail lives (>= 16 px): wide 4x4/8x8 stages would cost
            # millions of parameters for little visible gain.
            layers += self._refine(c_out, extra_convs if size >= MIN_REFINE_SIZE else 0)
        layers += [nn.ConvTranspose2d(plan[-1], 3, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.latent_dim = latent_dim

    @staticmethod
    def _refine(channels: int, count: int) -> list[nn.Module]:
        out: list[nn.Module] = []
        for _ in range(count):
            out += [nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(True)]
        return out

    def forward(self, z):  # noqa: ANN001 - tensors
        return self.net(z.reshape(z.shape[0], self.latent_dim, 1, 1))


class ConvEncoder(nn.Module):
    """Image (N, 3, R, R) -> features (N, out_features). Encoder, discriminator and critic."""

    def __init__(self, resolution: int, width: int, out_features: int, norm: str = "batch",
                 extra_convs: int = 0) -> None:
        super().__init__()
        plan = list(reversed(channel_plan(resolution, width)))  # e.g. [64, 128, 256, 512]
        # No normalisation on the first layer (DCGAN): it keeps the input's colour statistics.
        layers: list[nn.Module] = [nn.Conv2d(3, plan[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        size = resolution // 2
        layers += self._refine(plan[0], extra_convs if size >= MIN_REFINE_SIZE else 0, norm)
        for c_in, c_out in zip(plan[:-1], plan[1:], strict=True):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=norm == "none"), _norm(norm, c_out),
                       nn.LeakyReLU(0.2, True)]
            size //= 2
            layers += self._refine(c_out, extra_convs if size >= MIN_REFINE_SIZE else 0, norm)
        layers += [nn.Conv2d(plan[-1], out_features, 4, 1, 0)]
        self.net = nn.Sequential(*layers)

    @staticmethod
    def _refine(channels: int, count: int, norm: str) -> list[nn.Module]:
        out: list[nn.Module] = []
        for _ in range(count):
            out += [nn.Conv2d(channels, channels, 3, 1, 1, bias=norm == "none"), _norm(norm, channels),
                    nn.LeakyReLU(0.2, True)]
        return out

    def forward(self, x):  # noqa: ANN001 - tensors
        return self.net(x).flatten(1)


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) convs, N(1, 0.02) norm scales."""
    if any(p.is_meta for p in module.parameters()):
        # A shape-only build (registry.build_meta_model) has no values to draw, and drawing on
        # the meta device would first import PyTorch's symbolic-shape machinery (~3 s).
        return
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
