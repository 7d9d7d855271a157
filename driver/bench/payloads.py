"""Message bodies like the simulator's: random lowercase text of a random
length, generated once into a pool and cycled, so that building messages
does not cost time inside the measured loop."""

from __future__ import annotations

import random
import string

POOL_SIZE = 1000


def parse_size(spec: str) -> tuple[int, int]:
    """'1024:3072' -> (1024, 3072); '2048' -> (2048, 2048)."""
    lo, _, hi = spec.partition(":")
    low = int(lo)
    high = int(hi) if hi else low
    if low <= 0 or high < low:
        raise ValueError(f"bad message size range {spec!r}")
    return low, high


def make_pool(low: int, high: int, seed: int = 42) -> list[str]:
    """POOL_SIZE random strings with lengths uniform in [low, high]."""
    rnd = random.Random(seed)
    letters = string.ascii_lowercase
    return ["".join(rnd.choices(letters, k=rnd.randint(low, high))) for _ in range(POOL_SIZE)]
