"""Latency samples -> summary numbers (milliseconds)."""

from __future__ import annotations


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


def summarize(seconds: list[float]) -> dict[str, float]:
    """p50/p99/max in milliseconds of latencies given in seconds."""
    values = sorted(seconds)
    return {
        "p50_ms": round(percentile(values, 50) * 1000, 3),
        "p99_ms": round(percentile(values, 99) * 1000, 3),
        "max_ms": round(values[-1] * 1000, 3) if values else 0.0,
    }
