"""A bare pyzmq peer speaking the driver's wire protocol to one proxy, with a chosen
CURVE key and routing id: what an intruder (or a test's observer) can do."""

from __future__ import annotations

import time
import uuid

import zmq

from oslo_messaging_zmq import security, wire


class RawPeer:
    def __init__(
        self,
        ctx: zmq.Context,
        address: str,
        secret_file: str,
        server_public_file: str,
        ident: bytes | None = None,
    ) -> None:
        self.ident = ident or b"x" + uuid.uuid4().bytes
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.ROUTING_ID, self.ident)
        client = security.read_key_file(secret_file)
        server = security.read_key_file(server_public_file)["public"]
        security.configure_client(self.sock, client, server)
        self.sock.connect("tcp://%s" % address)
        self.received: list[tuple[bytes, dict, bytes | None]] = []

    def send(self, mtype: bytes, header: dict, body: bytes | None = None) -> None:
        self.sock.send_multipart(wire.encode(mtype, header, body))

    def register(self, *targets) -> None:
        self.send(wire.REGISTER, {wire.F_TARGETS: [list(t) for t in targets]})

    def drain(self, seconds: float = 0.0, ack: bool = True) -> list:
        """Read what arrives for seconds; ACK deliveries as taken (as a listener does)."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if not self.sock.poll(max(0, int(left * 1000))):
                if left <= 0:
                    return self.received
                continue
            mtype, header, body = wire.decode(self.sock.recv_multipart())
            self.received.append((mtype, header, body))
            if ack and mtype == wire.DELIVER and header.get(wire.F_ACK):
                self.send(
                    wire.ACK,
                    {
                        wire.F_ID: header[wire.F_ID],
                        wire.F_TO: header[wire.F_FROM],
                        wire.F_STATE: wire.TAKEN,
                    },
                )

    def of_type(self, mtype: bytes) -> list[dict]:
        return [h for t, h, _b in self.received if t == mtype]

    def close(self) -> None:
        self.sock.close(linger=0)
