"""Run the raw pyzmq ceiling (raw_zmq.py): one proxy process, one echo
process, then one client run per window size; stop what it started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq
from netutil import free_port

HERE = Path(__file__).resolve().parent
Log = Callable[[str], None]


def _spawn(
    role: str, port: int, env: dict[str, str], log_file: Path, *extra: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "raw_zmq.py"), role, "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=open(log_file, "ab"),  # noqa: SIM115 - inherited by the child
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=str(HERE),
    )


def _ready(proc: subprocess.Popen[str], what: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line or not json.loads(line).get("ready"):
        raise RuntimeError(f"raw {what} did not start (rc={proc.poll()})")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_raw(
    curve: bool, windows: list[int], duration: float, size: str, log_dir: Path, log: Log
) -> list[dict[str, Any]]:
    name = "raw-curve" if curve else "raw-plain"
    env = dict(os.environ)
    if curve:
        spub, ssec = zmq.curve_keypair()
        cpub, csec = zmq.curve_keypair()
        env.update(
            RAW_SERVER_PUBLIC=spub.decode(),
            RAW_SERVER_SECRET=ssec.decode(),
            RAW_CLIENT_PUBLIC=cpub.decode(),
            RAW_CLIENT_SECRET=csec.decode(),
        )
    port = free_port()
    log_file = log_dir / f"{name}.log"
    proxy = _spawn("proxy", port, env, log_file)
    echo = None
    rows: list[dict[str, Any]] = []
    try:
        _ready(proxy, "proxy")
        # the echo peer must not see the proxy's secret
        peer_env = {k: v for k, v in env.items() if k != "RAW_SERVER_SECRET"}
        echo = _spawn("echo", port, peer_env, log_file)
        _ready(echo, "echo")
        for window in windows:
            log(f"[{name}] round trip, window {window}, {duration:g}s ...")
            client = _spawn(
                "client", port, peer_env, log_file,
                "--window", str(window), "--duration", str(duration), "--size", size,
            )  # fmt: skip
            try:
                out, _ = client.communicate(timeout=duration + 30)
            except subprocess.TimeoutExpired:
                _stop(client)
                raise
            res = json.loads(out.strip().splitlines()[-1])
            row = {
                "transport": name,
                "workload": f"roundtrip-w{window}",
                "threads": window,
                "sent": res["sent"],
                "delivered": res["received"],
                "lost": res["sent"] - res["received"],
                "dups": 0,
                "errors": 0,
                "timeouts": 0,
                "first_error": "",
                "msgs_per_s": res["msgs_per_s"],
                "p50_ms": res["p50_ms"],
                "p99_ms": res["p99_ms"],
                "latency": "round trip",
                "seconds": res["seconds"],
            }
            rows.append(row)
            log(
                f"[{name}] window {window}: {row['msgs_per_s']:,.0f} msg/s, "
                f"p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms, lost {row['lost']}"
            )
    finally:
        if echo is not None:
            _stop(echo)
        _stop(proxy)
    return rows
