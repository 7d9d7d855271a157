#!/usr/bin/env python3
"""A relay with no Python per message: libzmq's own zmq_proxy() (C) between a
ROUTER for the caller and a DEALER for the echo, both hops under CURVE when
RAW_SERVER_* keys are set. The lowest cost a relay built on this libzmq can
have on this machine; proxy_ab.py --floor runs it beside the real proxy.

Roles, one process each:
  relay   binds a ROUTER (callers) and a DEALER (the echo), then zmq_proxy()
  echo    a ROUTER that connects to the relay's DEALER and returns every
          message as it came ([relay id, caller id, payload])
  client  a DEALER keeping WINDOW requests (one frame each) in flight for
          DURATION seconds; prints one JSON line as raw_zmq.py's client does

Frames on the wire: caller -> relay one, relay -> echo two (caller id,
payload), as few as zmq_proxy() allows; the real proxy sends one per hop.

Keys as in raw_zmq.py (RAW_SERVER_PUBLIC/SECRET for the relay, RAW_CLIENT_*
for the peers); the relay does no ZAP check, as raw_zmq.py's ROUTER does one:
a handshake per connection, not a cost per message.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import payloads
import zmq
from raw_zmq import HEAD, print_result


def _serve_curve(sock: zmq.Socket) -> None:
    if os.environ.get("RAW_SERVER_SECRET"):
        sock.curve_server = True
        sock.curve_secretkey = os.environ["RAW_SERVER_SECRET"].encode()
        sock.curve_publickey = os.environ["RAW_SERVER_PUBLIC"].encode()


def _client_curve(sock: zmq.Socket) -> None:
    if os.environ.get("RAW_SERVER_PUBLIC"):
        sock.curve_serverkey = os.environ["RAW_SERVER_PUBLIC"].encode()
        sock.curve_publickey = os.environ["RAW_CLIENT_PUBLIC"].encode()
        sock.curve_secretkey = os.environ["RAW_CLIENT_SECRET"].encode()


def run_relay(port: int, echo_port: int) -> None:
    ctx = zmq.Context()
    front = ctx.socket(zmq.ROUTER)
    back = ctx.socket(zmq.DEALER)
    for sock, bind_port in ((front, port), (back, echo_port)):
        sock.setsockopt(zmq.LINGER, 0)
        _serve_curve(sock)
        sock.bind(f"tcp://127.0.0.1:{bind_port}")
    print(json.dumps({"ready": True}), flush=True)
    zmq.proxy(front, back)


def run_echo(echo_port: int) -> None:
    sock = zmq.Context().socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    _client_curve(sock)
    sock.connect(f"tcp://127.0.0.1:{echo_port}")
    print(json.dumps({"ready": True}), flush=True)
    while True:
        sock.send_multipart(sock.recv_multipart())


def run_client(port: int, window: int, duration: float, size: str) -> None:
    pool = [p.encode() for p in payloads.make_pool(*payloads.parse_size(size))]
    sock = zmq.Context().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    _client_curve(sock)
    sock.connect(f"tcp://127.0.0.1:{port}")
    sock.send(HEAD.pack(0, 0.0))  # through to the echo and back: the path is up
    if not sock.poll(10000):
        raise SystemExit("no answer through the relay")
    sock.recv()
    lat: list[float] = []
    sent = received = 0
    t0 = time.monotonic()
    end = t0 + duration
    for _ in range(window):
        sock.send(HEAD.pack(sent, time.monotonic()) + pool[sent % len(pool)])
        sent += 1
    while received < sent:
        if not sock.poll(2000):
            break  # the rest is lost
        payload = sock.recv()
        now = time.monotonic()
        lat.append(now - HEAD.unpack_from(payload)[1])
        received += 1
        if now < end:
            sock.send(HEAD.pack(sent, now) + pool[sent % len(pool)])
            sent += 1
    print_result(sent, received, t0, lat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=("relay", "echo", "client"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--echo-port", type=int)
    parser.add_argument("--window", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--size", default="1024:3072")
    args = parser.parse_args()
    if args.role == "relay":
        run_relay(args.port, args.echo_port)
    elif args.role == "echo":
        run_echo(args.echo_port)
    else:
        run_client(args.port, args.window, args.duration, args.size)


if __name__ == "__main__":
    main()
