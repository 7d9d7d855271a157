"""The simulator workloads through oslo.messaging on one transport URL:
start a server worker and a client worker, warm up, run each workload for a
bounded time, wait for stragglers, and turn the numbers into result rows."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from control import Worker

Log = Callable[[str], None]


@dataclass(frozen=True)
class Workload:
    name: str
    kind: str  # call | cast | notify
    threads: int


WORKLOADS = (
    Workload("call-1", "call", 1),
    Workload("call-8", "call", 8),
    Workload("cast", "cast", 1),
    Workload("notify", "notify", 1),
)


@dataclass
class Settings:
    duration: float = 10.0
    size: str = "1024:3072"
    call_timeout: float = 10.0
    drain: float = 15.0
    max_msgs: int = 0
    workloads: tuple[Workload, ...] = WORKLOADS
    log_dir: Path = field(default_factory=lambda: Path("."))
    worker_extra: list[str] = field(default_factory=list)  # e.g. ["--eventlet"]
    zmq_options: list[str] = field(default_factory=list)  # e.g. ["max_inflight=64"]


def _wait_delivered(server: Worker, wl: str, expected: int, drain: float) -> dict[str, Any]:
    """Poll the server until it saw `expected` messages, or nothing new for 3 s,
    or `drain` seconds passed."""
    deadline = time.monotonic() + drain
    last_count, last_change = -1, time.monotonic()
    while True:
        stats = server.request({"op": "stats", "wl": wl}, timeout=30)
        now = time.monotonic()
        if stats["received"] != last_count:
            last_count, last_change = stats["received"], now
        if stats["received"] >= expected or now > deadline or now - last_change > 3:
            return stats
        time.sleep(0.2)


def _row(transport: str, wl: Workload, cli: dict[str, Any], srv: dict[str, Any]) -> dict[str, Any]:
    sent = cli["sent"]
    row: dict[str, Any] = {
        "transport": transport,
        "workload": wl.name,
        "threads": wl.threads,
        "sent": sent,
        "errors": cli["errors"],
        "timeouts": cli["timeouts"],
        "dups": srv["dups"],
        "first_error": cli["first_error"],
    }
    elapsed = max(cli["t1"] - cli["t0"], 1e-9)
    if wl.kind == "call":
        # A call is done when its answer is back: unanswered calls are lost.
        row.update(
            delivered=cli["ok"],
            lost=sent - cli["ok"],
            msgs_per_s=round(cli["ok"] / elapsed, 1),
            p50_ms=cli["send_p50_ms"],
            p99_ms=cli["send_p99_ms"],
            latency="round trip",
        )
    else:
        # Casts and notifications count when the server has them.
        end = srv["last"] if srv["last"] else cli["t1"]
        span = max(end - cli["t0"], elapsed, 1e-9)
        row.update(
            delivered=srv["received"],
            lost=max(sent - srv["received"], 0),
            msgs_per_s=round(srv["received"] / span, 1),
            p50_ms=srv["p50_ms"],
            p99_ms=srv["p99_ms"],
            latency="one way",
            send_p50_ms=cli["send_p50_ms"],
            send_p99_ms=cli["send_p99_ms"],
        )
    row["seconds"] = round(elapsed, 2)
    row["server_maxrss_mb"] = srv.get("maxrss_mb")
    return row


def _run_one(
    client: Worker, server: Worker, wl: Workload, st: Settings, name: str, round_no: int
) -> dict[str, Any]:
    tag = f"{wl.name}#{round_no}"  # the server counts per tag
    cmd = {
        "op": "run",
        "kind": wl.kind,
        "wl": tag,
        "threads": wl.threads,
        "duration": st.duration,
        "max_msgs": st.max_msgs,
        "timeout": st.call_timeout,
        "size": st.size,
    }
    cli = client.request(cmd, timeout=st.duration + st.call_timeout + 60)
    srv = _wait_delivered(server, tag, cli["sent"], st.drain)
    return _row(name, wl, cli, srv)


def _warm_up(client: Worker, server: Worker, st: Settings) -> None:
    """Connections, queues and first-use costs before anything is measured."""
    for kind in ("call", "cast", "notify"):
        wl = f"warmup-{kind}"
        cmd = {
            "op": "run",
            "kind": kind,
            "wl": wl,
            "threads": 1,
            "duration": 20,
            "max_msgs": 30,
            "timeout": st.call_timeout,
            "size": st.size,
        }
        res = client.request(cmd, timeout=20 + st.call_timeout + 30)
        got = _wait_delivered(server, wl, res["sent"], st.drain)
        if res["errors"] or res["timeouts"] or got["received"] < res["sent"]:
            raise RuntimeError(
                f"warm-up {kind} failed: sent {res['sent']}, received {got['received']}, "
                f"{res['first_error']}"
            )


class Transport:
    """The server and client workers of one transport URL, kept up across
    workloads so that transports can take turns on each workload (fairer on
    a machine whose background load changes)."""

    def __init__(self, name: str, worker_args: list[str], st: Settings, log: Log) -> None:
        self.name = name
        self.st = st
        self.log = log
        worker_args = worker_args + st.worker_extra
        self.worker_args = worker_args
        self.server = Worker(
            "om_server.py", worker_args, st.log_dir / f"{name}-server.log", f"{name} server"
        )
        self.client: Worker | None = None
        try:
            self.server.wait_ready(90)
            self.client = Worker(
                "om_client.py", worker_args, st.log_dir / f"{name}-client.log", f"{name} client"
            )
            self.client.wait_ready(90)
            log(f"[{name}] workers up, warming up")
            _warm_up(self.client, self.server, st)
        except BaseException:
            self.close()
            raise

    def run(self, wl: Workload, round_no: int = 0) -> dict[str, Any]:
        assert self.client is not None
        self.log(f"[{self.name}] {wl.name}: {wl.threads} thread(s), {self.st.duration:g}s ...")
        row = _run_one(self.client, self.server, wl, self.st, self.name, round_no)
        self.log(
            f"[{self.name}] {wl.name}: {row['msgs_per_s']:,.0f} msg/s, "
            f"p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms, "
            f"lost {row['lost']} of {row['sent']}"
            + (f" ({row['first_error']})" if row["first_error"] else "")
        )
        return row

    def close(self) -> None:
        t0 = time.monotonic()
        if self.client is not None:
            self.client.close()
            self.client = None
        self.server.close()
        self.log(f"[{self.name}] workers stopped in {time.monotonic() - t0:.1f}s")


def _compile_driver(log: Log) -> None:
    """Bring the driver package's bytecode up to date, as pip does when it installs it.
    The first sample's process imports the driver; with stale bytecode and
    PYTHONDONTWRITEBYTECODE set (a checkout under development), it would compile the
    changed modules from source at every run and time that as the first call."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("oslo_messaging_zmq")
    for where in (spec.submodule_search_locations or []) if spec else []:
        if not compileall.compile_dir(where, quiet=1):
            log(f"bytecode of {where} could not all be written: the first call may include it")


def first_message(transport: Transport, samples: int, log: Log) -> list[dict[str, Any]]:
    """first_message.py against this transport's server: rows first-call, first-cast."""
    import json
    import subprocess
    import sys

    log(f"[{transport.name}] first message on {samples} new transports ...")
    here = Path(__file__).resolve().parent
    if transport.name.startswith("zmq"):
        _compile_driver(log)
    with open(transport.st.log_dir / f"{transport.name}-first.log", "ab") as err:
        out = subprocess.run(
            [sys.executable, str(here / "first_message.py"), *transport.worker_args]
            + ["--samples", str(samples)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=str(here),
            timeout=60 + 40 * samples,
            check=True,
        )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    srv = _wait_delivered(transport.server, "first-cast", samples, transport.st.drain)
    import latency

    call = latency.summarize([ms / 1000 for ms in res["call_ms"]])
    call["samples_ms"] = [round(ms, 1) for ms in res["call_ms"]]  # [0]: the process's first
    rows = []
    for name, lat, got in (
        ("first-call", call, len(res["call_ms"])),
        ("first-cast", srv, srv["received"]),
    ):
        rows.append(
            {
                "transport": transport.name,
                "workload": name,
                "threads": 1,
                "sent": samples,
                "delivered": got,
                "lost": samples - got,
                "dups": srv["dups"] if name == "first-cast" else 0,
                "errors": 0,
                "timeouts": 0,
                "first_error": "",
                "msgs_per_s": 0.0,
                "p50_ms": lat["p50_ms"],
                "p99_ms": lat["p99_ms"],
                "max_ms": lat.get("max_ms"),
                "samples_ms": lat.get("samples_ms"),
                "latency": "new transport -> "
                + ("answer" if name == "first-call" else "at the server"),
                "seconds": 0.0,
            }
        )
        log(
            f"[{transport.name}] {name}: p50 {lat['p50_ms']:.1f} ms, "
            f"max {lat.get('max_ms', 0):.1f} ms, {got}/{samples}"
        )
    return rows
