"""Run the ceilings: bare pyzmq round trips with no oslo.messaging.

raw-plain / raw-curve   raw_zmq.py: DEALER -> minimal Python ROUTER -> DEALER
proxy-plain / proxy-curve  proxy_raw.py: bare peers speaking the driver's wire
                        protocol through the real oslo-messaging-zmq-proxy
c-relay-plain / -curve  relay_c.py: libzmq's zmq_proxy(), no Python per message
                        (proxy_ab.py --floor; not in run.py)

Each starts its server-side processes, runs one client per window size and
stops what it started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq
import zmq_proxy
from netutil import free_port

HERE = Path(__file__).resolve().parent
Log = Callable[[str], None]
Spawn = Callable[..., "subprocess.Popen[str]"]


def _spawner(script: str, env: dict[str, str], log_file: Path) -> Spawn:
    def spawn(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(HERE / script), *args],
            stdout=subprocess.PIPE,
            stderr=open(log_file, "ab"),  # noqa: SIM115 - inherited by the child
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=str(HERE),
        )

    return spawn


def _ready(proc: subprocess.Popen[str], what: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line or not json.loads(line).get("ready"):
        raise RuntimeError(f"{what} did not start (rc={proc.poll()})")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _windows(
    name: str, spawn_client: Spawn, windows: list[int], duration: float, log: Log
) -> list[dict[str, Any]]:
    rows = []
    for window in windows:
        log(f"[{name}] round trip, window {window}, {duration:g}s ...")
        client = spawn_client("--window", str(window), "--duration", str(duration))
        try:
            out, _ = client.communicate(timeout=duration + 30)
        except subprocess.TimeoutExpired:
            _stop(client)
            raise
        if not out.strip():
            raise RuntimeError(f"{name} client failed (rc={client.returncode})")
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
    return rows


def _key_envs(curve: bool) -> tuple[dict[str, str], dict[str, str]]:
    """(relay's environment, peers' environment): CURVE keys for raw_zmq.py/relay_c.py."""
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
    # the peers must not see the relay's secret
    return env, {k: v for k, v in env.items() if k != "RAW_SERVER_SECRET"}


def _relayed(
    script: str,
    name: str,
    relay_args: list[str],
    echo_args: list[str],
    client_args: list[str],
    curve: bool,
    run: tuple[list[int], float, Path, Log],
) -> list[dict[str, Any]]:
    """Start the relay and the echo, run the client once per window; run is
    (windows, duration, log_dir, log)."""
    windows, duration, log_dir, log = run
    env, peer_env = _key_envs(curve)
    log_file = log_dir / f"{name}.log"
    relay = _spawner(script, env, log_file)(*relay_args)
    echo = None
    try:
        _ready(relay, f"{name} relay")
        peer = _spawner(script, peer_env, log_file)
        echo = peer(*echo_args)
        _ready(echo, f"{name} echo")
        return _windows(name, lambda *a: peer(*client_args, *a), windows, duration, log)
    finally:
        if echo is not None:
            _stop(echo)
        _stop(relay)


def run_raw(
    curve: bool, windows: list[int], duration: float, size: str, log_dir: Path, log: Log
) -> list[dict[str, Any]]:
    """DEALER -> minimal Python ROUTER -> DEALER (raw_zmq.py)."""
    port = str(free_port())
    return _relayed(
        "raw_zmq.py",
        "raw-curve" if curve else "raw-plain",
        ["proxy", "--port", port],
        ["echo", "--port", port],
        ["client", "--port", port, "--size", size],
        curve,
        (windows, duration, log_dir, log),
    )


def run_relay_c(
    curve: bool, windows: list[int], duration: float, size: str, log_dir: Path, log: Log
) -> list[dict[str, Any]]:
    """DEALER -> libzmq's zmq_proxy() (C: ROUTER to DEALER) -> ROUTER echo (relay_c.py)."""
    port, echo_port = str(free_port()), str(free_port())
    return _relayed(
        "relay_c.py",
        "c-relay-curve" if curve else "c-relay-plain",
        ["relay", "--port", port, "--echo-port", echo_port],
        ["echo", "--port", port, "--echo-port", echo_port],
        ["client", "--port", port, "--size", size],
        curve,
        (windows, duration, log_dir, log),
    )


def run_proxy(
    curve: bool, windows: list[int], duration: float, size: str, log_dir: Path, log: Log
) -> list[dict[str, Any]]:
    """Bare wire-protocol peers through the real oslo-messaging-zmq-proxy (proxy_raw.py)."""
    name = "proxy-curve" if curve else "proxy-plain"
    log(f"[{name}] starting oslo-messaging-zmq-proxy on 127.0.0.1")
    with zmq_proxy.ZmqProxy(curve, log_dir, name=name) as proxy:
        common = ["--endpoint", f"tcp://127.0.0.1:{proxy.port}", "--config", str(proxy.client_conf)]
        peer = _spawner("proxy_raw.py", dict(os.environ), log_dir / f"{name}.log")
        echo = peer("echo", *common)
        try:
            _ready(echo, f"{name} echo")
            return _windows(
                name,
                lambda *a: peer("client", *common, "--size", size, *a),
                windows,
                duration,
                log,
            )
        finally:
            _stop(echo)
