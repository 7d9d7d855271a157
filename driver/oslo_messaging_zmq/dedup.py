"""Bounded, time-limited memory of message ids seen by a receiver."""

from __future__ import annotations

import collections
import time


class Deduplicator:
    def __init__(self, window: float, max_entries: int) -> None:
        self._window = window
        self._max = max_entries
        self._seen: collections.OrderedDict[str, float] = collections.OrderedDict()

    def seen(self, msg_id: str, now: float | None = None) -> bool:
        """Return True if msg_id was already recorded; otherwise record it."""
        now = time.monotonic() if now is None else now
        self._expire(now)
        if msg_id in self._seen:
            return True
        self._seen[msg_id] = now
        return False

    def forget(self, msg_id: str) -> None:
        """A released message: a copy that comes again is new here."""
        self._seen.pop(msg_id, None)

    def _expire(self, now: float) -> None:
        seen = self._seen
        while seen:
            msg_id, stamp = next(iter(seen.items()))
            if now - stamp < self._window and len(seen) < self._max:
                break
            seen.popitem(last=False)

    def __len__(self) -> int:
        return len(self._seen)
