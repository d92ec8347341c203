"""What the Generate tab shows: seeds S..S+N-1 of an N = side x side grid, at a truncation."""

from __future__ import annotations

from psygnal import Signal

from ..core.errors import ConfigError
from ..core.models.seeds import MAX_SEED

GRID_SIDES = tuple(range(1, 9))  # 1x1 .. 8x8
TRUNCATION_RANGE = (0.0, 1.5)


def max_first_seed(side: int) -> int:
    """The largest first seed whose grid of ``side`` x ``side`` seeds are all valid."""
    return MAX_SEED - (side * side - 1)


class GeneratorSettings:
    """Seed, grid side and truncation; ``changed`` fires after any of them changed.

    The seed always fits the grid: a grid that grows lowers a seed that would run past
    :data:`MAX_SEED`, so the faces asked for are always valid seeds.
    """

    changed = Signal()

    def __init__(self, seed: int = 0, side: int = 4, truncation: float = 1.0) -> None:
        self._seed, self._side, self._truncation = 0, 4, 1.0
        self.update(seed=seed, side=side, truncation=truncation)

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def side(self) -> int:
        return self._side

    @property
    def truncation(self) -> float:
        return self._truncation

    @property
    def max_seed(self) -> int:
        return max_first_seed(self._side)

    def seeds(self) -> list[int]:
        return list(range(self._seed, self._seed + self._side * self._side))

    def update(self, *, seed: int | None = None, side: int | None = None, truncation: float | None = None) -> None:
        """Change any of the settings (ConfigError for a value out of range); one ``changed`` event."""
        new_side = self._side if side is None else int(side)
        if new_side not in GRID_SIDES:
            raise ConfigError(f"grid side must be 1 to {GRID_SIDES[-1]}, not {new_side}")
        new_seed = self._seed if seed is None else int(seed)
        if not 0 <= new_seed <= MAX_SEED:
            raise ConfigError(f"seed must be between 0 and {MAX_SEED}, not {new_seed}")
        new_seed = min(new_seed, max_first_seed(new_side))
        new_trunc = self._truncation if truncation is None else round(float(truncation), 2)
        if not TRUNCATION_RANGE[0] <= new_trunc <= TRUNCATION_RANGE[1]:
            raise ConfigError(f"truncation must be between {TRUNCATION_RANGE[0]} and {TRUNCATION_RANGE[1]}, "
                              f"not {new_trunc}")
        if (new_seed, new_side, new_trunc) == (self._seed, self._side, self._truncation):
            return
        self._seed, self._side, self._truncation = new_seed, new_side, new_trunc
        self.changed.emit()
