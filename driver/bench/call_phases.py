#!/usr/bin/env python3
"""Diagnostic, not part of run.py: where do the slowest zmq calls spend their time?

Starts one proxy (plain or CURVE) and one om_server.py worker, then makes calls
from this process for --duration seconds through oslo.messaging and the zmq
driver, timing each call in phases by wrapping the driver's Sender (private
API, so this tool may need updating when the driver changes):

  submit   call() entered -> the I/O thread runs the send (_submit)
  ack      call() entered -> delivery ACK arrived from the listener
           (equals total when the driver acknowledges calls by their reply)
  reply    call() entered -> REPLY arrived on the I/O thread
  return   REPLY arrived  -> call() returned to the caller

Prints p50/p99 and the slowest calls. A "submit" column near 100 ms (the
Sender's tick) or 1 s (the loop's longest sleep) means the I/O loop missed a
wake-up.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import latency
import om_common
import oslo_messaging
import zmq_proxy
from control import Worker

from oslo_messaging_zmq import client as zclient
from oslo_messaging_zmq import wire

PHASES = ("total", "submit", "ack", "reply", "return")


def instrument(marks: dict[str, float]) -> None:
    """Record the first SEND/ACK/REPLY moment of the current call into marks."""
    on_message = zclient.Sender._on_message
    submit = zclient.Sender._submit

    def _on_message(self, idx, mtype, header, body):  # type: ignore[no-untyped-def]
        if mtype == wire.REPLY:
            marks.setdefault("reply", time.monotonic())
        elif mtype == wire.ACK:
            marks.setdefault("ack", time.monotonic())
        return on_message(self, idx, mtype, header, body)

    def _submit(self, msg_id, pending):  # type: ignore[no-untyped-def]
        marks.setdefault("submit", time.monotonic())
        return submit(self, msg_id, pending)

    zclient.Sender._on_message = _on_message  # type: ignore[method-assign]
    zclient.Sender._submit = _submit  # type: ignore[method-assign]


def measure(proxy: zmq_proxy.ZmqProxy, duration: float, body: str) -> list[dict[str, float]]:
    marks: dict[str, float] = {}
    instrument(marks)
    conf = om_common.make_conf([str(proxy.client_conf)])
    transport = oslo_messaging.get_rpc_transport(conf, url=proxy.url)
    client = oslo_messaging.get_rpc_client(transport, om_common.rpc_target(), timeout=10)
    rows = []
    try:
        end = time.monotonic() + duration
        seq = 0
        while time.monotonic() < end:
            marks.clear()
            t0 = time.monotonic()
            client.call({}, "bench_call", wl="phases", seq=seq, ts=t0, body=body)
            t1 = time.monotonic()
            seq += 1
            reply = marks.get("reply", t1)
            rows.append(
                {
                    "total": t1 - t0,
                    "submit": marks.get("submit", t1) - t0,
                    "ack": marks.get("ack", t1) - t0,
                    "reply": reply - t0,
                    "return": t1 - reply,
                }
            )
    finally:
        transport.cleanup()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--curve", action="store_true", help="CURVE instead of plain")
    parser.add_argument("--size", type=int, default=2048, help="body bytes")
    parser.add_argument("--show", type=int, default=10, help="how many slowest calls")
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-phases-"))
    with zmq_proxy.ZmqProxy(args.curve, log_dir) as proxy:
        server = Worker("om_server.py", proxy.worker_args, log_dir / "server.log", "server")
        try:
            server.wait_ready(60)
            rows = measure(proxy, args.duration, "a" * args.size)
        finally:
            server.close()
    print(f"{len(rows)} calls in {args.duration:g}s; logs in {log_dir}")
    for phase in PHASES:
        s = latency.summarize([r[phase] for r in rows])
        print(f"  {phase:7s} p50 {s['p50_ms']:8.2f} ms   p99 {s['p99_ms']:8.2f} ms")
    print("slowest calls (ms): " + "  ".join(f"{p:>7s}" for p in PHASES))
    for r in sorted(rows, key=lambda r: r["total"])[-args.show :]:
        print("                    " + "  ".join(f"{r[p] * 1000:7.1f}" for p in PHASES))


if __name__ == "__main__":
    main()
