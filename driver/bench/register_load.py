#!/usr/bin/env python3
"""What heartbeats cost one idle proxy: N listeners REGISTER once a second each.

One real oslo-messaging-zmq-proxy (CURVE), and N DEALERs in this process, each with
its own routing id and its one target (r, nova, compute, host-NNNNN), sending its
REGISTER at its own phase of every second, as N idle nova-compute services do, and
reading the PONGs. Nobody else sends. The proxy's CPU (its interpreter's thread and
libzmq's) is measured over --window seconds once all are registered, for each
variant in turn, the order kept, --rounds times:

  native         the proxy as shipped (its native core answers a REGISTER that
                 repeats the one that set the listener's targets)
  native-python  the native core, but every REGISTER goes to proxy.py (the
                 listener's registration is forgotten after each, so the core
                 never finds a repeat): the native core before it took REGISTERs
  python         [zmq_proxy] core = python

    python bench/register_load.py --listeners 1000 --window 10 --rounds 3

Writes results/register-load-<stamp>.{md,json} (or --out DIR).
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import environment
import netutil
import procstat
import zmq

from oslo_messaging_zmq import security, wire

HERE = Path(__file__).resolve().parent
VARIANTS = ("native", "native-python", "python")
# proxy.py, patched for native-python: the core never finds the REGISTER it could answer
_FORGET_REGISTRATION = """
_register = proxy.Proxy._register
def _forgetful(self, ident, header, frame, now):
    _register(self, ident, header, frame, now)
    self.table.peers[ident].registration = None
proxy.Proxy._register = _forgetful
"""


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--listeners", type=int, default=1000)
    p.add_argument("--window", type=float, default=10.0, help="s measured per variant (10)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, in order")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    args.variants = args.variants.split(",")
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        p.error("unknown variants %s (known: %s)" % (sorted(unknown), ", ".join(VARIANTS)))
    return args


class Keys:
    def __init__(self, directory: Path) -> None:
        (directory / "allowed").mkdir()
        security.write_key_pair(str(directory), "proxy")
        public, secret = security.write_key_pair(str(directory), "listener")
        (directory / "allowed" / "listener.key").write_text(Path(public).read_text())
        self.dir = directory
        self.client = security.read_key_file(secret)
        self.server_public = security.read_key_file(str(directory / "proxy.key_secret"))["public"]


def start_proxy(variant: str, keys: Keys, port: int) -> subprocess.Popen:
    conf = keys.dir / (variant + ".conf")
    conf.write_text(
        "[zmq_proxy]\nbind_address = 127.0.0.1\nport = %d\nsecurity_mode = curve\n"
        "server_secret_key_file = %s\nallowed_clients = %s\ncore = %s\n"
        % (
            port,
            keys.dir / "proxy.key_secret",
            keys.dir / "allowed",
            "python" if variant == "python" else "native",
        )
    )
    patch = _FORGET_REGISTRATION if variant == "native-python" else ""
    code = "import sys\nfrom oslo_messaging_zmq import proxy\n%s\nsys.exit(proxy.main())\n" % patch
    log = open(keys.dir / (variant + ".log"), "w")  # noqa: SIM115 - the proxy's, until it ends
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--config-file", str(conf)], stdout=log, stderr=log
    )
    if not netutil.wait_for_port(port, 30):
        proc.kill()
        raise RuntimeError("the proxy did not listen on %d: see %s" % (port, log.name))
    return proc


class Listeners:
    """N DEALERs, one REGISTER each per second, spread over the second."""

    def __init__(self, n: int, keys: Keys, port: int) -> None:
        self.ctx = zmq.Context()
        self.poller = zmq.Poller()
        self.socks = []
        self.pongs = 0
        for i in range(n):
            sock = self.ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.ROUTING_ID, b"s%05d" % i)
            sock.setsockopt(zmq.LINGER, 0)
            security.configure_client(sock, keys.client, keys.server_public)
            sock.connect("tcp://127.0.0.1:%d" % port)
            target = [wire.RPC, "nova", "compute", "host-%05d" % i]
            self.socks.append((sock, wire.encode(wire.REGISTER, {wire.F_TARGETS: [target]})))
            self.poller.register(sock, zmq.POLLIN)

    def _read(self, timeout_ms: int) -> None:
        for sock, _event in self.poller.poll(timeout_ms):
            while sock.poll(0):
                sock.recv()
                self.pongs += 1

    def one_second(self) -> None:
        start, n = time.monotonic(), len(self.socks)
        for k, (sock, frames) in enumerate(self.socks):
            wait = start + k / n - time.monotonic()
            while wait > 0.001:
                self._read(int(wait * 1000))
                wait = start + k / n - time.monotonic()
            self._read(0)
            sock.send_multipart(frames, zmq.NOBLOCK)

    def close(self) -> None:
        for sock, _frames in self.socks:
            sock.close(0)
        self.ctx.term()


def measure(variant: str, keys: Keys, args: argparse.Namespace) -> dict:
    port = netutil.free_port()
    proc = start_proxy(variant, keys, port)
    listeners = Listeners(args.listeners, keys, port)
    try:
        for _settle in range(3):  # everyone registered, the handshakes done
            listeners.one_second()
        cpu0, threads0, pongs0 = (
            procstat.cpu_seconds(proc.pid),
            procstat.cpu_by_thread(proc.pid),
            listeners.pongs,
        )
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.window:
            listeners.one_second()
        seconds = time.monotonic() - t0
        cpu1, threads1 = procstat.cpu_seconds(proc.pid), procstat.cpu_by_thread(proc.pid)
        if proc.poll() is not None:
            raise RuntimeError("the %s proxy exited: see %s.log" % (variant, keys.dir / variant))
    finally:
        listeners.close()
        proc.terminate()
        proc.wait(10)

    def pct(a: float, b: float) -> float:
        return round(100 * (b - a) / seconds, 1)

    return {
        "variant": variant,
        "cpu_pct": pct(cpu0, cpu1),
        "python_pct": pct(threads0.get("python", 0), threads1.get("python", 0)),
        "libzmq_pct": pct(threads0.get("libzmq", 0), threads1.get("libzmq", 0)),
        "pongs_per_s": round((listeners.pongs - pongs0) / seconds, 1),
        "seconds": round(seconds, 1),
    }


def report(doc: dict) -> str:
    args = doc["settings"]
    lines = [
        "# Heartbeat load of one idle proxy: %s listeners, one REGISTER a second each"
        % f"{args['listeners']:,}",
        "",
        "Measured %s on %s; load average before/after %s / %s. CURVE. Driver %s."
        % (doc["stamp"], doc["machine"], doc["load_before"], doc["load_after"], doc["driver"]),
        "Command: `%s`" % doc["command"],
        "",
        "Proxy CPU, % of one core, while each listener REGISTERs once a second and reads its",
        "PONG (native: as shipped; native-python: the native core, every REGISTER judged by",
        "proxy.py; python: core = python). Variants in turn, %d rounds." % args["rounds"],
        "",
        "| variant | CPU % (median) | rounds | Python / libzmq | PONG/s | µs per REGISTER |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for variant in args["variants"]:
        runs = [r for r in doc["runs"] if r["variant"] == variant]
        cpu = statistics.median(r["cpu_pct"] for r in runs)
        py = statistics.median(r["python_pct"] for r in runs)
        lz = statistics.median(r["libzmq_pct"] for r in runs)
        pongs = statistics.median(r["pongs_per_s"] for r in runs)
        per = cpu / 100 / pongs * 1e6 if pongs else float("nan")
        lines.append(
            "| %s | %.1f | %s | %.1f / %.1f | %.0f | %.0f |"
            % (variant, cpu, ", ".join("%.1f" % r["cpu_pct"] for r in runs), py, lz, pongs, per)
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    doc = {
        "stamp": stamp,
        "machine": environment.machine(),
        "driver": environment.driver_revision(),
        "load_before": environment.loadavg(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="register-load-") as tmp:
        keys = Keys(Path(tmp))
        for r in range(args.rounds):
            for variant in args.variants:
                run = measure(variant, keys, args)
                doc["runs"].append(dict(run, round=r + 1))
                print(
                    "round %d %-13s proxy CPU %5.1f%% (Python %.1f, libzmq %.1f), %.0f PONG/s"
                    % (
                        r + 1,
                        variant,
                        run["cpu_pct"],
                        run["python_pct"],
                        run["libzmq_pct"],
                        run["pongs_per_s"],
                    ),
                    flush=True,
                )
    doc["load_after"] = environment.loadavg()
    text = report(doc)
    print("\n" + text)
    if not args.no_write:
        args.out.mkdir(parents=True, exist_ok=True)
        base = args.out / ("register-load-%s" % stamp)
        base.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
        base.with_suffix(".md").write_text(text)
        print("wrote %s.{md,json}" % base)


if __name__ == "__main__":
    main()
