#!/usr/bin/env python3
"""Run oslo.messaging's own tools/simulator.py, unchanged, against RabbitMQ
and the zmq driver (CURVE and plain) in one run on this machine.

The simulator is not in the oslo.messaging wheel: the sdist of the installed
version is downloaded once (pip download) into ~/.cache/zeromq-openstack-bench/
and tools/simulator.py is taken from it as is (its sha256 goes into the
results). Everything specific to a transport goes through the simulator's own
flags: --url and, for zmq, --config-file. Server and client are separate
simulator processes, as upstream documents; the numbers in the report are the
ones the simulator prints (its JSON summary), not ours.

Workloads: rpc call with 1 and 8 clients, cast with 8 clients, notify.
Writes results/<stamp>-simulator.{json,md} and results/latest-simulator.*.
See README.md ("oslo.messaging's own simulator").
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import environment
import rabbit
import zmq_proxy
from cpu_window import CpuWindow

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "zeromq-openstack-bench"
TRANSPORTS = ("rabbit", "rabbit-nospin", "zmq-curve", "zmq-plain")
DEFAULT_TRANSPORTS = ("rabbit", "zmq-curve", "zmq-plain")
ALIASES = {"zmq": "zmq-curve"}
BASELINE = "rabbit"
GOALS = {"call-8": 4.0, "cast": 3.0}  # zmq/RabbitMQ throughput, judged on zmq-curve
GOALS_ON = "zmq-curve"
SERVER_NAME = "sim_server"
T0 = time.monotonic()

Log = Callable[[str], None]


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


@dataclass(frozen=True)
class Workload:
    name: str
    kind: str  # call | cast | notify
    threads: int  # the simulator's -p


WORKLOADS = (
    Workload("call-1", "call", 1),
    Workload("call-8", "call", 8),
    Workload("cast", "cast", 8),
    Workload("notify", "notify", 1),
)


# -- the simulator itself -------------------------------------------------------


@dataclass(frozen=True)
class Simulator:
    version: str  # of the sdist it came from (== installed oslo.messaging)
    path: Path  # tools/simulator.py, byte for byte from the sdist
    sha256: str
    sdist: Path
    sdist_sha256: str


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pip() -> list[str]:
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        found = shutil.which(name)
        if found:
            return [found]
    raise RuntimeError("no pip to download the oslo.messaging sdist with (or pass --sdist)")


def _download_sdist(version: str, dest: Path, log: Log) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for candidate in sorted(dest.glob(f"oslo[._]messaging-{version}.tar.gz")):
        return candidate
    log(f"downloading the oslo.messaging {version} sdist (pip download) into {dest}")
    cmd = _pip() + [
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(dest),
        f"oslo.messaging=={version}",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    found = sorted(dest.glob(f"oslo[._]messaging-{version}.tar.gz"))
    if res.returncode != 0 or not found:
        raise RuntimeError(f"pip download failed: {(res.stderr or res.stdout)[-1500:]}")
    return found[0]


def obtain(version: str, cache: Path, log: Log, sdist: Path | None = None) -> Simulator:
    """tools/simulator.py (+ the messages_length.yaml it reads) of oslo.messaging
    `version`, extracted unchanged from its sdist into the cache."""
    if sdist is None:
        sdist = _download_sdist(version, cache / "sdist", log)
    wanted = {"tools/simulator.py", "tools/messages_length.yaml"}
    files: dict[str, bytes] = {}
    pkg_version = ""
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar.getmembers():
            top, _, rel = member.name.partition("/")
            if not member.isfile():
                continue
            if rel in wanted or rel == "PKG-INFO":
                fh = tar.extractfile(member)
                assert fh is not None
                files[rel] = fh.read()
    for line in files.get("PKG-INFO", b"").decode(errors="replace").splitlines():
        if line.startswith("Version:"):
            pkg_version = line.split(":", 1)[1].strip()
            break
    missing = wanted - set(files)
    if missing:
        raise RuntimeError(f"{sdist.name} has no {', '.join(sorted(missing))}")
    if pkg_version != version:
        raise RuntimeError(f"{sdist.name} is version {pkg_version!r}, installed is {version}")
    tools = cache / f"oslo.messaging-{version}" / "tools"
    tools.mkdir(parents=True, exist_ok=True)
    for rel in wanted:
        target = tools / Path(rel).name
        if not target.exists() or target.read_bytes() != files[rel]:
            target.write_bytes(files[rel])  # (re)written only from the sdist itself
    path = tools / "simulator.py"
    return Simulator(version, path, _sha256(path), sdist, _sha256(sdist))


# -- transports -----------------------------------------------------------------

Probe = Callable[[Workload, str], bool]


@dataclass
class Endpoint:
    """One transport under test: the simulator's own flags for it and a way
    to see that a simulator server is listening (queue / proxy registration)."""

    name: str
    args: list[str]  # --url ... [--config-file ...], before the sub-command
    probe: Probe
    broker_pid: Callable[[], int | None]  # RabbitMQ's Erlang VM or the zmq proxy
    proxy: zmq_proxy.ZmqProxy | None = None


def _rabbit_probe(node: rabbit.RabbitNode) -> Probe:
    def ready(wl: Workload, topic: str) -> bool:
        queue = f"{topic}.info" if wl.kind == "notify" else f"{topic}.{SERVER_NAME}"
        return node.queues().get(queue, 0) > 0

    return ready


def _zmq_probe(proxy: zmq_proxy.ZmqProxy) -> Probe:
    def ready(wl: Workload, topic: str) -> bool:
        got = proxy.metrics()
        if not isinstance(got, dict):
            return False
        kind = "notify" if wl.kind == "notify" else "rpc"
        for label, entry in got.get("targets", {}).items():
            parts = label.split("/", 2)
            if (
                len(parts) == 3
                and parts[0] == kind
                and parts[2].startswith(topic)
                and entry.get("listeners", 0) > 0
            ):
                return True
        return False

    return ready


def bring_up(
    name: str, stack: contextlib.ExitStack, log_dir: Path, driver_options: tuple[str, ...] = ()
) -> Endpoint:
    """Start one transport's broker; driver_options: "key = value" lines for the zmq
    peers' [oslo_messaging_zmq] (ignored for RabbitMQ)."""
    if name.startswith("rabbit"):
        rabbit.ensure_installed(log)
        spin = name == "rabbit"
        log(
            f"[{name}] starting a private RabbitMQ node on 127.0.0.1 (schedulers' busy wait "
            f"{'on, the default' if spin else 'off'})"
        )
        node = rabbit.RabbitNode(log, "" if spin else rabbit.NO_BUSY_WAIT)
        stack.callback(node.stop)  # registered first: a Ctrl-C during start stops it too
        node.start()
        return Endpoint(name, ["--url", node.url], _rabbit_probe(node), lambda: node.pid)
    log(f"[{name}] starting oslo-messaging-zmq-proxy on 127.0.0.1")
    proxy = zmq_proxy.ZmqProxy(name == "zmq-curve", log_dir, client_options=list(driver_options))
    stack.callback(proxy.stop)
    proxy.start()
    # proxy.worker_args is --url zmq://127.0.0.1:PORT/ --config-file <client options>
    return Endpoint(name, list(proxy.worker_args), _zmq_probe(proxy), lambda: proxy.pid, proxy)


# -- one run: a simulator server and a simulator client ---------------------------


@dataclass
class Settings:
    duration: int = 15
    call_timeout: int = 10
    executor: str = "eventlet"
    ready_timeout: float = 30.0
    drain: float = 30.0
    log_dir: Path = Path(".")
    driver_options: tuple[str, ...] = ()  # "key = value" for the zmq peers


MONITOR = re.compile(r" server\s+: seq: (\d+)\s+count: (\d+)")
PROBLEM = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback|WARNING oslo_messaging")
LATE_TIMER = 1.5  # s between two of the simulator's 1 s stats lines: its timer ran late


class Proc:
    """One simulator process, output to a log file, stopped on any way out."""

    def __init__(self, cmd: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self._out = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            cmd,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(log_path.parent),
            start_new_session=True,  # a Ctrl-C reaches us; we stop it
        )

    def text(self) -> str:
        self._out.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def last_line(self) -> str:
        lines = [ln for ln in self.text().splitlines() if ln.strip()]
        return lines[-1][:300] if lines else ""

    def interrupt(self, timeout: float) -> bool:
        """SIGINT (the simulator's own stop: it prints its summary), True when it exited."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        try:
            self.popen.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._out.close()


def _summary_lines(text: str) -> list[str]:
    """The simulator's printed summary (everything after its '= summary =' line)."""
    _, mark, rest = text.partition("=" * 35 + " summary ")
    if not mark:
        return []
    keep = []
    for line in rest.splitlines()[1:]:
        _, sep, msg = line.partition(" INFO root ")
        if sep and not msg.startswith("Stats are written"):
            keep.append(msg.strip())
    return keep


def _log_problems(text: str) -> tuple[int, str]:
    hits = [ln for ln in text.splitlines() if PROBLEM.search(ln)]
    return len(hits), (hits[0][:300] if hits else "")


def _late_timers(cli: dict[str, Any] | None, srv: dict[str, Any] | None) -> dict[str, float]:
    """Largest gap between consecutive points of the simulator's own per-second
    series (client and server), when it shows the process did not run on time."""
    out = {}
    for who, doc in (("client", cli), ("server", srv)):
        series = (doc or {}).get("series", {})
        gaps = [
            b["timestamp"] - a["timestamp"]
            for points in series.values()
            for a, b in zip(points, points[1:], strict=False)
        ]
        if gaps and max(gaps) > LATE_TIMER:
            out[who] = round(max(gaps), 1)
    return out


def cpu_pressure() -> str:
    """Share of time some task waited for a CPU (PSI 'some' avg10/avg60), '' if unknown."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return ""
    fields = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
    return f"{fields.get('avg10', '?')}% / {fields.get('avg60', '?')}%"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return None


def _wait_ready(ep: Endpoint, wl: Workload, topic: str, server: Proc, st: Settings) -> bool:
    deadline = time.monotonic() + st.ready_timeout
    while time.monotonic() < deadline and server.popen.poll() is None:
        if ep.probe(wl, topic):
            return True
        time.sleep(0.5)
    return False


def _drain(server: Proc, seen_before: int, st: Settings) -> str:
    """Let the server take what is still on its way: wait until two of its own
    per-second lines after the client's exit say count 0, or st.drain seconds."""
    deadline = time.monotonic() + st.drain
    while time.monotonic() < deadline:
        if server.popen.poll() is not None:
            return "server exited by itself"
        counts = [int(m.group(2)) for m in MONITOR.finditer(server.text())][seen_before:]
        if len(counts) >= 2 and counts[-1] == 0 and counts[-2] == 0:
            return ""
        time.sleep(0.5)
    return f"server still receiving {st.drain:g}s after the client ended"


def _ms(value: Any) -> float | None:
    return None if value is None else round(float(value) * 1000, 3)


def _stats(block: dict[str, Any] | None) -> dict[str, Any]:
    """One of the simulator's summary blocks, latency in ms."""
    if not block:
        return {}
    return {
        "count": block.get("count", 0),
        "per_s": round(block.get("count_p_s", 0.0), 1),
        "seconds": round(block.get("duration", 0.0), 2),
        "avg_ms": _ms(block.get("latency")),
        "min_ms": _ms(block.get("min_latency")),
        "max_ms": _ms(block.get("max_latency")),
        "start": block.get("start"),  # epoch s: one second before its first non-empty bucket
        "end": block.get("end"),  # epoch s: its last non-empty bucket
    }


def make_row(
    name: str, wl: Workload, rnd: int, cli: dict[str, Any] | None, srv: dict[str, Any] | None
) -> dict[str, Any]:
    """A result row from the simulator's own JSON summaries (client and server)."""
    csum = (cli or {}).get("summary", {})
    client, errors = _stats(csum.get("client")), _stats(csum.get("error"))
    round_trip, server = _stats(csum.get("round_trip")), _stats((srv or {}).get("summary"))
    row: dict[str, Any] = {
        "transport": name,
        "workload": wl.name,
        "kind": wl.kind,
        "threads": wl.threads,
        "round": rnd,
        "client": client,
        "error": errors,
        "round_trip": round_trip,
        "server": server,
        "sent": client.get("count"),
        "errors": errors.get("count"),
        "received": server.get("count"),
    }
    both = row["sent"] is not None and row["received"] is not None
    row["loss"] = row["sent"] - row["received"] if both else None
    # the headline: answered calls/s for calls, arrivals/s at the server otherwise
    head = round_trip if wl.kind == "call" else server
    row["msgs_per_s"] = head.get("per_s")
    row["avg_ms"] = head.get("avg_ms")
    row["max_ms"] = head.get("max_ms")
    row["latency"] = "round trip" if wl.kind == "call" else "one way"
    if wl.kind == "call" and round_trip:
        row["unanswered"] = (row["sent"] or 0) - round_trip["count"]
    # The simulator divides by the span of its non-empty 1 s buckets. When the
    # process that counts the headline did not run its stats timer for seconds,
    # one bucket holds all those seconds and that span, so its msg/s, is too short.
    row["late_timers_s"] = _late_timers(cli, srv)
    side = "client" if wl.kind == "call" else "server"
    row["rate_suspect"] = side in row["late_timers_s"]
    t0, t1 = client.get("start"), head.get("end")
    if t0 and t1 and t1 > t0:
        # cross-check from the simulator's own timestamps: the count over the time
        # from the client's start to the headline's last bucket (every run, so that
        # transports compare like with like where a headline is suspect)
        row["span_per_s"] = round(head["count"] / (t1 - t0), 1)
        if row["rate_suspect"]:
            row["span_check_per_s"] = row["span_per_s"]
    return row


def _client_cmd(
    sim: Simulator, ep: Endpoint, wl: Workload, topic: str, st: Settings, js: Path
) -> list[str]:
    cmd = [sys.executable, str(sim.path), *ep.args]
    # -tg takes one or more values (nargs="+"): it must not be followed by the sub-command
    target = ["-tp", topic] if wl.kind == "notify" else ["-tg", f"{topic}.{SERVER_NAME}"]
    cmd += target + ["-l", str(st.duration), "-j", str(js)]
    if wl.kind == "notify":
        cmd += ["notify-client", "-p", str(wl.threads)]
    else:
        cmd += ["rpc-client", "-p", str(wl.threads)] + (["--is-cast"] if wl.kind == "cast" else [])
    return cmd + ["--timeout", str(st.call_timeout)]


def _server_cmd(
    sim: Simulator, ep: Endpoint, wl: Workload, topic: str, st: Settings, js: Path
) -> list[str]:
    # -l is only a safety net: the run stops the server with SIGINT after the drain
    limit = int(st.ready_timeout + st.duration + st.drain + 120)
    cmd = [sys.executable, str(sim.path), *ep.args, "-tp", topic, "-s", SERVER_NAME]
    cmd += ["-l", str(limit), "-j", str(js)]
    if wl.kind == "notify":
        return cmd + ["notify-server"]
    return cmd + ["rpc-server", "-e", st.executor]


CPU_WARM_UP = 3.0  # s after the client's start before the CPU window opens
CPU_TAIL = 2.0  # s before the client's planned end when it closes


def _cpu_window(ep: Endpoint, client: Proc, server: Proc, st: Settings) -> CpuWindow:
    """CPU of client, server and broker while the client runs, per message the server
    counted (its 1 s stats lines) in the same window."""

    def served() -> int:
        return sum(int(count) for _seq, count in MONITOR.findall(server.text()))

    pids = {"client": client.popen.pid, "server": server.popen.pid, "broker": ep.broker_pid()}
    length = max(1.0, st.duration - CPU_WARM_UP - CPU_TAIL)
    return CpuWindow(pids, served, CPU_WARM_UP, length).start()


def run_one(
    sim: Simulator, ep: Endpoint, wl: Workload, rnd: int, st: Settings, tag: str = ""
) -> dict[str, Any]:
    """One workload on one transport: simulator server, then simulator client
    for st.duration seconds, drain, SIGINT the server, read both summaries."""
    tag = tag or f"r{rnd}"
    topic = f"sim_{wl.name.replace('-', '')}_{tag}"  # fresh queues/targets every run
    base = st.log_dir / f"{ep.name}-{wl.name}-{tag}"
    srv_json, cli_json = Path(f"{base}-server.json"), Path(f"{base}-client.json")
    problems: list[str] = []
    procs: list[Proc] = []
    try:
        server = Proc(_server_cmd(sim, ep, wl, topic, st, srv_json), Path(f"{base}-server.log"))
        procs.append(server)
        if not _wait_ready(ep, wl, topic, server, st):
            if server.popen.poll() is not None:
                problems.append(f"server exited at start (rc {server.popen.returncode})")
            else:
                problems.append(f"server not seen listening within {st.ready_timeout:g}s")
        client = Proc(_client_cmd(sim, ep, wl, topic, st, cli_json), Path(f"{base}-client.log"))
        procs.append(client)
        cpu = _cpu_window(ep, client, server, st)
        try:
            rc = client.popen.wait(timeout=st.duration + 2 * st.call_timeout + 90)
            if rc != 0:
                problems.append(f"client exit code {rc}: {client.last_line()}")
        except subprocess.TimeoutExpired:
            problems.append("client did not finish in time (SIGINT sent)")
            client.interrupt(15)
        cpu_result = cpu.finish()
        seen = len(MONITOR.findall(server.text()))
        why = _drain(server, seen, st)
        if why:
            problems.append(why)
        if not server.interrupt(30):
            problems.append("server did not exit within 30s of SIGINT")
        elif server.popen.returncode not in (0, None):
            problems.append(f"server exit code {server.popen.returncode}: {server.last_line()}")
        cli, srv = _read_json(cli_json), _read_json(srv_json)
        if cli is None:
            problems.append("no client JSON summary")
        if srv is None:
            problems.append("no server JSON summary")
        row = make_row(ep.name, wl, rnd, cli, srv)
        row["cpu"] = cpu_result
        row["summary_lines"] = {"client": _summary_lines(client.text())}
        row["summary_lines"]["server"] = _summary_lines(server.text())
        for who, proc in (("client", client), ("server", server)):
            count, first = _log_problems(proc.text())
            if count:
                problems.append(f"{who} log: {count} ERROR/WARNING line(s), first: {first}")
        for who, gap in row["late_timers_s"].items():
            text = (
                f"{who}: the simulator's 1 s stats timer fired {gap:.1f} s after the previous "
                "one (the process did not get to it: a busy green loop or no CPU)"
            )
            if row["rate_suspect"] and (who == "client") == (wl.kind == "call"):
                text += (
                    f"; so one bucket holds several seconds and its msg/s "
                    f"({row['msgs_per_s']:,.0f}) is too high: spread from the client's start "
                    f"to the last bucket it is {row.get('span_check_per_s') or 0:,.0f} msg/s"
                )
            problems.append(text)
        row["problems"] = problems
        row["logs"] = [str(p.log_path) for p in procs]
        return row
    finally:
        for proc in procs:
            proc.stop()


def _fmt_row(row: dict[str, Any]) -> str:
    def num(v: Any, spec: str = ",.0f") -> str:
        return "n/a" if v is None else format(v, spec)

    text = (
        f"{num(row['msgs_per_s'])} msg/s, avg {num(row['avg_ms'], '.2f')} ms, "
        f"max {num(row['max_ms'], '.1f')} ms ({row['latency']}), sent {num(row['sent'])}, "
        f"server got {num(row['received'])}, loss {num(row['loss'])}, "
        f"errors {num(row['errors'])}"
    )
    if row["problems"]:
        text += " | " + "; ".join(row["problems"])
    return text


# -- aggregation and report ------------------------------------------------------

SUMS = ("sent", "received", "loss", "errors", "unanswered")
MEDIANS = (
    ("msgs_per_s", None),
    ("span_per_s", None),
    ("avg_ms", None),
    ("max_ms", None),
    ("client_per_s", ("client", "per_s")),
    ("server_per_s", ("server", "per_s")),
    ("server_avg_ms", ("server", "avg_ms")),
    ("server_max_ms", ("server", "max_ms")),
)


def _median(values: list[Any]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(statistics.median(vals), 3) if vals else None


CPU_PROCS = ("client", "server", "broker")


def _cpu_medians(rs: list[dict[str, Any]]) -> dict[str, float | None]:
    """Medians over rounds of each process's CPU us per message, their total and the
    machine's busy share (all cores) in the same windows."""
    windows = [r["cpu"] for r in rs if r.get("cpu") and "us_per_msg" in r["cpu"]]
    out: dict[str, float | None] = {
        who: _median([w["us_per_msg"].get(who) for w in windows]) for who in CPU_PROCS
    }
    out["total"] = _median(
        [sum(w["us_per_msg"].get(who) or 0 for who in CPU_PROCS) for w in windows]
    )
    switched = [w["switches_per_msg"] for w in windows if "switches_per_msg" in w]
    for kind in ("voluntary", "involuntary"):
        out[f"{kind}_switches"] = _median(
            [sum((s.get(who) or {}).get(kind, 0) for who in CPU_PROCS) for s in switched]
        )
    cores = os.cpu_count() or 1
    out["machine_busy_pct"] = _median(
        [100 * w["machine_busy_s"] / (w["window_s"] * cores) for w in windows if w["window_s"]]
    )
    return out


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (workload, transport): medians over rounds, counts summed."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["workload"], row["transport"]), []).append(row)
    out = []
    for (workload, transport), rs in groups.items():
        agg: dict[str, Any] = {
            "workload": workload,
            "transport": transport,
            "kind": rs[0]["kind"],
            "threads": rs[0]["threads"],
            "latency": rs[0]["latency"],
            "rounds": len(rs),
        }
        for key in SUMS:
            vals = [r.get(key) for r in rs if r.get(key) is not None]
            agg[key] = sum(vals) if vals else None
        for key, path in MEDIANS:
            agg[key] = _median([r[path[0]].get(path[1]) if path else r.get(key) for r in rs])
        agg["cpu_us"] = _cpu_medians(rs)
        agg["suspect_rounds"] = sum(1 for r in rs if r.get("rate_suspect"))
        agg["problems"] = sorted({p for r in rs for p in r["problems"]})
        out.append(agg)
    order = {w.name: i for i, w in enumerate(WORKLOADS)}
    tr = {t: i for i, t in enumerate(TRANSPORTS)}
    return sorted(out, key=lambda a: (order.get(a["workload"], 99), tr.get(a["transport"], 99)))


def ratios(agg: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {(a["workload"], a["transport"]): a for a in agg}
    out = []
    for a in agg:
        base = by.get((a["workload"], BASELINE))
        if a["transport"] == BASELINE or base is None:
            continue

        def div(x: float | None, y: float | None) -> float | None:
            return round(x / y, 2) if x is not None and y else None

        goal = GOALS.get(a["workload"])
        ratio = div(a["msgs_per_s"], base["msgs_per_s"])
        span_ratio = div(a.get("span_per_s"), base.get("span_per_s"))
        unreliable = bool(a["suspect_rounds"] or base["suspect_rounds"])
        met = None if goal is None or ratio is None or unreliable else ratio >= goal
        if met is None and unreliable and goal is not None and span_ratio is not None:
            met = span_ratio >= goal  # judged on the cross-check of both sides
        out.append(
            {
                "workload": a["workload"],
                "transport": a["transport"],
                "msgs_per_s": a["msgs_per_s"],
                "rabbit_msgs_per_s": base["msgs_per_s"],
                "throughput_ratio": ratio,
                "span_ratio": span_ratio,
                "avg_ms_ratio": div(a["avg_ms"], base["avg_ms"]),
                "goal": f">= {goal:g}" if goal else "",
                "met": met,
                "unreliable": unreliable,
            }
        )
    return out


def _f(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _cpu_table(results: list[dict[str, Any]]) -> list[str]:
    rows = [a for a in results if (a.get("cpu_us") or {}).get("total")]
    if not rows:
        return []
    base = {a["workload"]: a["cpu_us"]["total"] for a in rows if a["transport"] == BASELINE}
    lines = [
        "",
        "## CPU per message",
        "",
        "CPU µs each process used per message the simulator server counted, over the middle",
        f"of each run ({CPU_WARM_UP:g} s after the client's start to {CPU_TAIL:g} s before its "
        "planned end; interpreter and libzmq threads), medians over rounds. broker: RabbitMQ's",
        "Erlang VM or the zmq proxy. rabbit / this: RabbitMQ's total over this transport's, the",
        "throughput ratio the two cores would allow if each run kept them busy. Machine busy:",
        "all cores, every process on the machine, in the same windows. Switches: context",
        "switches of all threads of the three processes per message, voluntary (a thread",
        "waited) and involuntary (the scheduler took its CPU away).",
        "",
        "| workload | transport | client | server | broker | total | rabbit / this "
        "| machine busy % | switches vol. / invol. |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for a in rows:
        cpu = a["cpu_us"]
        ref = base.get(a["workload"])
        rel = round(ref / cpu["total"], 2) if ref and a["transport"] != BASELINE else None
        lines.append(
            f"| {a['workload']} | {a['transport']} | {_f(cpu['client'])} | {_f(cpu['server'])} "
            f"| {_f(cpu['broker'])} | {_f(cpu['total'])} | {_f(rel)} "
            f"| {_f(cpu['machine_busy_pct'])} "
            f"| {_f(cpu.get('voluntary_switches'))} / {_f(cpu.get('involuntary_switches'))} |"
        )
    return lines


def markdown(doc: dict[str, Any]) -> str:
    meta, sim = doc["meta"], doc["meta"]["simulator"]
    lines = [
        "# oslo.messaging's tools/simulator.py: zmq vs RabbitMQ",
        "",
        f"Measured {meta['started']} on {meta['machine']}.",
        f"Load average before/after: {meta['load_before']} / {meta['load_after']}; "
        f"CPU pressure (PSI some, avg10/avg60): before {meta['cpu_pressure_before'] or 'n/a'}, "
        f"after {meta['cpu_pressure_after'] or 'n/a'}.",
        f"Settings: {meta['settings']}.",
        f"Versions: {meta['versions']}.",
        f"Simulator: tools/simulator.py from the oslo.messaging {sim['version']} sdist "
        f"({sim['sdist']}, sha256 {sim['sdist_sha256'][:16]}...), run unchanged, "
        f"sha256 `{sim['sha256']}`.",
        f"Command: `{meta['command']}`",
        "",
        "All numbers are the simulator's own (its JSON summary). msg/s: calls: answered",
        "calls/s (its `round-trip` line); cast/notify: messages/s received by the simulator",
        "server (its `server` line), over the seconds in which messages arrived. sent/s: the",
        "client's sending rate (its `client` line). Latency: the simulator reports no",
        "percentiles, only the average, min and max (calls: round trip; cast/notify: one",
        "way, client send -> server endpoint, time.time() of two processes on one host).",
        "loss = client sent - server received. Medians over rounds, counts summed.",
        "",
        "| workload | transport | -p | msg/s | sent/s | avg ms | max ms | latency | sent "
        "| received | loss | errors |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for a in doc["results"]:
        warn = " ⚠" if a["suspect_rounds"] else ""
        lines.append(
            f"| {a['workload']} | {a['transport']} | {a['threads']} | {_f(a['msgs_per_s'])}{warn} "
            f"| {_f(a['client_per_s'])} | {_f(a['avg_ms'])} | {_f(a['max_ms'])} "
            f"| {a['latency']} | {_f(a['sent'])} | {_f(a['received'])} | {_f(a['loss'])} "
            f"| {_f(a['errors'])} |"
        )
    if doc["ratios"]:
        lines += [
            "",
            "## zmq / RabbitMQ",
            "",
            "ratio by span: both sides' count over the time from the client's start to the",
            "last bucket (the cross-check below); a goal whose headline ratio has ⚠ is judged",
            "on it.",
            "",
            "| workload | transport | msg/s | rabbit msg/s | ratio | ratio by span "
            "| avg latency ratio | goal |",
            "|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for q in doc["ratios"]:
            goal = ""
            if q["goal"] and q["transport"] == GOALS_ON:
                mark = {True: "met", False: "NOT met", None: "not measured"}[q["met"]]
                if q["unreliable"]:
                    mark = "not judged (⚠)" if q["met"] is None else f"**{mark}** by span"
                else:
                    mark = f"**{mark}**"
                goal = f"{q['goal']}: {mark}"
            lines.append(
                f"| {q['workload']} | {q['transport']} | {_f(q['msgs_per_s'])} "
                f"| {_f(q['rabbit_msgs_per_s'])} "
                f"| {_f(q['throughput_ratio'])}{' ⚠' if q['unreliable'] else ''} "
                f"| {_f(q.get('span_ratio'))} | {_f(q['avg_ms_ratio'])} | {goal} |"
            )
        lines += [
            "",
            f"Goals (issue 13), judged on {GOALS_ON}: calls/s with 8 clients >= 4x RabbitMQ, "
            "casts/s >= 3x.",
        ]
    lines += _cpu_table(doc["results"])
    if any(a["suspect_rounds"] for a in doc["results"]):
        lines += [
            "",
            "⚠: in at least one round the process that counts this msg/s did not run the",
            "simulator's 1 s stats timer for seconds; the simulator then divides by too short",
            "a span and its msg/s is too high (see Problems: the cross-check from its own",
            "timestamps). Ratios with ⚠ are not judged.",
        ]
    problems = [(a, p) for a in doc["results"] for p in a["problems"]]
    if problems or doc["notes"]:
        lines += ["", "## Problems and notes", ""]
        lines += [f"- {n}" for n in doc["notes"]]
        lines += [f"- {a['transport']} {a['workload']}: {p}" for a, p in problems]
    lines += ["", f"Simulator logs and JSON files: `{meta['log_dir']}` (not kept)."]
    return "\n".join(lines) + "\n"


def write(doc: dict[str, Any], out_dir: Path, stamp: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for base in (f"{stamp}-simulator", "latest-simulator"):
        (out_dir / f"{base}.json").write_text(json.dumps(doc, indent=2) + "\n")
        (out_dir / f"{base}.md").write_text(markdown(doc))
        paths += [out_dir / f"{base}.json", out_dir / f"{base}.md"]
    return paths


# -- main -------------------------------------------------------------------------


def parse_workloads(text: str, parser: argparse.ArgumentParser) -> list[Workload]:
    """A comma list of workload names (parser.error on an unknown one)."""
    by_name = {w.name: w for w in WORKLOADS}
    try:
        return [by_name[w.strip()] for w in text.split(",") if w.strip()]
    except KeyError as exc:
        parser.error(f"unknown workload {exc}")
        raise  # parser.error exits


def parse_driver_options(items: list[str], parser: argparse.ArgumentParser) -> tuple[str, ...]:
    """KEY=VALUE items as config lines "key = value" (parser.error on a malformed one)."""
    lines = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            parser.error(f"--driver-option {item!r}: expected KEY=VALUE")
        lines.append(f"{key.strip()} = {value.strip()}")
    return tuple(lines)


def parse_args(argv: list[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=prog,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--transports",
        default=",".join(DEFAULT_TRANSPORTS),
        help="comma list of rabbit, rabbit-nospin (RabbitMQ with its schedulers' busy wait "
        "off), zmq-curve (alias zmq), zmq-plain (default: rabbit,zmq-curve,zmq-plain)",
    )
    p.add_argument(
        "--workloads",
        default=",".join(w.name for w in WORKLOADS),
        help="comma list of call-1, call-8, cast (8 clients), notify (default: all)",
    )
    p.add_argument(
        "--duration", type=int, default=15, help="seconds per run, the simulator's -l (15)"
    )
    p.add_argument("--rounds", type=int, default=3, help="repeat every workload N times (3)")
    p.add_argument(
        "--call-timeout", type=int, default=10, help="the simulator client's --timeout (10)"
    )
    p.add_argument(
        "--executor",
        default="eventlet",
        choices=("eventlet", "threading"),
        help="the simulator rpc-server's -e (eventlet, its default)",
    )
    p.add_argument(
        "--drain",
        type=float,
        default=30.0,
        help="max seconds to let the server take late messages after the client ends (30)",
    )
    p.add_argument("--no-warmup", action="store_true", help="skip the unrecorded warm-up runs")
    p.add_argument(
        "--sdist", type=Path, help="use this oslo.messaging sdist instead of downloading it"
    )
    p.add_argument("--cache", type=Path, default=CACHE, help=f"download cache ({CACHE})")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--no-write", action="store_true", help="print only, write no result files")
    p.add_argument(
        "--driver-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the zmq peers' [oslo_messaging_zmq], e.g. max_inflight=256 "
        "(repeatable; tuning runs)",
    )
    args = p.parse_args(argv)
    args.driver_options = parse_driver_options(args.driver_option, p)
    names = [ALIASES.get(t.strip(), t.strip()) for t in args.transports.split(",") if t.strip()]
    unknown = set(names) - set(TRANSPORTS)
    if unknown:
        p.error(f"unknown transports: {', '.join(sorted(unknown))}")
    args.transport_list = [t for t in TRANSPORTS if t in names]
    args.workload_list = parse_workloads(args.workloads, p)
    if args.duration < 1 or args.rounds < 1:
        p.error("--duration and --rounds must be >= 1")
    return args


def measure(
    sim: Simulator,
    names: list[str],
    workloads: list[Workload],
    rounds: int,
    st: Settings,
    warm_up: bool,
    notes: list[str],
) -> list[dict[str, Any]]:
    """Bring every transport up, then let them take turns on each workload."""
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        up: list[Endpoint] = []
        for name in names:
            try:
                up.append(bring_up(name, stack, st.log_dir, st.driver_options))
            except Exception as exc:  # one broken transport must not sink the others
                notes.append(f"{name} could not be started: {exc}"[:600])
                log(notes[-1])
        if warm_up:
            for ep in up:
                # first queues, connections and proxy registrations; not recorded
                log(f"[{ep.name}] warm-up: call-1 for 2s (not recorded)")
                warm = dataclasses.replace(st, duration=2)
                row = run_one(sim, ep, WORKLOADS[0], 0, warm, tag="warmup")
                log(f"[{ep.name}] warm-up: {_fmt_row(row)}")
                if row["problems"] or row["loss"] or row["errors"]:
                    notes.append(f"{ep.name} warm-up (call-1, 2 s): {_fmt_row(row)}"[:600])
        for rnd in range(rounds):
            for wl in workloads:
                order = up if rnd % 2 == 0 else list(reversed(up))
                for ep in order:
                    log(
                        f"[{ep.name}] round {rnd + 1}/{rounds} {wl.name}: "
                        f"-p {wl.threads}, -l {st.duration} ..."
                    )
                    row = run_one(sim, ep, wl, rnd, st)
                    rows.append(row)
                    log(f"[{ep.name}] {wl.name}: {_fmt_row(row)}")
        if up:
            log(f"stopping {', '.join(ep.name for ep in up)}")
    return rows


def _terminate(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through every clean-up


def main(argv: list[str] | None = None, prog: str = "") -> int:
    args = parse_args(argv, prog or None)
    signal.signal(signal.SIGTERM, _terminate)
    started = datetime.datetime.now(datetime.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    log_dir = Path(tempfile.mkdtemp(prefix=f"bench-logs-{stamp}-simulator-"))
    notes: list[str] = []
    names = list(args.transport_list)
    if any(n.startswith("zmq") for n in names) and not zmq_proxy.driver_installed():
        notes.append("zmq driver not installed (pip install -e driver): zmq runs skipped")
        log(notes[-1])
        names = [n for n in names if not n.startswith("zmq")]
    st = Settings(
        duration=args.duration,
        call_timeout=args.call_timeout,
        executor=args.executor,
        drain=args.drain,
        log_dir=log_dir,
        driver_options=args.driver_options,
    )
    runs = len(names) * len(args.workload_list) * args.rounds
    est = runs * (args.duration + 9) + len(names) * 20
    log(f"plan: {', '.join(names)} x {len(args.workload_list)} workloads x {args.rounds} round(s)")
    log(f"about {est / 60:.1f} min; simulator logs in {log_dir}")

    version = metadata.version("oslo.messaging")
    sim = obtain(version, args.cache, log, args.sdist)
    log(f"simulator: {sim.path} (oslo.messaging {sim.version}, sha256 {sim.sha256[:16]}...)")
    load_before, psi_before = environment.loadavg(), cpu_pressure()

    try:
        rows = measure(sim, names, args.workload_list, args.rounds, st, not args.no_warmup, notes)
    except KeyboardInterrupt:
        log("interrupted: every process started here has been stopped; nothing written")
        return 130
    agg = aggregate(rows)
    command = prog or os.path.relpath(sys.argv[0])
    doc = {
        "meta": {
            **environment.run_meta(started.isoformat(timespec="seconds"), load_before),
            "cpu_pressure_before": psi_before,
            "cpu_pressure_after": cpu_pressure(),
            "simulator": {
                "version": sim.version,
                "sha256": sim.sha256,
                "sdist": sim.sdist.name,
                "sdist_sha256": sim.sdist_sha256,
                "path": str(sim.path),
            },
            "settings": (
                f"-l {st.duration} s per run, {args.rounds} round(s), client --timeout "
                f"{st.call_timeout} s, rpc-server -e {st.executor}, drain <= {st.drain:g} s, "
                f"transports take turns per workload, order flipped every round"
                + (
                    f"; zmq peers' [oslo_messaging_zmq]: {', '.join(st.driver_options)}"
                    if st.driver_options
                    else ""
                )
            ),
            "command": " ".join([command] + (sys.argv[1:] if argv is None else argv)),
            "log_dir": str(log_dir),
        },
        "results": agg,
        "ratios": ratios(agg),
        "notes": notes,
        "rows": rows,
    }
    if not args.no_write:
        for path in write(doc, args.out, stamp):
            log(f"wrote {path}")
    print()
    print(markdown(doc))
    log(f"done in {(time.monotonic() - T0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
