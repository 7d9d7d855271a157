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


def smoke_readings(results: list[dict]) -> dict[str, dict | None]:
    """Per proxy ("HOST URL"), its /stats snapshot, or None when it did not answer.

    RESULTS are the uri loop's results over (host, url) pairs; a proxy that is down (killed,
    hung, restarting) answers nothing, which a smoke run across a proxy failure must survive.
    """
    readings: dict[str, dict | None] = {}
    for result in results:
        item = result.get("item") or ["?", "?"]
        key = f"{item[0]} {item[1]}"
        if result.get("status") != 200:
            readings[key] = None
            continue
        reading = result.get("json")
        if not isinstance(reading, dict) or not isinstance(reading.get("targets"), dict):
            raise AnsibleFilterError(f"smoke_readings: {key} answered without a 'targets' object")
        readings[key] = reading
    return readings


def smoke_unreachable(readings: dict[str, dict | None]) -> list[str]:
    """The proxies (HOST URL) that did not answer."""
    return sorted(key for key, reading in readings.items() if reading is None)


def smoke_totals(readings: dict[str, dict | None]) -> dict[str, dict[str, int]]:
    """{target label: {routed, held, dropped}} summed over the proxies that answered."""
    totals: dict[str, dict[str, int]] = {}
    for reading in readings.values():
        for label, counts in (reading or {}).get("targets", {}).items():
            entry = totals.setdefault(label, dict.fromkeys(FIELDS, 0))
            for field in FIELDS:
                entry[field] += int(counts.get(field, 0))
    return totals


def smoke_remember(now: dict, before: dict) -> dict[str, dict]:
    """Each proxy's last reading that answered: BEFORE updated with NOW's answers."""
    known = {key: reading for key, reading in before.items() if reading is not None}
    known.update({key: reading for key, reading in now.items() if reading is not None})
    return known


def _restarted(now: dict, before: dict | None) -> bool:
    return before is None or float(now.get("uptime_seconds", 0)) < float(
        before.get("uptime_seconds", 0)
    )


def smoke_delta(now: dict, before: dict) -> dict[str, dict[str, int]]:
    """Per target, how much each counter grew from BEFORE to NOW (targets that grew only).

    NOW is a smoke_readings, BEFORE each proxy's last answer (smoke_remember). Growth is
    taken per proxy and summed: a proxy that did not answer now adds nothing (its growth
    shows at its next answer); one never read before, or restarted since (its uptime went
    back), counts from zero.
    """
    delta: dict[str, dict[str, int]] = {}
    for key, reading in now.items():
        if reading is None:
            continue
        old = before.get(key)
        base = {} if _restarted(reading, old) else old["targets"]
        for label, counts in reading["targets"].items():
            previous = base.get(label, {})
            entry = delta.setdefault(label, dict.fromkeys(FIELDS, 0))
            for field in FIELDS:
                entry[field] += int(counts.get(field, 0)) - int(previous.get(field, 0))
    return {label: grown for label, grown in delta.items() if any(v > 0 for v in grown.values())}


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
        if step.get("unverified"):
            detail += (
                f" [not verifiable: {', '.join(step.get('proxies_lost') or [])} went away during"
                f" the step with its counts of {', '.join(step['unverified'])}]"
            )
        elif step.get("proxies_down"):
            detail += f" [no answer from {', '.join(step['proxies_down'])}]"
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
            "smoke_readings": smoke_readings,
            "smoke_unreachable": smoke_unreachable,
            "smoke_remember": smoke_remember,
            "smoke_totals": smoke_totals,
            "smoke_delta": smoke_delta,
            "smoke_unmet": smoke_unmet,
            "smoke_report_lines": smoke_report_lines,
        }
