"""A TCP relay on 127.0.0.1 in front of one proxy, switchable at run time.

forward:   bytes are copied both ways.
blackhole: every connection stays open and both directions are still read,
           but the bytes are dropped: nothing arrives, no FIN, no RST.
           Connections accepted meanwhile are black-holed as well.

restore() forwards again.  A connection that lost bytes in the hole carries a
broken byte stream (ZMTP frames cut in the middle, CURVE nonces skipped), which
no real network produces: TCP would have retransmitted.  By default restore()
therefore resets those connections (RST), as the far end of a healed
partition does when it sees segments of a session it no longer trusts; the
peers reconnect through the relay.  restore(reset=False) resumes them as they
are, to see how the driver copes with a corrupted stream.

Everything runs in threads of the calling process (one accept thread, two
pump threads per connection), so the test switches modes with plain calls.
"""

from __future__ import annotations

import socket
import struct
import threading

LOOPBACK = "127.0.0.1"
FORWARD = "forward"
BLACKHOLE = "blackhole"
_CHUNK = 65536


class _Pair:
    def __init__(self, down: socket.socket, up: socket.socket) -> None:
        self.down = down
        self.up = up
        self.tainted = False  # bytes were dropped on this connection
        self.reset = False  # close with RST
        self.closing = False
        self.pumps = 2


def _rst(sock: socket.socket) -> None:
    """Make close() send RST (no FIN), and wake a thread blocked in recv()."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class Relay:
    def __init__(self, target_port: int, name: str = "relay") -> None:
        self.name = name
        self.target_port = target_port
        self._server = socket.create_server((LOOPBACK, 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self.mode = FORWARD
        self._lock = threading.Lock()
        self._pairs: set[_Pair] = set()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = {"accepted": 0, "refused": 0, "resets": 0, "forwarded": 0, "dropped": 0}

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    # -- control (any thread) ------------------------------------------------
    def start(self) -> Relay:
        self._thread = threading.Thread(target=self._accept_loop, name=self.name, daemon=True)
        self._thread.start()
        return self

    def blackhole(self) -> None:
        self.mode = BLACKHOLE

    def restore(self, reset: bool = True) -> int:
        """Forward again; return how many black-holed connections were reset."""
        count = 0
        with self._lock:
            if reset:
                for pair in list(self._pairs):
                    if pair.tainted and not pair.closing:
                        pair.reset = True
                        _rst(pair.down)
                        _rst(pair.up)
                        count += 1
                self.stats["resets"] += count
            self.mode = FORWARD
        return count

    def connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def close(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(2)
        self._server.close()
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            _shutdown(pair.down)
            _shutdown(pair.up)

    # -- relay threads ---------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                down, _addr = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                up = socket.create_connection((LOOPBACK, self.target_port), timeout=2)
            except OSError:
                self.stats["refused"] += 1
                _rst(down)
                down.close()
                continue
            for sock in (down, up):
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(down, up)
            with self._lock:
                self._pairs.add(pair)
                self.stats["accepted"] += 1
            for src, dst in ((down, up), (up, down)):
                threading.Thread(
                    target=self._pump, args=(pair, src, dst), name=self.name + "-pump", daemon=True
                ).start()

    def _pump(self, pair: _Pair, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(_CHUNK)
                if not data:
                    break
                if self.mode == BLACKHOLE:
                    pair.tainted = True
                    self.stats["dropped"] += len(data)
                    continue
                dst.sendall(data)
                self.stats["forwarded"] += len(data)
        except OSError:
            pass
        finally:
            self._finish(pair)

    def _finish(self, pair: _Pair) -> None:
        """A pump ended: stop the other one; the last one closes both sockets."""
        with self._lock:
            first = not pair.closing
            pair.closing = True
            pair.pumps -= 1
            last = pair.pumps == 0
            if last:
                self._pairs.discard(pair)
        if first and not pair.reset:
            _shutdown(pair.down)
            _shutdown(pair.up)
        if last:
            pair.down.close()
            pair.up.close()
