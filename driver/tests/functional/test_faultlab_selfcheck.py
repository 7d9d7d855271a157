"""The fault lab's own parts: the relay black-holes and restores, the invariants catch
every kind of violation (synthetic record files, no driver involved)."""

from __future__ import annotations

import socket
import threading

import pytest
from faultlab import invariants, records
from faultlab.relay import Relay


class _Echo:
    """A TCP echo server on 127.0.0.1 that also remembers what it received."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received = bytearray()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _addr = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                self.received += data
                conn.sendall(data)


@pytest.fixture
def relay():
    echo = _Echo()
    relay = Relay(echo.port).start()
    yield relay, echo
    relay.close()
    echo.server.close()


def _connect(relay: Relay) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", relay.port), timeout=2)
    sock.settimeout(0.5)
    return sock


def test_relay_blackhole_keeps_connections_open_and_drops_bytes(relay):
    relay, echo = relay
    with _connect(relay) as sock:
        sock.sendall(b"one")
        assert sock.recv(16) == b"one"
        relay.blackhole()
        sock.sendall(b"two")
        with pytest.raises(TimeoutError):  # neither data nor FIN/RST
            sock.recv(16)
        with _connect(relay) as late:  # accepted during the hole, black-holed too
            late.sendall(b"three")
            with pytest.raises(TimeoutError):
                late.recv(16)
            assert bytes(echo.received) == b"one"
            assert relay.stats["dropped"] >= len(b"twothree")
            assert relay.restore() == 2  # both still open (closing one would end its pair)
            with pytest.raises(ConnectionResetError):  # broken streams are reset
                sock.recv(16)
    with _connect(relay) as fresh:
        fresh.sendall(b"four")
        assert fresh.recv(16) == b"four"


def test_relay_restore_without_reset_resumes(relay):
    relay, _echo = relay
    with _connect(relay) as sock:
        relay.blackhole()
        sock.sendall(b"lost")
        with pytest.raises(TimeoutError):
            sock.recv(16)
        assert relay.restore(reset=False) == 0
        sock.sendall(b"back")
        assert sock.recv(16) == b"back"


def _write(path: str, lines: list[tuple]) -> None:
    rec = records.Recorder(path)
    for line in lines:
        rec.write(*line)
    rec.close()


def _run(tmp_path, client_lines, server_lines, exits=None, plan=None) -> dict:
    client = str(tmp_path / "c1.rec")
    _write(client, client_lines)
    members = {}
    lifetimes = {"s1": None, "s2": None, "k1": 25.0, "pa1": None, "pb1": None}
    for name, ended in lifetimes.items():
        path = str(tmp_path / f"{name}.rec")
        _write(path, server_lines.get(name, []))
        kind = "notify" if name.startswith("p") else "rpc"
        members[name] = {
            "kind": kind,
            "pool": name[:2] if kind == "notify" else None,
            "record": path,
            "ready_at": -1.0,
            "ended_at": ended,
            "workers": 1 if name == "k1" else None,
        }
    windows = [
        {"name": "baseline", "round": 0, "start": 0.0, "details": {"checks": {}}},
        {"name": "hung", "round": 1, "start": 10.0, "details": {"checks": {"hit": True}}},
        {
            "name": "server-killed",
            "round": 1,
            "start": 20.0,
            "details": {"victim": "k1", "concurrency": 1, "checks": {}},
        },
    ]
    return invariants.evaluate(
        {
            "windows": windows,
            "traffic_end": 30.0,
            "members": members,
            "clients": {"c1": client},
            "exits": exits or {"c1": {"code": 0, "hung": False, "exit_after_s": 0.1}},
            "client_bound_s": 45,
            "plan": plan or {},
        }
    )


def test_invariants_clean_run_passes(tmp_path):
    result = _run(
        tmp_path,
        [
            ("sent-cast", "c1-c1", 1, 1.1),
            ("call-ok", "c1-k1", 2, 2.1),
            ("sent-fan", "c1-f1", 3, 3.1),
            ("sent-notify", "c1-n1", 4, 4.1),
        ],
        {
            "s1": [
                ("begin-cast", "c1-c1", "s1", 1.2),
                ("cast", "c1-c1", "s1", 1.3),
                ("fan", "c1-f1", "s1", 3.2),
            ],
            "s2": [("call", "c1-k1", "s2", 2.05), ("fan", "c1-f1", "s2", 3.2)],
            "k1": [("fan", "c1-f1", "k1", 3.2)],
            "pa1": [("notify", "c1-n1", "pa1/pa", 4.2)],
            "pb1": [("notify", "c1-n1", "pb1/pb", 4.2)],
        },
    )
    assert result["violations"] == []
    assert result["ok"]
    assert result["totals"]["casts"]["once"] == 1


def test_invariants_catch_every_violation(tmp_path):
    result = _run(
        tmp_path,
        [
            ("sent-cast", "c1-c2", 11, 11.1),  # executed twice
            ("sent-cast", "c1-c3", 12, 12.1),  # never executed
            ("call-ok", "c1-k2", 13, 13.5),  # executed twice
            ("call-ok", "c1-k3", 14, 14.5),  # answered, never executed
            ("call-err", "c1-k4", "MessagingTimeout", 14, 44),  # executed once: fine
            ("sent-fan", "c1-f2", 15, 15.1),  # only s1
            ("sent-notify", "c1-n2", 16, 16.1),  # twice in pa, not in pb
            ("sent-cast", "c1-c4", 21, 21.1),  # begun on k1, killed
            ("sent-cast", "c1-c5", 22, 22.1),  # begun on k1 too: > concurrency 1
            ("sent-fan", "c1-f3", 23, 23.1),  # twice on s1; k1 not alive throughout
        ],
        {
            "s1": [
                ("cast", "c1-c2", "s1", 11.2),
                ("call", "c1-k2", "s1", 13.1),
                ("fan", "c1-f2", "s1", 15.2),
                ("fan", "c1-f3", "s1", 23.2),
                ("fan", "c1-f3", "s1", 23.3),
            ],
            "s2": [
                ("cast", "c1-c2", "s2", 17.0),
                ("call", "c1-k2", "s2", 17.0),
                ("call", "c1-k4", "s2", 20.0),
                ("fan", "c1-f3", "s2", 23.2),
            ],
            "k1": [("begin-cast", "c1-c4", "k1", 21.2), ("begin-cast", "c1-c5", "k1", 22.2)],
            "pa1": [("notify", "c1-n2", "pa1/pa", 16.2), ("notify", "c1-n2", "pa1/pa", 18.0)],
        },
        exits={"c1": {"code": None, "hung": True, "exit_after_s": 45}},
    )
    assert not result["ok"]
    assert sorted(result["violations"]) == sorted(
        [
            "hung#1: 1 casts lost",
            "hung#1: 1 casts executed more than once",
            "hung#1: 1 calls executed more than once",
            "hung#1: 1 calls answered but never executed",
            "hung#1: 2 fanout copies missing",  # s2 and k1 (alive throughout hung)
            "hung#1: 1 notifications lost",
            "hung#1: 1 notifications duplicated",
            "server-killed#1: 2 casts lost in execution (> concurrency 1)",
            "server-killed#1: 1 fanout copies duplicated",
            "client c1 hung: no exit 45 s after SIGTERM",
        ]
    )
    hung = result["windows"][1]
    assert hung["casts"]["sent"] == 2 and hung["calls"]["err_executed"] == 1


def test_invariants_bound_the_block_of_a_proxy_fault(tmp_path):
    lines = [
        ("sent-cast", "c1-c6", 11, 16.0),  # hung window: blocked 5 s
        ("sent-cast", "c1-c7", 21, 27.0),  # server-killed: back-pressure, not bounded
    ]
    servers = {"s1": [("cast", "c1-c6", "s1", 16.1), ("cast", "c1-c7", "s1", 27.1)]}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    result = _run(tmp_path / "a", lines, servers)
    assert result["violations"] == ["hung#1: a cast() blocked 5.0 s (failover bound 4.5 s)"]
    # the bound follows the lab's driver options: ack_timeout 4 s allows 5.5 s
    slower = {"settings": {"query": {"ack_timeout": "4"}}}
    assert _run(tmp_path / "b", lines, servers, plan=slower)["violations"] == []
