"""The processes of the scale simulation and how to reach them: two proxies
(shared CURVE keys), listener workers (scale_worker.py, hosts spread
round robin: host i lives in worker i % W) and sender workers
(scale_sender.py). Everything is stopped by close(), in reverse order."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import procstat
import zmq_proxy
from control import Worker, WorkerError
from netutil import LOOPBACK
from scale_sender import host_name
from scale_worker import EXCHANGE, TOPIC

TARGET_LABEL = f"rpc/{EXCHANGE}/{TOPIC}"
# what the logs say about listeners in trouble (driver listeners log at WARNING)
_STALL = re.compile(r"zmq I/O loop did not run for ([0-9.]+) s")
_UNRUN = "Can not acknowledge message"  # oslo.messaging: a released (stale) message
_TIMED_OUT = re.compile(r"listener [0-9a-f]+ timed out")  # proxy: a silent listener forgotten
_SENDER_DROP = "zmq: dropping message"
READY_TIMEOUT = 180.0  # s a worker may take to import oslo.messaging on a busy machine


class Lab:
    def __init__(
        self,
        curve: bool,
        listeners: int,
        per_process: int,
        senders: int,
        executor_threads: int,
        proxy_options: dict[str, str],
        log_dir: Path,
        log: Callable[[str], None],
    ) -> None:
        self.curve = curve
        self.n = listeners
        self.workers_count = max(1, -(-listeners // per_process))
        self.senders_count = senders
        self.executor_threads = executor_threads
        self.proxy_options = proxy_options
        self.log_dir = log_dir
        self.record_dir = log_dir / "records"
        self.record_dir.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.stack = contextlib.ExitStack()
        self.proxies: list[zmq_proxy.ZmqProxy] = []
        self.listeners: list[Worker] = []
        self.generation = [0] * self.workers_count
        self.senders: list[Worker] = []
        self.url = ""
        self.worker_args: list[str] = []
        self.kind = "bare"  # of the listeners running now: "bare" or "driver"
        self._log_offsets: dict[Path, int] = {}
        self._dead_cpu = 0.0  # CPU seconds of listener workers killed by the churn

    # -- start / stop ----------------------------------------------------------
    def start_proxies(self) -> None:
        first = None
        for i in (1, 2):
            proxy = zmq_proxy.ZmqProxy(
                self.curve,
                self.log_dir,
                name=f"proxy{i}",
                keys_from=first,
                proxy_options=self.proxy_options,
            )
            self.stack.enter_context(proxy)
            self.proxies.append(proxy)
            first = first or proxy
        self.url = "zmq://" + ",".join(f"{LOOPBACK}:{p.port}" for p in self.proxies) + "/"
        extra = self.log_dir / "scale.conf"
        # oslo.messaging's default pool is 64 threads per RPC server: see README.md
        extra.write_text(f"[DEFAULT]\nexecutor_thread_pool_size = {self.executor_threads}\n")
        self.worker_args = [
            "--url",
            self.url,
            "--config-file",
            str(self.proxies[0].client_conf),
            "--config-file",
            str(extra),
        ]

    def hosts_of(self, worker: int) -> list[str]:
        return [host_name(h) for h in range(worker, self.n, self.workers_count)]

    def worker_of(self, host: str) -> int:
        return int(host.rsplit("-", 1)[1]) % self.workers_count

    def _spawn_listener_worker(self, i: int) -> Worker:
        gen = self.generation[i]
        record = self.record_dir / f"exec-w{i:02d}-g{gen}.log"
        worker = Worker(
            "scale_worker.py",
            [*self.worker_args, "--record", str(record)],
            self.log_dir / f"listeners-w{i:02d}-g{gen}.log",
            f"listeners-w{i:02d}",
        )
        self.stack.callback(worker.close, 5)
        return worker

    def start_workers(self) -> None:
        """Listener workers and senders, started together, then waited for."""
        self.listeners = [self._spawn_listener_worker(i) for i in range(self.workers_count)]
        for i in range(self.senders_count):
            sender = Worker(
                "scale_sender.py",
                [
                    *self.worker_args,
                    "--name",
                    f"s{i}",
                    "--record",
                    str(self.record_dir / f"sent-s{i}.log"),
                    "--proxy",
                    str(i),  # sender i through proxy i mod 2: both proxies route
                ],
                self.log_dir / f"sender-s{i}.log",
                f"sender-s{i}",
            )
            # senders go first at the end: their cleanup waits for unsettled casts
            self.stack.callback(sender.close, 30)
            self.senders.append(sender)
        for worker in self.listeners + self.senders:
            worker.wait_ready(READY_TIMEOUT)

    def respawn(self, i: int) -> None:
        """SIGKILL listener worker i and start a new one for the same hosts (not activated)."""
        old = self.listeners[i]
        self._dead_cpu += procstat.cpu_seconds(old.proc.pid) or 0.0
        old.proc.kill()
        old.proc.wait()
        self.generation[i] += 1
        new = self._spawn_listener_worker(i)
        new.wait_ready(READY_TIMEOUT)
        self.listeners[i] = new

    def close(self) -> None:
        self.stack.close()

    # -- what runs ---------------------------------------------------------------
    def _by_worker(self, hosts: list[str]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for host in hosts:
            out.setdefault(self.worker_of(host), []).append(host)
        return out

    def activate(self, hosts: list[str], kind: str | None = None) -> None:
        """Start listeners of kind (default: the current one) in their workers."""
        self.kind = kind or self.kind
        for i, mine in sorted(self._by_worker(hosts).items()):
            self.listeners[i].request({"op": "activate", "hosts": mine, "kind": self.kind}, 30)

    def deactivate(self, hosts: list[str]) -> None:
        """Stop listeners cleanly (they unregister from both proxies)."""
        for i, mine in sorted(self._by_worker(hosts).items()):
            self.listeners[i].request({"op": "deactivate", "hosts": mine}, 30)

    def worker_stats(self) -> list[dict[str, Any]]:
        return [w.request({"op": "stats"}, 30) for w in self.listeners]

    def run_senders(self, cmd: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        """One command on every sender at once; their answers."""
        answers: list[dict[str, Any] | None] = [None] * len(self.senders)
        errors: list[BaseException] = []

        def one(i: int) -> None:
            try:
                answers[i] = self.senders[i].request(cmd, timeout)
            except (WorkerError, OSError) as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(self.senders))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return [a for a in answers if a is not None]

    # -- measuring ---------------------------------------------------------------
    def proxy_stats(self) -> list[dict[str, Any]]:
        out = []
        for proxy in self.proxies:
            got = proxy.metrics()
            out.append(got if isinstance(got, dict) else {})
        return out

    def proxy_cpu(self) -> list[float]:
        return [(procstat.cpu_seconds(p.pid) or 0.0) if p.pid else 0.0 for p in self.proxies]

    def proxy_thread_cpu(self) -> list[dict[str, float]]:
        return [procstat.cpu_by_thread(p.pid) if p.pid else {} for p in self.proxies]

    def workers_cpu(self) -> float:
        """CPU seconds of the listener workers, those killed by the churn included."""
        alive = sum(procstat.cpu_seconds(w.proc.pid) or 0.0 for w in self.listeners)
        return alive + self._dead_cpu

    def senders_cpu(self) -> float:
        return sum(procstat.cpu_seconds(w.proc.pid) or 0.0 for w in self.senders)

    @staticmethod
    def registered(stats: dict[str, Any]) -> int:
        return int(stats.get("targets", {}).get(TARGET_LABEL, {}).get("listeners", 0))

    def wait_registered(self, count: int, timeout: float) -> float | None:
        """Seconds until both proxies list exactly count listeners of the topic (None: not)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if all(self.registered(s) == count for s in self.proxy_stats()):
                return time.monotonic() - start
            time.sleep(0.1)  # the proxies refresh /stats every 0.25 s
        return None

    def _new_log_text(self, path: Path) -> str:
        try:
            with open(path, errors="replace") as handle:
                handle.seek(self._log_offsets.get(path, 0))
                text = handle.read()
                self._log_offsets[path] = handle.tell()
        except OSError:
            return ""
        return text

    def log_events(self) -> dict[str, Any]:
        """What the logs said since the last call: listener I/O loops that ran late
        (driver listeners), messages released unrun, listeners the proxies forgot
        for silence, casts a sender gave up."""
        late = []
        unrun = dropped = 0
        for path in sorted(self.log_dir.glob("listeners-*.log")):
            text = self._new_log_text(path)
            late += [float(x) for x in _STALL.findall(text)]
            unrun += text.count(_UNRUN)
        for path in sorted(self.log_dir.glob("sender-*.log")):
            dropped += self._new_log_text(path).count(_SENDER_DROP)
        timeouts = [len(_TIMED_OUT.findall(self._new_log_text(p.log_path))) for p in self.proxies]
        return {
            "io_loops_late": len(late),
            "io_loop_late_max_s": max(late, default=0.0),
            "released_unrun": unrun,
            "proxy_listener_timeouts": timeouts,
            "sender_gave_up": dropped,
        }

    def sent_files(self) -> list[Path]:
        return sorted(self.record_dir.glob("sent-*.log"))

    def exec_files(self) -> list[Path]:
        return sorted(self.record_dir.glob("exec-*.log"))


class Meter:
    """What a phase cost: CPU seconds of each proxy, of the listener workers, of the
    senders and of the machine's other processes, the proxies' counters and RSS, and
    what the logs said (Lab.log_events), from its creation to finish()."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        lab.log_events()  # forget what came before
        self.t0 = time.monotonic()
        self.stats0 = lab.proxy_stats()
        self.cpu0 = (lab.proxy_cpu(), lab.workers_cpu(), lab.senders_cpu())
        self.threads0 = lab.proxy_thread_cpu()
        self.busy0 = procstat.machine_busy_seconds()

    def finish(self) -> dict[str, Any]:
        lab = self.lab
        stats1 = lab.proxy_stats()
        proxies1, workers1, senders1 = lab.proxy_cpu(), lab.workers_cpu(), lab.senders_cpu()
        busy = procstat.machine_busy_seconds() - self.busy0
        seconds = time.monotonic() - self.t0
        proxies0, workers0, senders0 = self.cpu0
        proxy_cpu = [round(b - a, 2) for a, b in zip(proxies0, proxies1, strict=True)]
        listener_cpu = round(workers1 - workers0, 2)
        sender_cpu = round(senders1 - senders0, 2)
        other = busy - sum(proxy_cpu) - listener_cpu - sender_cpu
        split = [
            {k: round(b[k] - a[k], 2) for k in a}
            for a, b in zip(self.threads0, lab.proxy_thread_cpu(), strict=True)
        ]
        return {
            "seconds": round(seconds, 1),
            "proxy_cpu_s": proxy_cpu,
            # the interpreter's threads against libzmq's (I/O: CURVE, ZMTP heartbeats)
            "proxy_cpu_split_s": split,
            "listener_cpu_s": listener_cpu,
            "sender_cpu_s": sender_cpu,
            # the machine is shared: what its other processes took meanwhile
            "other_cpu_s": round(max(0.0, other), 2),
            "proxy_rss_mb": [round(s.get("rss_bytes", 0) / 2**20, 1) for s in stats1],
            "proxy_counters": [_delta(a, b) for a, b in zip(self.stats0, stats1, strict=True)],
            "log": lab.log_events(),
            "stats": stats1,  # not for the report: the last /stats of each proxy
            "stats0": self.stats0,
        }


COUNTERS = (
    "received",
    "routed",
    "held",
    "delivered_from_hold",
    "dropped",
    "expired",
    "busy",
    "native_handled",
)


def _delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    a, b = before.get("counters", {}), after.get("counters", {})
    return {k: int(b.get(k, 0)) - int(a.get(k, 0)) for k in COUNTERS}
