# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Filters of the smoke role: run names, and the proxies' per-target counters per step."""

from __future__ import annotations

import fnmatch
from datetime import UTC, datetime

from ansible.errors import AnsibleFilterError
from ansible_collections.zeromq.openstack.plugins.module_utils import smoke_names

FIELDS = ("routed", "held", "dropped")


def smoke_run_name(prefix: str, epoch: float, token: str) -> str:
    """PREFIX-<UTC time of EPOCH>-TOKEN (see module_utils/smoke_names)."""
    return smoke_names.run_name(prefix, datetime.fromtimestamp(float(epoch), UTC), token)


def smoke_totals(readings: list[dict]) -> dict[str, dict[str, int]]:
    """{target label: {routed, held, dropped}} summed over the proxies' snapshots."""
    totals: dict[str, dict[str, int]] = {}
    for reading in readings:
        if not isinstance(reading, dict) or not isinstance(reading.get("targets"), dict):
            raise AnsibleFilterError("smoke_totals: a /metrics reading has no 'targets' object")
        for label, counts in reading["targets"].items():
            entry = totals.setdefault(label, dict.fromkeys(FIELDS, 0))
            for field in FIELDS:
                entry[field] += int(counts.get(field, 0))
    return totals


def smoke_delta(now: dict, before: dict) -> dict[str, dict[str, int]]:
    """Per target, how much each counter grew from BEFORE to NOW (targets that grew only)."""
    delta = {}
    for label, counts in now.items():
        old = before.get(label, {})
        grown = {f: counts.get(f, 0) - old.get(f, 0) for f in FIELDS}
        if any(v > 0 for v in grown.values()):
            delta[label] = grown
    return delta


def smoke_unmet(delta: dict, required: list[str]) -> list[str]:
    """The required target patterns (fnmatch, e.g. rpc/nova/compute) no target of which routed."""
    routed = [label for label, counts in delta.items() if counts.get("routed", 0) > 0]
    return [p for p in required if not any(fnmatch.fnmatchcase(label, p) for label in routed)]


def _routed(targets: dict, pattern: str) -> int:
    return sum(c.get("routed", 0) for t, c in targets.items() if fnmatch.fnmatchcase(t, pattern))


def smoke_report_lines(report: dict, bus: bool) -> list[str]:
    """The report as a table: a line per step (result, time, messages, required targets)."""
    lines = [
        f"smoke report: cloud {report['cloud']}, run {report.get('run', '-')}, "
        f"{report['seconds']} s, "
        + (
            f"messages through the proxies of {report['proxy_group']}"
            if bus
            else "proxies not read"
        )
    ]
    lines.append(
        f"{'step':<18} {'project':<9} {'result':<8} {'time':>6} {'rpc':>5} {'notify':>6}  "
        + ("required targets (routed) / error" if bus else "error")
    )
    for step in report["steps"]:
        targets = step.get("targets") or {}
        rpc = sum(c.get("routed", 0) for t, c in targets.items() if t.startswith("rpc/"))
        notify = sum(c.get("routed", 0) for t, c in targets.items() if t.startswith("notify/"))
        if step.get("error"):
            detail = step["error"]
        else:
            detail = ", ".join(f"{p} +{_routed(targets, p)}" for p in step.get("required") or [])
        counts = f"{rpc:>5} {notify:>6}" if bus else f"{'-':>5} {'-':>6}"
        lines.append(
            f"{step['name']:<18} {step.get('project', '-'):<9} {step['outcome']:<8} "
            f"{float(step.get('seconds', 0)):>5.1f}s {counts}  {detail}".rstrip()
        )
    if report["outcome"] == "OK":
        skipped = [s["name"] for s in report["steps"] if s["outcome"] == "SKIPPED"]
        lines.append("ALL OK" + (f" (skipped: {', '.join(skipped)})" if skipped else ""))
    else:
        verdict = "FAILED: " + (", ".join(report["failed"]) or "-")
        if report.get("not_run"):
            verdict += "; not run: " + ", ".join(report["not_run"])
        lines.append(verdict)
    return lines


class FilterModule:
    def filters(self):
        return {
            "smoke_run_name": smoke_run_name,
            "smoke_totals": smoke_totals,
            "smoke_delta": smoke_delta,
            "smoke_unmet": smoke_unmet,
            "smoke_report_lines": smoke_report_lines,
        }
