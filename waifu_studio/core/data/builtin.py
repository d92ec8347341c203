"""The built-in demo set: simple anime-style faces drawn procedurally with PIL.

Face ``index`` of ``seed`` is drawn from its own ``random.Random`` (seeded with a string, which
Python hashes with SHA-512: the same on every machine and run, independent of global RNG
state), at 4x the target resolution, then downsampled with antialiasing. It lets a new user
train something in minutes; it is no substitute for real faces.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import random
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..errors import DataError
from ..io.files import cache_path, load_cached_array, save_cached_array
from .dataset import FaceDataset

# Bump when the drawing changes so cached sets are redrawn.
GENERATOR_VERSION = 1
SUPERSAMPLE = 4

Color = tuple[int, int, int]
HAIR_COLORS: dict[str, Color] = {
    "pink": (250, 150, 190), "blue": (70, 110, 210), "light blue": (140, 195, 240), "silver": (205, 208, 220),
    "black": (40, 36, 48), "blonde": (246, 214, 120), "red": (196, 46, 52), "green": (80, 170, 105),
    "purple": (140, 85, 195), "brown": (115, 70, 42), "orange": (238, 138, 58), "white": (240, 238, 236),
    "teal": (50, 150, 160), "dark brown": (70, 45, 35),
}
SKIN_TONES: tuple[Color, ...] = ((255, 232, 218), (252, 221, 200), (246, 208, 182), (232, 186, 156), (196, 146, 112))
HAIR_STYLES = ("long", "bob", "twin-tails", "ponytail", "spiky", "short")
BANG_STYLES = ("zigzag", "straight", "swept", "parted")


def _scale(c: Color, f: float) -> Color:
    return (min(255, int(c[0] * f)), min(255, int(c[1] * f)), min(255, int(c[2] * f)))


def _mix(a: Color, b: Color, t: float) -> Color:
    return (int(a[0] + (b[0] - a[0]) * t), int(a[1] + (b[1] - a[1]) * t), int(a[2] + (b[2] - a[2]) * t))


def _hsv(h: float, s: float, v: float) -> Color:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return (int(r * 255), int(g * 255), int(b * 255))


@functools.lru_cache(maxsize=4)
def _gradient_mask(size: int) -> Image.Image:
    return Image.linear_gradient("L").resize((size, size))


class _FaceDrawer:
    """Draws one face; coordinates are in units of the face width ``fw`` around the face centre."""

    def __init__(self, rng: random.Random, size: int) -> None:
        self.rng, self.size = rng, size
        # Faces fill the frame like the crops in real anime face sets, with a little pose jitter.
        self.cx = size * (0.5 + rng.uniform(-0.05, 0.05))
        self.cy = size * (0.5 + rng.uniform(-0.03, 0.05))
        self.fw = size * 0.52 * rng.uniform(0.88, 1.06)
        self.line = max(1, round(size / 110))
        base = HAIR_COLORS[rng.choice(sorted(HAIR_COLORS))]
        self.hair = _mix(base, _hsv(rng.random(), 0.5, 0.8), rng.uniform(0.0, 0.2))  # no two quite alike
        self.skin = rng.choice(SKIN_TONES) if rng.random() < 0.9 else _mix(SKIN_TONES[0], (255, 255, 255), 0.3)
        self.image = self._background()
        self.draw = ImageDraw.Draw(self.image)

    def p(self, x: float, y: float) -> tuple[float, float]:
        return (self.cx + x * self.fw, self.cy + y * self.fw)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        return (*self.p(x0, y0), *self.p(x1, y1))

    def poly(self, points: list[tuple[float, float]], fill: Color, outline: Color | None = None) -> None:
        self.draw.polygon([self.p(x, y) for x, y in points], fill=fill, outline=outline,
                          width=self.line if outline else 0)

    def _background(self) -> Image.Image:
        rng = self.rng
        hue = rng.random()
        if rng.random() < 0.75:  # pastel, like most character art
            top, bottom = _hsv(hue, rng.uniform(0.05, 0.35), rng.uniform(0.85, 1.0)), _hsv(hue + 0.08, 0.3, 0.8)
        else:
            top, bottom = _hsv(hue, rng.uniform(0.3, 0.7), rng.uniform(0.35, 0.7)), _hsv(hue - 0.1, 0.5, 0.9)
        return Image.composite(Image.new("RGB", (self.size, self.size), bottom),
                               Image.new("RGB", (self.size, self.size), top), _gradient_mask(self.size))

    # -- parts, back to front
    def back_hair(self, style: str, hair: Color, dark: Color) -> None:
        rng = self.rng
        if style == "long":
            length = rng.uniform(2.0, 3.0)
            self.poly([(-0.66, -0.45), (-0.74, 0.6), (-0.8, length), (0.8, length), (0.74, 0.6), (0.66, -0.45)],
                      hair, dark)
        elif style in ("bob", "twin-tails", "ponytail"):
            self.draw.ellipse(self.box(-0.7, -0.86, 0.7, 0.62 if style == "bob" else 0.4), fill=hair, outline=dark,
                              width=self.line)
        if style == "twin-tails":
            for side in (-1, 1):
                swing = side * rng.uniform(0.0, 0.2)
                self.poly([(side * 0.55, -0.5), (side * 0.95 + swing, -0.4), (side * 1.1 + swing, 0.4),
                           (side * 0.95 + swing, 1.7), (side * 0.75 + swing / 2, 0.5), (side * 0.6, -0.1)], hair, dark)
        elif style == "ponytail":
            side = rng.choice((-1, 1))
            self.poly([(side * 0.3, -0.85), (side * 1.0, -0.5), (side * 1.05, 0.5), (side * 0.85, 1.4),
                       (side * 0.7, 0.3), (side * 0.5, -0.4)], hair, dark)
        elif style == "spiky":
            points = []
            for i in range(15):
                angle = np.pi * (0.9 + 1.2 * i / 14)
                radius = 0.8 if i % 2 else rng.uniform(0.95, 1.15)
                points.append((np.cos(angle) * radius * 0.9, -0.2 + np.sin(angle) * radius * 0.85))
            self.poly([(-0.7, 0.3), *points, (0.7, 0.3)], hair, dark)

    def body(self, skin: Color) -> None:
        rng = self.rng
        clothes = _hsv(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.3, 0.95))
        self.draw.rectangle(self.box(-0.12, 0.45, 0.12, 0.9), fill=_scale(skin, 0.9))
        self.poly([(-1.1, 2.5), (-0.95, 0.95), (-0.45, 0.78), (0.0, 0.98), (0.45, 0.78), (0.95, 0.95), (1.1, 2.5)],
                  clothes, _scale(clothes, 0.6))
        if rng.random() < 0.5:  # collar
            self.poly([(-0.28, 0.8), (0.0, 0.98), (0.28, 0.8), (0.0, 1.15)], (245, 245, 245), (150, 150, 160))

    def face(self, skin: Color, dark: Color) -> None:
        self.draw.ellipse(self.box(-0.5, -0.62, 0.5, 0.4), fill=skin)
        chin = self.rng.uniform(0.58, 0.68)
        self.poly([(-0.5, -0.05), (-0.45, 0.3), (-0.14, chin - 0.06), (0.0, chin), (0.14, chin - 0.06), (0.45, 0.3),
                   (0.5, -0.05)], skin)
        self.draw.line([self.p(-0.45, 0.3), self.p(-0.14, chin - 0.06), self.p(0.0, chin), self.p(0.14, chin - 0.06),
                        self.p(0.45, 0.3)], fill=dark, width=self.line)

    def eyes(self, iris: Color, lash: Color) -> None:
        rng = self.rng
        shape = rng.choice(("round", "round", "sharp", "sleepy"))
        ew = rng.uniform(0.2, 0.25)
        eh = ew * (rng.uniform(1.2, 1.55) if shape == "round" else rng.uniform(0.85, 1.1))
        ex, ey = rng.uniform(0.21, 0.24), rng.uniform(0.1, 0.15)
        light, deep = _mix(iris, (255, 255, 255), 0.45), _scale(iris, 0.45)
        for side in (-1, 1):
            x = side * ex
            self.draw.ellipse(self.box(x - ew / 2, ey - eh / 2, x + ew / 2, ey + eh / 2), fill=(255, 255, 255))
            iw, ih = ew * 0.78, eh * 0.9
            self.draw.ellipse(self.box(x - iw / 2, ey - ih / 2 + eh * 0.06, x + iw / 2, ey + ih / 2 + eh * 0.05),
                              fill=iris, outline=deep, width=self.line)
            self.draw.ellipse(self.box(x - iw * 0.38, ey + eh * 0.05, x + iw * 0.38, ey + ih / 2), fill=light)
            self.draw.ellipse(self.box(x - iw * 0.2, ey - ih * 0.2, x + iw * 0.2, ey + ih * 0.22), fill=deep)
            hx = x - side * ew * 0.05 - ew * 0.12  # highlights come from the upper left on both eyes
            self.draw.ellipse(self.box(hx - ew * 0.15, ey - eh * 0.32, hx + ew * 0.15, ey - eh * 0.02),
                              fill=(255, 255, 255))
            self.draw.ellipse(self.box(x + ew * 0.1, ey + eh * 0.12, x + ew * 0.2, ey + eh * 0.22),
                              fill=(255, 255, 255))
            # Upper lid: a thick dark arc with a flick at the outer corner; sleepy eyes get a lowered lid.
            top = ey - eh / 2 + (eh * 0.3 if shape == "sleepy" else 0.0)
            if shape == "sleepy":
                self.draw.rectangle(self.box(x - ew / 2 - 0.01, ey - eh / 2 - 0.01, x + ew / 2 + 0.01, top),
                                    fill=self.skin)
            lid = [(-0.6, 0.12), (-0.3, -0.02), (0.3, -0.02), (0.6, 0.12), (0.45, 0.12), (0.0, 0.05), (-0.45, 0.12)]
            self.poly([(x + ew * dx, top + eh * dy) for dx, dy in lid], lash)
            flick = side * (0.62 if shape == "sharp" else 0.55)
            self.poly([(x + side * ew * 0.4, top + eh * 0.02), (x + flick * ew, top - eh * 0.12),
                       (x + side * ew * 0.5, top + eh * 0.16)], lash)
            self.draw.line([self.p(x - ew * 0.3, ey + eh * 0.5), self.p(x + ew * 0.3, ey + eh * 0.5)],
                           fill=_mix(lash, self.skin, 0.4), width=self.line)
            brow_y = ey - eh / 2 - rng.uniform(0.08, 0.12)
            self.draw.line([self.p(x - ew * 0.4, brow_y + 0.01), self.p(x + side * ew * 0.1, brow_y - 0.01),
                            self.p(x + ew * 0.45, brow_y + 0.01 * side)], fill=_scale(self.hair, 0.55),
                           width=self.line)

    def mouth_and_cheeks(self, skin: Color) -> None:
        rng = self.rng
        line = _mix((120, 40, 40), skin, 0.2)
        nose_x = rng.uniform(-0.03, 0.03)
        self.draw.line([self.p(nose_x, 0.3), self.p(nose_x + 0.015, 0.33)], fill=_scale(skin, 0.75), width=self.line)
        kind, my = rng.choice(("smile", "open", "neutral", "cat")), rng.uniform(0.43, 0.48)
        if kind == "smile":
            self.draw.arc(self.box(-0.08, my - 0.06, 0.08, my + 0.03), 20, 160, fill=line, width=self.line + 1)
        elif kind == "open":
            w = rng.uniform(0.06, 0.1)
            self.draw.chord(self.box(-w, my - 0.05, w, my + rng.uniform(0.04, 0.09)), 0, 180, fill=(150, 40, 50),
                            outline=line, width=self.line)
            self.draw.ellipse(self.box(-w * 0.5, my + 0.0, w * 0.5, my + 0.05), fill=(235, 120, 130))
        elif kind == "neutral":
            self.draw.line([self.p(-0.04, my), self.p(0.04, my)], fill=line, width=self.line + 1)
        else:
            for side in (-1, 1):
                self.draw.arc(self.box(side * 0.045 - 0.045, my - 0.04, side * 0.045 + 0.045, my + 0.02), 0, 180,
                              fill=line, width=self.line + 1)
        if rng.random() < 0.6:
            blush = _mix(skin, (255, 110, 130), rng.uniform(0.25, 0.5))
            for side in (-1, 1):
                self.draw.ellipse(self.box(side * 0.27 - 0.09, 0.25, side * 0.27 + 0.09, 0.32), fill=blush)

    def front_hair(self, style: str, bangs: str, hair: Color, dark: Color) -> None:
        rng, line = self.rng, self.line
        if rng.random() < 0.12:  # cat ears
            for side in (-1, 1):
                self.poly([(side * 0.25, -0.7), (side * 0.55, -1.1), (side * 0.62, -0.5)], hair, dark)
        cap = self.box(-0.62, -0.9, 0.62, 0.14)
        self.draw.chord(cap, 180, 360, fill=hair)
        self.draw.arc(cap, 180, 360, fill=dark, width=line)
        depth = rng.uniform(-0.16, -0.07)  # where the fringe ends: just above the eyes
        strands = rng.randint(4, 7)
        xs = np.linspace(-0.6, 0.6, 2 * strands + 1)
        shift = rng.uniform(0.08, 0.16) * rng.choice((-1, 1)) if bangs == "swept" else 0.0
        edge: list[tuple[float, float]] = []
        for i, x in enumerate(xs):
            curve = 0.3 * (abs(x) / 0.6) ** 3  # strands at the temples come down further
            if i % 2 == 0:  # the roots between strands
                root = -0.45 if bangs == "parted" and abs(x) < 0.15 else depth - (0.04 if bangs == "straight" else 0.2)
                edge.append((float(x), root + curve))
            else:
                tip = depth + (0.0 if bangs == "straight" else rng.uniform(-0.05, 0.05))
                if bangs == "parted":
                    tip -= 0.2 * (1 - abs(x) / 0.6)
                edge.append((float(x) + shift, tip + curve))
        self.poly([(-0.62, -0.38), *edge, (0.62, -0.38), (0.45, -0.7), (-0.45, -0.7)], hair)
        self.draw.line([self.p(x, y) for x, y in edge], fill=dark, width=line, joint="curve")
        side_len = {"long": 0.95, "twin-tails": 0.7, "bob": 0.55, "ponytail": 0.6}.get(style, 0.3)
        for side in (-1, 1):  # locks framing the face; outlined on their visible edges only
            lock = [(side * 0.6, -0.45), (side * 0.66, 0.2), (side * 0.56, side_len + rng.uniform(-0.05, 0.1)),
                    (side * 0.44, 0.15), (side * 0.42, -0.3)]
            self.poly(lock, hair)
            self.draw.line([self.p(x, y) for x, y in lock[1:]], fill=dark, width=line, joint="curve")
        shine = _mix(hair, (255, 255, 255), 0.45)  # the anime "angel ring" highlight
        self.draw.arc(self.box(-0.45, -0.74, 0.45, -0.14), 205, 335, fill=shine, width=max(2, int(self.fw * 0.035)))
        if rng.random() < 0.3:  # ahoge: one strand sticking up
            self.poly([(0.0, -0.88), (rng.uniform(0.05, 0.25), -1.12), (0.05, -0.88)], hair, dark)
        if rng.random() < 0.25:  # ribbon
            side, color = rng.choice((-1, 1)), _hsv(rng.random(), 0.7, 0.95)
            x = side * 0.5
            self.poly([(x, -0.62), (x - 0.16, -0.75), (x - 0.16, -0.5)], color, _scale(color, 0.6))
            self.poly([(x, -0.62), (x + 0.16, -0.75), (x + 0.16, -0.5)], color, _scale(color, 0.6))

    def render(self) -> Image.Image:
        rng = self.rng
        dark = _scale(self.hair, 0.55)
        style, bangs = rng.choice(HAIR_STYLES), rng.choice(BANG_STYLES)
        iris = _hsv(rng.random(), rng.uniform(0.5, 0.9), rng.uniform(0.55, 0.9))
        lash = (30, 22, 28) if rng.random() < 0.7 else _scale(self.hair, 0.35)
        self.back_hair(style, self.hair, dark)
        self.body(self.skin)
        self.face(self.skin, _scale(self.skin, 0.7))
        self.eyes(iris, lash)
        self.mouth_and_cheeks(self.skin)
        self.front_hair(style, bangs, self.hair, dark)
        return self.image


def draw_face(seed: int, index: int, resolution: int = 64) -> np.ndarray:
    """Face ``index`` of the built-in set ``seed``: (resolution, resolution, 3) uint8, the same everywhere."""
    rng = random.Random(f"waifu-studio-builtin/{GENERATOR_VERSION}/{int(seed)}/{int(index)}")
    big = _FaceDrawer(rng, resolution * SUPERSAMPLE).render()
    # Averaging each 4x4 block is plain supersampling antialiasing, and 10x faster than LANCZOS here.
    return np.asarray(big.reduce(SUPERSAMPLE), dtype=np.uint8)


def builtin_faces(
    count: int = 2048, resolution: int = 64, seed: int = 0, *, progress: Callable[[int, int], Any] | None = None,
    cancel: threading.Event | None = None, use_cache: bool = True,
) -> FaceDataset:
    """The procedurally drawn demo set as a ``FaceDataset`` (paths 'builtin/000123'), cached on disk."""
    width = max(6, len(str(max(count - 1, 0))))
    paths = [f"builtin/{i:0{width}d}" for i in range(count)]
    key = hashlib.sha256(f"builtin|{GENERATOR_VERSION}|{count}|{resolution}|{seed}".encode()).hexdigest()
    array_path = cache_path("datasets", f"builtin-{key}")
    images = load_cached_array(array_path, (count, resolution, resolution, 3)) if use_cache else None
    from_cache = images is not None
    if images is None:
        images = np.empty((count, resolution, resolution, 3), np.uint8)
        for i in range(count):
            if cancel is not None and cancel.is_set():
                raise DataError("loading cancelled")
            images[i] = draw_face(seed, i, resolution)
            if progress is not None and (i % 64 == 63 or i == count - 1):
                progress(i + 1, count)
        if use_cache:
            save_cached_array(array_path, images)
    elif progress is not None:
        progress(count, count)
    return FaceDataset(images, paths, [], "builtin", resolution, from_cache=from_cache)
