"""The real oslo-messaging-zmq-proxy, driven by bare pyzmq peers that speak the
driver's wire protocol (oslo_messaging_zmq.wire) with no oslo.messaging and no
driver threads: what the proxy and its protocol cost on their own.

Two roles, one process each (run by raw_bench.py):
  echo    registers an RPC target and answers every request with a REPLY
  client  keeps WINDOW calls (SEND with r=1) in flight for DURATION seconds and
          prints one JSON line with counts and latencies

--config is the driver option file written by zmq_proxy.py (security mode and
key files).
"""

from __future__ import annotations

import argparse
import configparser
import json
import time
import uuid

import latency
import payloads
import zmq

from oslo_messaging_zmq import security, wire

TOPIC = "bench_raw"
SERVER = "echo"


def _socket(ctx: zmq.Context, endpoint: str, config: str) -> zmq.Socket:
    opts = configparser.ConfigParser()
    opts.read(config)
    sec = opts["oslo_messaging_zmq"]
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.IDENTITY, b"b" + uuid.uuid4().bytes)
    if sec.get("security_mode", "curve") == "curve":
        client = security.read_key_file(sec["client_secret_key_file"])
        server = security.read_key_file(sec["server_public_key_file"])
        security.configure_client(sock, client, server["public"])
    sock.connect(endpoint)
    return sock


def _greet(sock: zmq.Socket, frames: list[bytes], timeout: float = 10.0) -> None:
    """Send HELLO/REGISTER until the proxy answers with PONG."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.send_multipart(frames)
        if sock.poll(500):
            mtype, _, _ = wire.decode(sock.recv_multipart())
            if mtype == wire.PONG:
                return
    raise SystemExit("no PONG from the proxy")


def run_echo(endpoint: str, config: str) -> None:
    sock = _socket(zmq.Context(), endpoint, config)
    register = wire.encode(wire.REGISTER, {wire.F_TARGETS: [[wire.RPC, "", TOPIC, SERVER]]})
    _greet(sock, register)
    print(json.dumps({"ready": True}), flush=True)
    next_beat = time.monotonic() + 1.0
    while True:
        if sock.poll(200):
            for _ in range(100):
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                mtype, header, body = wire.decode(frames)
                if mtype == wire.DELIVER:
                    out = {wire.F_ID: header[wire.F_ID], wire.F_TO: header[wire.F_FROM]}
                    sock.send_multipart(wire.encode(wire.REPLY, out, body))
        if time.monotonic() >= next_beat:  # registrations double as heartbeats
            sock.send_multipart(register)
            next_beat = time.monotonic() + 1.0


def run_client(endpoint: str, config: str, window: int, duration: float, size: str) -> None:
    pool = [p.encode() for p in payloads.make_pool(*payloads.parse_size(size))]
    sock = _socket(zmq.Context(), endpoint, config)
    _greet(sock, wire.encode(wire.HELLO, {}))
    pending: dict[str, float] = {}
    lat: list[float] = []
    sent = 0

    def send_one() -> None:
        nonlocal sent
        msg_id = uuid.uuid4().hex
        header = {
            wire.F_ID: msg_id,
            wire.F_KIND: wire.RPC,
            wire.F_EXCHANGE: "",
            wire.F_TOPIC: TOPIC,
            wire.F_SERVER: SERVER,
            wire.F_CALL: 1,
        }
        pending[msg_id] = time.monotonic()
        sock.send_multipart(wire.encode(wire.SEND, header, pool[sent % len(pool)]))
        sent += 1

    t0 = time.monotonic()
    end = t0 + duration
    hello = wire.encode(wire.HELLO, {})
    next_hello = t0 + 1.0
    for _ in range(window):
        send_one()
    while pending:
        if not sock.poll(2000):
            break  # what is still pending is lost
        if time.monotonic() >= next_hello:  # liveness ping, as the driver's clients send
            sock.send_multipart(hello)
            next_hello += 1.0
        mtype, header, _ = wire.decode(sock.recv_multipart())
        if mtype != wire.REPLY:
            continue  # PONG, STATUS
        sent_at = pending.pop(header.get(wire.F_ID), None)
        if sent_at is None:
            continue
        now = time.monotonic()
        lat.append(now - sent_at)
        if now < end:
            send_one()
    elapsed = time.monotonic() - t0
    out: dict[str, object] = {"sent": sent, "received": len(lat), "seconds": round(elapsed, 2)}
    out["msgs_per_s"] = round(len(lat) / max(elapsed, 1e-9), 1)
    out.update(latency.summarize(lat))
    print(json.dumps(out), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=("echo", "client"))
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--window", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--size", default="1024:3072")
    args = parser.parse_args()
    if args.role == "echo":
        run_echo(args.endpoint, args.config)
    else:
        run_client(args.endpoint, args.config, args.window, args.duration, args.size)


if __name__ == "__main__":
    main()
