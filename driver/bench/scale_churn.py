"""Churn phase of the scale simulation: listeners restart while senders cast.

``stop`` mode (default): every 60 / (pct% x N) seconds one random listener that
is up stops cleanly (RPC server stop + wait, transport cleanup: it unregisters
from both proxies), stays down ``down`` seconds and starts again with the same
host name on a new transport, so with a new routing id — a nova-compute
restarted by systemd. ``kill`` mode: a whole listener worker process is
SIGKILLed instead, at the rate that restarts pct% of the listeners per minute,
and started again (after ``down`` seconds) with the same host names.

Meanwhile the senders cast to random hosts at a steady rate. Casts sent to a
host while it is down are held by a proxy and must run once it is back. At
the end it waits for every restart to finish and for every cast to run (at
most ``drain`` seconds) and counts by message id.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import scale_count
from scale_lab import Lab, Meter
from scale_sender import host_name

PHASE = "churn"
POLL = 1.0  # s between looks at the workers' restart events and the proxies' RSS
RSS_EVERY = 30.0  # s between the proxies' RSS samples kept for the report


@dataclass
class Settings:
    duration: float = 180.0
    pct_per_min: float = 10.0
    mode: str = "stop"
    down: float = 5.0
    rate: float = 100.0
    drain: float = 90.0


def run(lab: Lab, st: Settings, log: Callable[[str], None]) -> dict[str, Any]:
    n = lab.n
    restarts_per_s = st.pct_per_min / 100 * n / 60
    if st.mode == "kill":
        per_worker = n / lab.workers_count
        interval = per_worker / restarts_per_s if restarts_per_s else float("inf")
    else:
        interval = 1 / restarts_per_s if restarts_per_s else float("inf")
    meter = Meter(lab)
    rnd = random.Random(7)
    restarting: dict[str, float] = {}  # host -> when its restart was asked for
    down: list[tuple[str, float, float]] = []  # (host, t_down, t_up)
    max_rss = [0, 0]
    rss_series: list[list[float]] = []  # [s since the start, MB proxy1, MB proxy2] every 30 s
    errors: list[str] = []
    cmd = {
        "op": "run",
        "phase": PHASE,
        "kind": "cast",
        "hosts": n,
        "threads": 1,
        "duration": st.duration,
        "rate": st.rate / len(lab.senders),
    }
    sent_answers: list[dict[str, Any]] = []

    def send() -> None:
        try:
            sent_answers.extend(lab.run_senders(cmd, st.duration + 120))
        except Exception as exc:  # reported below
            errors.append(f"senders: {type(exc).__name__}: {exc}"[:300])

    def collect() -> None:
        for stats in lab.worker_stats():
            for event in stats["events"]:
                restarting.pop(event["host"], None)
                down.append((event["host"], event["down"], event["up"]))
            errors.extend(e for e in stats["errors"] if e not in errors)
        rss = [int(stats.get("rss_bytes", 0)) for stats in lab.proxy_stats()]
        for i, value in enumerate(rss):
            max_rss[i] = max(max_rss[i], value)
        at = time.monotonic() - start
        if not rss_series or at - rss_series[-1][0] >= RSS_EVERY:
            rss_series.append([round(at), *(round(v / 2**20, 1) for v in rss)])

    def kill(i: int) -> int:
        hosts = lab.hosts_of(i)
        t_down = time.monotonic()
        for host in hosts:
            restarting[host] = t_down
        lab.respawn(i)
        time.sleep(max(0.0, st.down - (time.monotonic() - t_down)))
        lab.activate(hosts)
        while lab.listeners[i].request({"op": "stats"}, 30)["up"] < len(hosts):
            time.sleep(0.1)
        t_up = time.monotonic()
        for host in hosts:
            restarting.pop(host, None)
            down.append((host, t_down, t_up))
        return len(hosts)

    sender = threading.Thread(target=send, daemon=True)
    start = time.monotonic()
    sender.start()
    # the first restart half an interval in: a short run still sees one in kill mode
    next_restart = start + interval / 2
    next_poll = start
    kills = restarts = 0
    last_progress = start
    while time.monotonic() - start < st.duration:
        now = time.monotonic()
        if now >= next_restart:
            next_restart += interval
            if st.mode == "kill":
                restarts += kill(kills % lab.workers_count)
                kills += 1
            else:
                up = [host_name(h) for h in range(n) if host_name(h) not in restarting]
                if up:
                    host = rnd.choice(up)
                    restarting[host] = now
                    lab.listeners[lab.worker_of(host)].request(
                        {"op": "restart", "host": host, "down": st.down}, 30
                    )
                    restarts += 1
        if now >= next_poll:
            collect()
            next_poll = now + POLL
        if now - last_progress >= 30:
            last_progress = now
            log(f"  churn: {now - start:.0f}/{st.duration:.0f} s, {restarts} restarts asked")
        time.sleep(max(0.0, min(next_restart, next_poll) - time.monotonic()))
    sender.join()
    log(f"  churn: senders done; waiting for {len(restarting)} restarts to finish")
    deadline = time.monotonic() + st.down + 60
    while restarting and time.monotonic() < deadline:
        time.sleep(POLL)
        collect()
    sent = sum(a.get("ok", 0) for a in sent_answers)
    log(f"  churn: waiting up to {st.drain:.0f} s for the {sent} casts to run")
    deadline = time.monotonic() + st.drain
    while time.monotonic() < deadline:
        if scale_count.executed_count(lab.exec_files(), PHASE) >= sent:
            break
        time.sleep(1.0)
    drained_in = time.monotonic() - start - st.duration
    collect()
    m = meter.finish()
    rss_start = [round(x.get("rss_bytes", 0) / 2**20, 1) for x in m.pop("stats0")]
    m.pop("stats")
    rec = scale_count.read(lab.sent_files(), lab.exec_files(), PHASE)
    out = scale_count.summary(rec, down)
    out.update(
        kind=lab.kind,
        mode=st.mode,
        duration_s=st.duration,
        restarts=len(down),
        restarts_asked=restarts,
        restarts_unfinished=len(restarting),
        cast_rate=st.rate,
        send_errors=sum(a.get("errors", 0) + a.get("timeouts", 0) for a in sent_answers),
        first_error=next((a["first_error"] for a in sent_answers if a.get("first_error")), ""),
        drained_after_s=round(drained_in, 1),
        errors=errors[:10],
        proxy_rss_start_mb=rss_start,
        proxy_max_rss_mb=[round(r / 2**20, 1) for r in max_rss],
        proxy_rss_series=rss_series,
    )
    out.update(m)  # CPU seconds, counters, RSS at the end, what the logs said
    return out
