"""The ceiling: a bare pyzmq round trip DEALER -> Python ROUTER -> DEALER and
back, with no oslo.messaging and no driver logic, optionally under CURVE.

Three roles, one process each (run by raw_bench.py):
  proxy   ROUTER that forwards [dest, payload] from a peer as [src, payload]
  echo    DEALER (identity b"echo") that returns every payload to its sender
  client  DEALER (identity b"client") keeping WINDOW requests in flight for
          DURATION seconds; prints one JSON line with counts and latencies

Keys (Z85) come from the environment: RAW_SERVER_PUBLIC / RAW_SERVER_SECRET for
the proxy, RAW_CLIENT_PUBLIC / RAW_CLIENT_SECRET for the peers; absent means
plain TCP.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import time

import latency
import payloads
import zmq
import zmq.utils.z85

HEAD = struct.Struct("!Qd")  # sequence number, send time (monotonic)


def _peer_socket(ctx: zmq.Context, identity: bytes, port: int) -> zmq.Socket:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.IDENTITY, identity)
    sock.setsockopt(zmq.LINGER, 0)
    if os.environ.get("RAW_SERVER_PUBLIC"):
        sock.curve_serverkey = os.environ["RAW_SERVER_PUBLIC"].encode()
        sock.curve_publickey = os.environ["RAW_CLIENT_PUBLIC"].encode()
        sock.curve_secretkey = os.environ["RAW_CLIENT_SECRET"].encode()
    sock.connect(f"tcp://127.0.0.1:{port}")
    return sock


def _handshake(sock: zmq.Socket, timeout_ms: int = 10000) -> None:
    """Say hello to the proxy until it answers, so it knows our identity."""
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        sock.send_multipart([b"", b"hello"])
        if sock.poll(500):
            sock.recv_multipart()
            return
    raise SystemExit("no answer from the proxy")


def run_proxy(port: int) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    auth = None
    if os.environ.get("RAW_SERVER_SECRET"):
        from zmq.auth.thread import ThreadAuthenticator

        allowed = {os.environ["RAW_CLIENT_PUBLIC"].encode()}

        class KeyList:
            def callback(self, domain: str, key: bytes) -> bool:
                return zmq.utils.z85.encode(key) in allowed or key in allowed

        auth = ThreadAuthenticator(ctx)
        auth.start()
        auth.configure_curve_callback(domain="*", credentials_provider=KeyList())
        sock.curve_server = True
        sock.curve_secretkey = os.environ["RAW_SERVER_SECRET"].encode()
        sock.curve_publickey = os.environ["RAW_SERVER_PUBLIC"].encode()
    sock.bind(f"tcp://127.0.0.1:{port}")
    print(json.dumps({"ready": True}), flush=True)
    while True:
        src, dest, *rest = sock.recv_multipart()
        if dest:
            sock.send_multipart([dest, src, *rest])
        else:  # hello
            sock.send_multipart([src, b"", b"ok"])


def run_echo(port: int) -> None:
    sock = _peer_socket(zmq.Context(), b"echo", port)
    _handshake(sock)
    print(json.dumps({"ready": True}), flush=True)
    while True:
        sock.send_multipart(sock.recv_multipart())


def print_result(sent: int, received: int, t0: float, lat: list[float]) -> None:
    """The client's one JSON line: counts, rate since t0, latency percentiles."""
    elapsed = time.monotonic() - t0
    out: dict[str, object] = {"sent": sent, "received": received, "seconds": round(elapsed, 2)}
    out["msgs_per_s"] = round(received / max(elapsed, 1e-9), 1)
    out.update(latency.summarize(lat))
    print(json.dumps(out), flush=True)


def run_client(port: int, window: int, duration: float, size: str) -> None:
    pool = [p.encode() for p in payloads.make_pool(*payloads.parse_size(size))]
    sock = _peer_socket(zmq.Context(), b"client", port)
    _handshake(sock)
    lat: list[float] = []
    sent = received = 0

    def send_one() -> None:
        nonlocal sent
        body = pool[sent % len(pool)]
        sock.send_multipart([b"echo", HEAD.pack(sent, time.monotonic()) + body])
        sent += 1

    t0 = time.monotonic()
    end = t0 + duration
    for _ in range(window):
        send_one()
    while received < sent:
        if not sock.poll(2000):
            break  # the rest is lost
        _src, payload = sock.recv_multipart()
        now = time.monotonic()
        _seq, sent_at = HEAD.unpack_from(payload)
        lat.append(now - sent_at)
        received += 1
        if now < end:
            send_one()
    print_result(sent, received, t0, lat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=("proxy", "echo", "client"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--window", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--size", default="1024:3072")
    args = parser.parse_args()
    try:
        if args.role == "proxy":
            run_proxy(args.port)
        elif args.role == "echo":
            run_echo(args.port)
        else:
            run_client(args.port, args.window, args.duration, args.size)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
