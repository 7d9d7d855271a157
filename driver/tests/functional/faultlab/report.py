"""The per-fault table (plain text and markdown) and the JSON summary."""

from __future__ import annotations

import json

COLUMNS = (
    "fault",
    "victim",
    "casts sent",
    "dup",
    "lost",
    "calls ok/err",
    "call dup",
    "fanout miss/dup",
    "notif lost/dup",
    "max block s",
    "verdict",
)


def _lost(casts: dict) -> str:
    text = str(casts["lost"])
    if casts["lost_in_exec"]:
        text += f" (+{casts['lost_in_exec']} in exec)"
    return text


def rows(result: dict) -> list[list[str]]:
    out = []
    for win in result["windows"]:
        c, k, f, n = win["casts"], win["calls"], win["fanout"], win["notify"]
        name = win["name"] if win["round"] <= 1 else f"{win['name']} #{win['round']}"
        out.append(
            [
                name,
                str(win["details"].get("victim", "-")),
                str(c["sent"]),
                str(c["dup"]),
                _lost(c),
                f"{k['ok']}/{k['err']}",
                str(k["dup"]),
                f"{f['missing']}/{f['dup']}",
                f"{n['lost']}/{n['dup']}",
                f"{win['max_block_s']:.1f}",
                "FAIL" if win["violations"] else "ok",
            ]
        )
    t = result["totals"]
    out.append(
        [
            "TOTAL",
            "-",
            str(t["casts"].get("sent", 0)),
            str(t["casts"].get("dup", 0)),
            _lost({k: t["casts"].get(k, 0) for k in ("lost", "lost_in_exec")}),
            f"{t['calls'].get('ok', 0)}/{t['calls'].get('err', 0)}",
            str(t["calls"].get("dup", 0)),
            f"{t['fanout'].get('missing', 0)}/{t['fanout'].get('dup', 0)}",
            f"{t['notify'].get('lost', 0)}/{t['notify'].get('dup', 0)}",
            f"{t['max_block_s']:.1f}",
            "ok" if result["ok"] else "FAIL",
        ]
    )
    return out


def _footer(result: dict) -> list[str]:
    lines = []
    if result["client_violations"]:
        lines += ["clients: " + "; ".join(result["client_violations"])]
    else:
        exits = ", ".join(
            f"{cid} {info['exit_after_s']} s" for cid, info in sorted(result["clients"].items())
        )
        lines.append(f"clients exited after SIGTERM: {exits}")
    for win in result["windows"]:
        for violation in win["violations"]:
            lines.append(f"{win['name']}#{win['round']}: {violation}")
    lines.append(f"driver {result['driver']}; wall {result['wall_s']} s")
    lines.append(f"workdir {result['workdir']}")
    return lines


def table(result: dict) -> str:
    body = [list(COLUMNS), *rows(result)]
    widths = [max(len(r[i]) for r in body) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines + [""] + _footer(result))


def markdown(result: dict, title: str = "") -> str:
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("|" + "---|" * len(COLUMNS))
    lines += ["| " + " | ".join(r) + " |" for r in rows(result)]
    lines.append("")
    lines += [f"* {line}" for line in _footer(result)]
    return "\n".join(lines) + "\n"


def summary(result: dict) -> dict:
    """The JSON summary: per window numbers and verdicts, totals, clients."""
    keep = ("ok", "violations", "totals", "clients", "driver", "workdir", "wall_s", "drain_s")
    out = {k: result.get(k) for k in keep}
    out["windows"] = [
        {
            "fault": w["name"],
            "round": w["round"],
            "duration_s": round(w["end"] - w["start"], 1) if w["end"] != float("inf") else None,
            "victim": w["details"].get("victim"),
            "details": {
                k: v for k, v in w["details"].items() if k not in ("fault_start", "fault_end")
            },
            "casts": w["casts"],
            "calls": w["calls"],
            "fanout": w["fanout"],
            "notify": w["notify"],
            "max_block_s": w["max_block_s"],
            "violations": w["violations"],
        }
        for w in result["windows"]
    ]
    return out


def write_json(result: dict, path: str) -> None:
    with open(path, "w") as handle:
        json.dump(summary(result), handle, indent=1, sort_keys=True)
        handle.write("\n")


def by_fault(result: dict) -> list[dict]:
    """Windows of the same fault added up over rounds (for the soak summary)."""
    order: list[str] = []
    acc: dict[str, dict] = {}
    for win in result["windows"]:
        name = win["name"]
        if name not in acc:
            order.append(name)
            acc[name] = {"fault": name, "windows": 0, "failed": 0, "casts_sent": 0}
            for key in ("casts_dup", "casts_lost", "lost_in_exec", "calls_ok", "calls_err"):
                acc[name][key] = 0
            for key in ("call_dup", "fanout_missing", "fanout_dup", "notify_lost", "notify_dup"):
                acc[name][key] = 0
            acc[name]["max_block_s"] = 0.0
        row = acc[name]
        c, k, f, n = win["casts"], win["calls"], win["fanout"], win["notify"]
        row["windows"] += 1
        row["failed"] += bool(win["violations"])
        row["casts_sent"] += c["sent"]
        row["casts_dup"] += c["dup"]
        row["casts_lost"] += c["lost"]
        row["lost_in_exec"] += c["lost_in_exec"]
        row["calls_ok"] += k["ok"]
        row["calls_err"] += k["err"]
        row["call_dup"] += k["dup"]
        row["fanout_missing"] += f["missing"]
        row["fanout_dup"] += f["dup"]
        row["notify_lost"] += n["lost"]
        row["notify_dup"] += n["dup"]
        row["max_block_s"] = max(row["max_block_s"], win["max_block_s"])
    return [acc[name] for name in order]


def by_fault_markdown(result: dict) -> str:
    rows_ = by_fault(result)
    if not rows_:
        return ""
    keys = list(rows_[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows_]
    return "\n".join(lines) + "\n"
