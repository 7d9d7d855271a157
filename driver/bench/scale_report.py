"""The scale simulation's result files: the goals judged, a markdown table and
the JSON document, written as <stamp>-scale.{json,md} and latest-scale.{json,md}."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

RSS_GOAL_MB = 200.0
THROUGHPUT_GOAL = 0.8  # msgs/s at N over msgs/s at the base case
KINDS = (
    "driver = a real oslo.messaging RPC server on its own transport (threading executor, "
    "executor_thread_pool_size from --executor-threads); bare = scale_bare.py, the driver's "
    "wire protocol (REGISTER every second unless the link carried messages both ways "
    "meanwhile, ACK taken, de-duplication) on one thread per process."
)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, list):
        return " / ".join(_fmt(x) for x in v)
    return f"{v:,}" if isinstance(v, int) else str(v)


def idle_line(idle: dict[str, Any]) -> str:
    parts = [
        f"proxy{i + 1}: {p['received_per_s']:,.0f} msgs/s received, CPU {p['cpu_pct']}%, "
        f"RSS {p['rss_mb']} MB"
        for i, p in enumerate(idle["proxies"])
    ]
    return (
        "; ".join(parts)
        + f"; listener processes: CPU {idle['listener_cpu_pct']}%, RSS {idle['listener_rss_mb']}"
        f" MB, {idle['listener_threads']} threads"
    )


def churn_line(c: dict[str, Any]) -> str:
    return (
        f"{c['restarts']} restarts; casts sent {c['sent']}, executed once {c['executed_once']}, "
        f"lost {c['lost']}, duplicated {c['duplicated']}; sent while the host was down "
        f"{c['sent_while_down']} (executed once {c['sent_while_down_executed_once']}, "
        f"max delay {c['sent_while_down_max_delay_s']} s)"
    )


def _max_rss(doc: dict[str, Any]) -> float | None:
    seen = [mb for row in doc.get("results", []) for mb in row.get("proxy_rss_mb", [])]
    seen += [p["rss_mb"] for idle in doc.get("idle", []) for p in idle["proxies"]]
    seen += doc.get("churn", {}).get("proxy_max_rss_mb", [])
    return max(seen) if seen else None


def case_medians(rows: list[dict[str, Any]], workload: str, key: str) -> dict[int, float | None]:
    """Per listener count, the median of key over the rounds of one workload."""
    by: dict[int, list[float]] = {}
    for r in rows:
        if r["workload"] == workload:
            by.setdefault(r["listeners"], []).append(r.get(key))
    return {
        count: statistics.median(known) if (known := [v for v in values if v is not None]) else None
        for count, values in by.items()
    }


def round_ratios(rows: list[dict[str, Any]], workload: str, key: str = "msgs_per_s") -> list:
    """key at the large case over key at the small one, round by round."""
    counts = sorted({r["listeners"] for r in rows})
    if len(counts) < 2:
        return []
    by = {
        (r.get("round", 1), r["listeners"]): r.get(key) for r in rows if r["workload"] == workload
    }
    out = []
    for rnd in sorted({r.get("round", 1) for r in rows}):
        small, large = by.get((rnd, counts[0])), by.get((rnd, counts[-1]))
        if small and large is not None:
            out.append(round(large / small, 2))
    return out


def goals(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's goals, judged on this run (met None: not measured); with several
    rounds, on the median of each case."""
    out: list[dict[str, Any]] = []
    rows = doc.get("results", [])
    counts = sorted({r["listeners"] for r in rows})
    rounds = len({r.get("round", 1) for r in rows})
    for kind in ("call", "cast"):
        med = case_medians(rows, kind, "msgs_per_s")
        ratio = None
        if len(counts) > 1 and med.get(counts[0]) and med.get(counts[-1]) is not None:
            ratio = round(med[counts[-1]] / med[counts[0]], 2)
        goal = {
            "goal": f"{kind} msgs/s at {counts[-1] if counts else 'N'} listeners / at "
            f"{counts[0] if counts else 10}",
            "value": ratio,
            "target": f">= {THROUGHPUT_GOAL}",
            "met": None if ratio is None else ratio >= THROUGHPUT_GOAL,
        }
        if rounds > 1:
            goal["goal"] += f" (medians of {rounds} rounds; round by round: "
            goal["goal"] += ", ".join(f"{x:.2f}" for x in round_ratios(rows, kind)) + ")"
        out.append(goal)
    for kind in ("call", "cast"):
        med = case_medians(rows, kind, "proxy_us_per_msg_net")
        if len(counts) > 1 and med.get(counts[0]):
            net = med.get(counts[-1])
            ratio = round(net / med[counts[0]], 2) if net else None
            out.append(
                {
                    "goal": f"(not a goal of the issue) {kind}: proxies' CPU per routed "
                    f"message without their REGISTER load, at {counts[-1]} / at {counts[0]}",
                    "value": ratio,
                    "target": "about 1: routing cost does not grow with N",
                    "met": None,
                    "info": True,
                }
            )
    rss = _max_rss(doc)
    out.append(
        {
            "goal": "largest proxy RSS seen (MB)",
            "value": rss,
            "target": f"< {RSS_GOAL_MB:g}",
            "met": None if rss is None else rss < RSS_GOAL_MB,
        }
    )
    churn = doc.get("churn")
    if churn:
        bad = churn["lost"] + churn["duplicated"]
        out.append(
            {
                "goal": "churn: casts lost + duplicated",
                "value": bad,
                "target": "== 0",
                "met": bad == 0,
            }
        )
    return out


def _split(row: dict[str, Any]) -> list[float] | None:
    """Both proxies' CPU seconds: [interpreter threads, libzmq threads]."""
    split = row.get("proxy_cpu_split_s")
    if not split:
        return None
    return [round(sum(p.get(k, 0.0) for p in split), 2) for k in ("python", "libzmq")]


def _health_rows(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(h["phase"], h["log"]) for h in doc.get("health", [])]


def markdown(doc: dict[str, Any]) -> str:
    meta = doc["meta"]
    st = meta["settings"]
    sec = "plain" if st["plain"] else "CURVE"
    lines = [
        f"# Scale simulation: {st['listeners']:,} nova-compute-like listeners on 2 proxies",
        "",
        f"Measured {meta['started']} on {meta['machine']}; the run took "
        f"{meta.get('seconds', 0) / 60:.1f} min.",
        f"Load average before/after: {meta['load_before']} / {meta.get('load_after', '?')} "
        "(a shared machine: the listeners, senders and proxies all run on it).",
        f"Listeners: {st['per_process']} per process, topic compute, server host-NNNN, "
        f"exchange nova, each its own routing id and DEALER per proxy; kind {st['listener_kind']}"
        f" for throughput and registration, {st['churn_kind']} for the churn. {KINDS} "
        f"Security: {sec}.",
        f"Versions: {meta['versions']}.",
        f"Command: `{meta['command']}`",
        "",
        f"## Routing throughput (same load: {st['senders']} sender processes x "
        f"{st['threads']} threads, sender i through proxy i mod 2, random hosts, "
        f"{st['window']:g} s windows)",
        "",
        "call: closed loop, round trip; cast: as fast as cast() returns, one way (cast() to the",
        "endpoint), msgs/s = casts executed from the first send to the last execution.",
        "CPU s: used during the window (until the last cast ran) by each proxy, by all",
        "listener processes, by all senders, by the machine's other processes (it is shared);",
        "Python / libzmq: both proxies' CPU s in the interpreter's threads and in libzmq's.",
        "us/msg: both proxies' CPU per routed message, with their REGISTER load (an upper",
        "bound of what routing costs) and net of it (minus the CPU they burn idle with as many",
        "listeners, measured just before: a lower bound, a busy proxy handles REGISTERs in",
        "bursts, more cheaply than an idle one).",
        f"Rounds: {st.get('rounds', 1)}; after the first, the extra listeners stop cleanly and",
        "start again (new routing ids) between the windows of the small and the large case, so",
        "that both cases meet the same drift of the neighbours' load; the goals take medians.",
        "",
        "| round | listeners | kind | workload | msgs/s | p50 ms | p99 ms | sent | lost | dups "
        "| proxy RSS MB (1 / 2) | routed (1 / 2) | proxy CPU s (1 / 2) | Python / libzmq "
        "| us/msg | net "
        "| listeners CPU s | senders CPU s | other CPU s | window s |",
        "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:"
        "|---:|",
    ]
    for r in doc.get("results", []):
        lines.append(
            f"| {r.get('round', 1)} | {_fmt(r['listeners'])} | {r['kind']} | {r['workload']} "
            f"| {_fmt(r['msgs_per_s'])} "
            f"| {_fmt(r['p50_ms'])} | {_fmt(r['p99_ms'])} | {_fmt(r['sent'])} | {_fmt(r['lost'])} "
            f"| {_fmt(r['dups'])} | {_fmt(r['proxy_rss_mb'])} | {_fmt(r['proxy_routed'])} "
            f"| {_fmt(r['proxy_cpu_s'])} | {_fmt(_split(r))} | {_fmt(r['proxy_us_per_msg'])} "
            f"| {_fmt(r.get('proxy_us_per_msg_net'))} "
            f"| {_fmt(r['listener_cpu_s'])} | {_fmt(r['sender_cpu_s'])} "
            f"| {_fmt(r.get('other_cpu_s'))} | {_fmt(r['seconds'])} |"
        )
    if doc.get("idle"):
        lines += [
            "",
            "## Registration and heartbeat load",
            "",
            "Each listener sends a full REGISTER to each proxy every heartbeat_interval (1 s).",
            "Idle: nobody sends; REGISTER/s = messages received/s minus the clients' pings",
            "(one per client and second). Registered in: from the start command to both",
            "proxies listing every listener of the topic. In C: the share of the received",
            "messages the proxy's native core handled without Python.",
            "",
            "| listeners | kind | registered in s | proxy | received msgs/s | REGISTER/s "
            "| CPU % idle | of which Python / libzmq | in C % | RSS MB |",
            "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|",
        ]
        regs = {(r["listeners"], r["kind"]): r for r in doc.get("registration", [])}
        for idle in doc["idle"]:
            reg = regs.get((idle["listeners"], idle["kind"]), {})
            for i, p in enumerate(idle["proxies"]):
                lines.append(
                    f"| {_fmt(idle['listeners'])} | {idle['kind']} | {_fmt(reg.get('seconds'))} "
                    f"| proxy{i + 1} "
                    f"| {_fmt(p['received_per_s'])} | {_fmt(p['register_per_s'])} "
                    f"| {_fmt(p['cpu_pct'])} "
                    f"| {_fmt([p.get('python_cpu_pct'), p.get('libzmq_cpu_pct')])} "
                    f"| {_fmt(p.get('native_pct'))} | {_fmt(p['rss_mb'])} |"
                )
        lines += [
            "",
            "The simulation's own cost while idle (all listener processes together):",
            "",
            "| listeners | kind | processes | CPU % | RSS MB | threads | other processes CPU % |",
            "|---:|---|---:|---:|---:|---:|---:|",
        ]
        for idle in doc["idle"]:
            lines.append(
                f"| {_fmt(idle['listeners'])} | {idle['kind']} | {idle['listener_processes']} "
                f"| {_fmt(idle['listener_cpu_pct'])} | {_fmt(idle['listener_rss_mb'])} "
                f"| {_fmt(idle['listener_threads'])} | {_fmt(idle.get('other_cpu_pct'))} |"
            )
    c = doc.get("churn")
    if c:
        lines += [
            "",
            f"## Churn ({st['churn_pct']:g}% of the {c['kind']} listeners restart per minute, "
            f"mode {c['mode']}, {st['down_time']:g} s down, {c['cast_rate']:g} casts/s, "
            f"{c['duration_s']:g} s)",
            "",
            "Counted by message id over every sender's and listener's append-only record.",
            "Sent while down: casts sent to a host between the start of its stop and its start",
            "again (a new routing id); held by a proxy, they must run after it registers.",
            "",
            "| restarts | casts sent | executed once | lost | duplicated | sent while down "
            "| of those executed once | their max delay s | held (1 / 2) | delivered from hold "
            "| dropped | proxy RSS MB at the start, max | proxy CPU s | listeners / senders / "
            "other CPU s |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        pc = c["proxy_counters"]
        lines.append(
            f"| {_fmt(c['restarts'])} | {_fmt(c['sent'])} | {_fmt(c['executed_once'])} "
            f"| {_fmt(c['lost'])} | {_fmt(c['duplicated'])} | {_fmt(c['sent_while_down'])} "
            f"| {_fmt(c['sent_while_down_executed_once'])} "
            f"| {_fmt(c['sent_while_down_max_delay_s'])} "
            f"| {_fmt([p['held'] for p in pc])} | {_fmt([p['delivered_from_hold'] for p in pc])} "
            f"| {_fmt([p['dropped'] for p in pc])} "
            f"| {_fmt(c['proxy_rss_start_mb'])}, max {_fmt(c['proxy_max_rss_mb'])} "
            f"| {_fmt(c['proxy_cpu_s'])} "
            f"| {_fmt([c['listener_cpu_s'], c['sender_cpu_s'], c['other_cpu_s']])} |"
        )
        extra = []
        if c.get("proxy_rss_series"):
            extra.append(
                "proxy RSS MB during the churn (s: proxy1 / proxy2): "
                + ", ".join(f"{t}: {a:g} / {b:g}" for t, a, b in c["proxy_rss_series"])
            )
        if c["lost_ids"]:
            extra.append(f"lost ids (first 20): {', '.join(c['lost_ids'])}")
        if c["duplicated_ids"]:
            extra.append(f"duplicated ids (first 20): {', '.join(c['duplicated_ids'])}")
        if c["executed_not_sent"] or c["wrong_host"]:
            extra.append(
                f"executed but not recorded as sent: {c['executed_not_sent']}; "
                f"executed by another host: {c['wrong_host']}"
            )
        if c["send_errors"]:
            extra.append(f"cast() errors: {c['send_errors']} (first: {c['first_error']})")
        if c["restarts_unfinished"]:
            extra.append(f"restarts not finished at the end: {c['restarts_unfinished']}")
        extra += [f"worker error: {e}" for e in c["errors"]]
        lines += ["", *[f"- {e}" for e in extra]] if extra else []
    health = _health_rows(doc)
    if health:
        lines += [
            "",
            "## Listener health (from the logs)",
            "",
            "late I/O loops: driver listeners whose I/O loop ran more than 1 s late (their",
            "REGISTERs and ACKs wait meanwhile); released unrun: casts a driver listener gave",
            "back because their lease ran out; timed out: listeners a proxy forgot after",
            "peer_timeout of silence; given up: casts a sender dropped.",
            "",
            "| phase | late I/O loops | latest by s | released unrun | timed out (1 / 2) "
            "| given up |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, ev in health:
            lines.append(
                f"| {name} | {_fmt(ev['io_loops_late'])} | {_fmt(ev['io_loop_late_max_s'])} "
                f"| {_fmt(ev['released_unrun'])} | {_fmt(ev['proxy_listener_timeouts'])} "
                f"| {_fmt(ev['sender_gave_up'])} |"
            )
    lines += ["", "## Goals of the issue", ""]
    for g in doc.get("goals", []):
        if g.get("info"):
            lines.append(f"- {g['goal']}: {_fmt(g['value'])} ({g['target']})")
            continue
        mark = {True: "met", False: "NOT met", None: "not measured"}[g["met"]]
        lines.append(f"- {g['goal']}: {_fmt(g['value'])} (goal {g['target']}): **{mark}**")
    if doc.get("notes"):
        lines += ["", "## Notes", "", *[f"- {n}" for n in doc["notes"]]]
    return "\n".join(lines) + "\n"


def write(doc: dict[str, Any], out_dir: Path, stamp: str) -> list[Path]:
    """Write <stamp>-scale.json/.md and latest-scale.json/.md into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text_json = json.dumps(doc, indent=2) + "\n"
    text_md = markdown(doc)
    paths = []
    for base in (f"{stamp}-scale", "latest-scale"):
        (out_dir / f"{base}.json").write_text(text_json)
        (out_dir / f"{base}.md").write_text(text_md)
        paths += [out_dir / f"{base}.json", out_dir / f"{base}.md"]
    return paths
