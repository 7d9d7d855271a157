"""Turn measured rows into the committed result files: one JSON document and
one markdown table, with zmq/RabbitMQ ratios and the targets of the speed
issue (13; issue 3 set the first ones)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

SUM_KEYS = ("sent", "delivered", "lost", "dups", "errors", "timeouts")
MEDIAN_KEYS = ("msgs_per_s", "p50_ms", "p99_ms")
FIRST = "first-"  # workloads timing a new transport's first message: a table of their own
FIRST_MESSAGE_GOAL_MS = 50.0
BASELINE = "rabbit"
TARGETS_ON = "zmq-curve"  # operators get CURVE by default: the targets are judged on it


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (transport, workload): sums of counts, medians over rounds."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["transport"], row["workload"]), []).append(row)
    out = []
    for (transport, workload), rs in groups.items():
        agg: dict[str, Any] = {
            "transport": transport,
            "workload": workload,
            "threads": rs[0]["threads"],
            "latency": rs[0]["latency"],
            "rounds": len(rs),
        }
        for key in SUM_KEYS:
            agg[key] = sum(r.get(key, 0) for r in rs)
        for key in MEDIAN_KEYS:
            agg[key] = round(statistics.median(r[key] for r in rs), 3)
        maxima = [r["max_ms"] for r in rs if r.get("max_ms") is not None]
        if maxima:
            agg["max_ms"] = max(maxima)
        samples = [ms for r in rs for ms in r.get("samples_ms") or []]
        if samples:
            agg["samples_ms"] = samples
        rss = [r["server_maxrss_mb"] for r in rs if r.get("server_maxrss_mb")]
        if rss:
            agg["server_maxrss_mb"] = max(rss)
        agg["first_error"] = next((r["first_error"] for r in rs if r.get("first_error")), "")
        out.append(agg)
    return out


def ratios(agg: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {(r["transport"], r["workload"]): r for r in agg}
    out = []
    for r in agg:
        base = by.get((BASELINE, r["workload"]))
        if base is None or r["transport"] == BASELINE or r["workload"].startswith(FIRST):
            continue
        out.append(
            {
                "workload": r["workload"],
                "transport": r["transport"],
                "msgs_per_s": r["msgs_per_s"],
                "rabbit_msgs_per_s": base["msgs_per_s"],
                "throughput_ratio": _div(r["msgs_per_s"], base["msgs_per_s"]),
                "p99_ms": r["p99_ms"],
                "rabbit_p99_ms": base["p99_ms"],
                "p99_ratio": _div(r["p99_ms"], base["p99_ms"]),
            }
        )
    return out


def _div(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def targets(agg: list[dict[str, Any]], transport: str = TARGETS_ON) -> list[dict[str, Any]]:
    """The targets of the speed issue, judged on one zmq variant (None = not measured);
    the first-message goal on every zmq variant measured."""
    by = {(r["transport"], r["workload"]): r for r in agg}

    def ratio(wl: str, key: str) -> float | None:
        z, b = by.get((transport, wl)), by.get((BASELINE, wl))
        return _div(z[key], b[key]) if z and b else None

    checks: list[dict[str, Any]] = []

    def add(name: str, value: float | None, goal: str, ok: bool | None) -> None:
        checks.append({"target": name, "value": value, "goal": goal, "met": ok})

    r = ratio("call-8", "msgs_per_s")
    add("calls/s, 8 threads, zmq/rabbit", r, ">= 4", None if r is None else r >= 4)
    r = ratio("cast", "msgs_per_s")
    add("casts/s, zmq/rabbit", r, ">= 3", None if r is None else r >= 3)
    r = ratio("call-1", "p99_ms")
    add("p99 latency call-1, zmq/rabbit", r, "<= 0.5", None if r is None else r <= 0.5)
    for wl in ("cast", "notify"):
        r = ratio(wl, "p99_ms")
        add(f"p99 one-way {wl}, zmq/rabbit", r, "<= 1", None if r is None else r <= 1)
    for row in agg:
        if row["workload"].startswith(FIRST) and row["transport"] != BASELINE:
            worst = row.get("max_ms", row["p99_ms"])
            ok = worst <= FIRST_MESSAGE_GOAL_MS and row["lost"] == 0
            add(f"{row['workload']} {row['transport']}, slowest ms", worst, "<= 50", ok)
    zrows = [row for row in agg if row["transport"] == transport]
    lost = sum(row["lost"] for row in zrows) if zrows else None
    add("messages lost (zmq, all workloads)", lost, "== 0", None if lost is None else lost == 0)
    return checks


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.2f}" if v < 100 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def markdown(doc: dict[str, Any]) -> str:
    meta = doc["meta"]
    lines = [
        "# oslo.messaging benchmark: zmq vs RabbitMQ",
        "",
        f"Measured {meta['started']} on {meta['machine']}.",
        f"Load average before/after: {meta['load_before']} / {meta['load_after']}.",
        f"Settings: {meta['settings']}.",
        f"Versions: {meta['versions']}.",
        "",
        "msgs/s: calls answered per second (calls), messages received by the server per",
        "second (cast, notify) or echoes per second (raw). Latency: call round trip, one way",
        "(send -> server endpoint) for cast/notify. lost: calls not answered; casts and",
        "notifications sent but never received. Medians over rounds, counts summed.",
        "",
        "| transport | workload | threads | msgs/s | p50 ms | p99 ms | latency | sent | lost "
        "| dups |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in doc["results"]:
        if r["workload"].startswith(FIRST):
            continue
        lines.append(
            f"| {r['transport']} | {r['workload']} | {r['threads']} | {_fmt(r['msgs_per_s'])} "
            f"| {_fmt(r['p50_ms'])} | {_fmt(r['p99_ms'])} | {r['latency']} | {_fmt(r['sent'])} "
            f"| {_fmt(r['lost'])} | {_fmt(r['dups'])} |"
        )
    if doc["ratios"]:
        lines += [
            "",
            "## zmq / RabbitMQ",
            "",
            "| workload | transport | msgs/s | rabbit msgs/s | ratio | p99 ms | rabbit p99 ms "
            "| p99 ratio |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for q in doc["ratios"]:
            lines.append(
                f"| {q['workload']} | {q['transport']} | {_fmt(q['msgs_per_s'])} "
                f"| {_fmt(q['rabbit_msgs_per_s'])} | {_fmt(q['throughput_ratio'])} "
                f"| {_fmt(q['p99_ms'])} | {_fmt(q['rabbit_p99_ms'])} | {_fmt(q['p99_ratio'])} |"
            )
    first = [r for r in doc["results"] if r["workload"].startswith(FIRST)]
    if first:
        lines += [
            "",
            "## First message on a new transport",
            "",
            "From get_rpc_transport() to the first call's answer (first-call) or to the",
            "first cast at the server (first-cast), each on a transport of its own.",
            "All samples run in one new process: the first call's time includes importing",
            "the driver (its bytecode brought up to date first, as pip installs it).",
            "",
            "| transport | workload | p50 ms | p99 ms | slowest ms | first of the process ms "
            "| samples | lost |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in first:
            cold = (r.get("samples_ms") or [None])[0]
            lines.append(
                f"| {r['transport']} | {r['workload']} | {_fmt(r['p50_ms'])} "
                f"| {_fmt(r['p99_ms'])} | {_fmt(r.get('max_ms'))} | {_fmt(cold)} "
                f"| {_fmt(r['sent'])} | {_fmt(r['lost'])} |"
            )
    lines += ["", f"## Targets (judged on {TARGETS_ON}; first message on every zmq variant)", ""]
    for t in doc["targets"]:
        mark = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
        lines.append(f"- {t['target']}: {_fmt(t['value'])} (goal {t['goal']}): **{mark}**")
    if doc.get("proxy_counters"):
        lines += ["", "## Proxy counters at the end of the run", ""]
        for name, counters in doc["proxy_counters"].items():
            lines.append(f"- {name}: {counters}")
    errors = [r for r in doc["results"] if r.get("first_error")]
    if errors or doc.get("notes"):
        lines += ["", "## Notes", ""]
        lines += [f"- {n}" for n in doc.get("notes", [])]
        lines += [
            f"- {r['transport']} {r['workload']}: first error: `{r['first_error']}`" for r in errors
        ]
    return "\n".join(lines) + "\n"


def write(doc: dict[str, Any], out_dir: Path, stamp: str, latest: str = "latest") -> list[Path]:
    """Write <stamp>.json/.md and <latest>.json/.md into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text_json = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    text_md = markdown(doc)
    paths = []
    for base in (stamp, latest):
        (out_dir / f"{base}.json").write_text(text_json)
        (out_dir / f"{base}.md").write_text(text_md)
        paths += [out_dir / f"{base}.json", out_dir / f"{base}.md"]
    return paths
