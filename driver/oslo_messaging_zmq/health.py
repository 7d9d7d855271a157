"""HTTP health probe and counters of the proxy (GET /healthz, GET /metrics)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    server_version = "oslo-messaging-zmq-proxy"

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        path = self.path.split("?", 1)[0]
        if path in ("/healthz", "/health"):
            status, body = self.server.health()  # type: ignore[attr-defined]
        elif path in ("/metrics", "/stats"):
            status, body = 200, self.server.metrics()  # type: ignore[attr-defined]
        else:
            status, body = 404, {"error": "not found"}
        data = json.dumps(body, sort_keys=True).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 - keep HTTP access out of the logs
        return


class HealthServer:
    def __init__(
        self,
        address: str,
        port: int,
        health: Callable[[], tuple[int, dict]],
        metrics: Callable[[], dict],
    ) -> None:
        self._httpd = ThreadingHTTPServer((address, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.health = health  # type: ignore[attr-defined]
        self._httpd.metrics = metrics  # type: ignore[attr-defined]
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
