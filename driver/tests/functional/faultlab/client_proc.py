"""A client process with its own transports, sending a steady, rate-limited mix.

    python -m faultlab.client_proc --url URL --topic T --client ID --record FILE
        --duration S [--notify-topic NT] [--cast-rate R] [--call-rate R]
        [--notify-rate R] [--fanout-every N] [--call-timeout S] [--call-concurrency N]
        [--burst N]

Threads: casts (cast_rec, every Nth a fanout fan_rec), calls (call_rec, each in
a thread of its own, at most --call-concurrency at once), and notifications (info
on NT).  Record lines, written after the operation ended
(t0 = when it started, t1 = when it returned):

    sent-cast MID t0 t1        cast-err MID EXC t0 t1
    sent-fan MID t0 t1         fan-err MID EXC t0 t1
    call-ok MID t0 t1          call-err MID EXC t0 t1
    sent-notify MID t0 t1      notify-err MID EXC t0 t1
    burst-start N t / burst-end N t / exit t CODE [stuck-threads]

SIGUSR1: the cast thread sends --burst casts as fast as it can.  SIGTERM (or
the end of --duration): stop, wait for the threads (bounded), clean up the
transports (bounded), exit 0; 2 if a thread crashed (a ``crash`` line),
3 if a thread was stuck, 4 if cleanup was.
Prints ``ready`` once its transports are set up.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time

import harness
import oslo_messaging

from faultlab import child, records


class Pacer:
    """At most rate operations per second, without catching up after a stall."""

    def __init__(self, rate: float, stop: threading.Event) -> None:
        self._interval = 1.0 / rate
        self._stop = stop
        self._next = time.monotonic()

    def wait(self) -> None:
        self._next += self._interval
        delay = self._next - time.monotonic()
        if delay > 0:
            self._stop.wait(delay)
        elif delay < -1.0:
            self._next = time.monotonic()


class Client:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.cid = args.client
        self.rec = records.Recorder(args.record)
        self.stop = threading.Event()
        self.burst = threading.Event()
        self.bursts = 0
        conf = harness.new_conf()
        self.transport = oslo_messaging.get_rpc_transport(conf, url=args.url)
        target = oslo_messaging.Target(topic=args.topic)
        self.rpc = oslo_messaging.get_rpc_client(self.transport, target, timeout=args.call_timeout)
        self.fanout = self.rpc.prepare(fanout=True)
        self.ntransport = None
        self.notifier = None
        if args.notify_topic:
            self.ntransport = oslo_messaging.get_notification_transport(
                harness.new_conf(), url=args.url
            )
            self.notifier = oslo_messaging.Notifier(
                self.ntransport,
                publisher_id="faultlab." + self.cid,
                driver="messaging",
                topics=[args.notify_topic],
            )

    # -- one operation -------------------------------------------------------
    def _do(self, ok: str, err: str, ident: str, func, *args, **kwargs) -> None:
        t0 = records.stamp()
        try:
            func(*args, **kwargs)
        except Exception as exc:  # recorded, judged by the invariants
            self.rec.write(err, ident, type(exc).__name__, t0, records.stamp())
            return
        self.rec.write(ok, ident, t0, records.stamp())

    def _guarded(self, loop):
        def _run() -> None:
            try:
                loop()
            except BaseException as exc:  # a dead sender thread is a finding
                self.rec.write("crash", loop.__name__, type(exc).__name__, records.stamp())
                raise

        return _run

    def _call(self, mid: str) -> None:
        result = self.rpc.call({}, "call_rec", mid=mid)
        if result != mid:
            raise ValueError(f"wrong reply {result!r}")

    # -- threads -------------------------------------------------------------
    def cast_loop(self) -> None:
        pacer = Pacer(self.args.cast_rate, self.stop)
        seq = 0
        while not self.stop.is_set():
            if self.burst.is_set():
                self.burst.clear()
                self._burst()
                continue
            seq += 1
            if seq % self.args.fanout_every == 0:
                mid = f"{self.cid}-f{seq}"
                self._do("sent-fan", "fan-err", mid, self.fanout.cast, {}, "fan_rec", mid=mid)
            else:
                mid = f"{self.cid}-c{seq}"
                self._do("sent-cast", "cast-err", mid, self.rpc.cast, {}, "cast_rec", mid=mid)
            pacer.wait()

    def _burst(self) -> None:
        count = self.args.burst
        self.bursts += 1
        self.rec.write("burst-start", count, records.stamp())
        for seq in range(count):
            if self.stop.is_set():
                break
            mid = f"{self.cid}-b{self.bursts}.{seq}"
            self._do("sent-cast", "cast-err", mid, self.rpc.cast, {}, "cast_rec", mid=mid)
        self.rec.write("burst-end", count, records.stamp())

    def call_loop(self) -> None:
        """Calls at call_rate, each in its own thread, up to --call-concurrency at once:
        a call that waits out its timeout (its server was killed with it) must not stop
        the calls of the next windows."""
        pacer = Pacer(self.args.call_rate, self.stop)
        slots = threading.BoundedSemaphore(self.args.call_concurrency)
        running: list[threading.Thread] = []
        seq = 0
        while not self.stop.is_set():
            if not slots.acquire(timeout=0.5):
                continue  # every slot waits on a call: no new one meanwhile
            seq += 1
            mid = f"{self.cid}-k{seq}"
            thread = threading.Thread(
                target=self._one_call, args=(mid, slots), name=f"call-{seq}", daemon=True
            )
            thread.start()
            running = [t for t in running if t.is_alive()] + [thread]
            pacer.wait()
        until = time.monotonic() + self.args.call_timeout + 2.0
        for thread in running:
            thread.join(max(0.0, until - time.monotonic()))

    def _one_call(self, mid: str, slots: threading.BoundedSemaphore) -> None:
        try:
            self._do("call-ok", "call-err", mid, self._call, mid)
        finally:
            slots.release()

    def notify_loop(self) -> None:
        pacer = Pacer(self.args.notify_rate, self.stop)
        seq = 0
        while not self.stop.is_set():
            seq += 1
            mid = f"{self.cid}-n{seq}"
            # Notifier logs and swallows driver errors: a notification whose
            # info() returned counts as sent
            self._do(
                "sent-notify",
                "notify-err",
                mid,
                self.notifier.info,
                {},
                "faultlab.event",
                {"mid": mid},
            )
            pacer.wait()

    # -- lifecycle -----------------------------------------------------------
    def run(self) -> int:
        loops = [self.cast_loop, self.call_loop]
        if self.notifier is not None:
            loops.append(self.notify_loop)
        threads = [
            threading.Thread(target=self._guarded(loop), name=loop.__name__, daemon=True)
            for loop in loops
        ]
        for thread in threads:
            thread.start()
        child.ready()
        self.stop.wait(self.args.duration)
        self.stop.set()
        join_deadline = time.monotonic() + self.args.call_timeout + 5.0
        for thread in threads:
            thread.join(max(0.0, join_deadline - time.monotonic()))
        stuck = [t.name for t in threads if t.is_alive()]
        crashed = [r for r in records.read(self.args.record) if r[0] == "crash"]
        code = 3 if stuck else (2 if crashed else 0)
        if not stuck and not self._cleanup(10.0):
            stuck, code = ["cleanup"], 4
        self.rec.write("exit", records.stamp(), code, *stuck)
        return code

    def _cleanup(self, timeout: float) -> bool:
        def _clean() -> None:
            self.transport.cleanup()
            if self.ntransport is not None:
                self.ntransport.cleanup()

        thread = threading.Thread(target=_clean, name="cleanup", daemon=True)
        thread.start()
        thread.join(timeout)
        return not thread.is_alive()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--client", required=True)
    parser.add_argument("--record", required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--notify-topic", default=None)
    parser.add_argument("--cast-rate", type=float, default=60.0)
    parser.add_argument("--call-rate", type=float, default=15.0)
    parser.add_argument("--notify-rate", type=float, default=10.0)
    parser.add_argument("--fanout-every", type=int, default=4)
    parser.add_argument("--call-timeout", type=float, default=30.0)
    parser.add_argument("--call-concurrency", type=int, default=8)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--lifetime", type=float, default=1800.0)
    parser.add_argument("--parent", type=int, default=None)
    args = parser.parse_args()
    child.install(args.lifetime, args.parent)
    child.setup_logging()
    client = Client(args)
    signal.signal(signal.SIGTERM, lambda *_a: client.stop.set())
    signal.signal(signal.SIGUSR1, lambda *_a: client.burst.set())
    os._exit(client.run())


if __name__ == "__main__":
    main()
