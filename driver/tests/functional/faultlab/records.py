"""Append-only record files: one line per event, written with one os.write.

Lines are space-separated fields.  A file is opened with O_APPEND and never
buffered, so what a process recorded before SIGKILL is on disk.  Readers drop
a last line without its newline (a write cut by a kill cannot happen with one
write per line, but a reader may race a writer).
"""

from __future__ import annotations

import os
import time


def stamp() -> str:
    """CLOCK_MONOTONIC, comparable between processes of one machine."""
    return f"{time.monotonic():.6f}"


class Recorder:
    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, *fields: object) -> None:
        os.write(self._fd, (" ".join(str(f) for f in fields) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


def _split(data: bytes) -> list[list[str]]:
    text = data.decode(errors="replace")
    complete, _sep, _partial = text.rpartition("\n")
    return [line.split() for line in complete.split("\n") if line.strip()]


def read(path: str) -> list[list[str]]:
    """Every complete line of a record file, split into fields ([] if absent)."""
    try:
        with open(path, "rb") as handle:
            return _split(handle.read())
    except FileNotFoundError:
        return []


class Tail:
    """New complete lines of a growing record file, for polling while it runs."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._offset = 0

    def lines(self) -> list[list[str]]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self._offset += end
        return _split(data[:end])
