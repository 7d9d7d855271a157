"""HTTP endpoints of the proxy: GET /healthz, /stats (JSON) and /metrics (Prometheus)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from oslo_messaging_zmq.metrics import MISSING, Exporter, MissingClient

LOG = logging.getLogger("oslo_messaging_zmq.health")


class _Handler(BaseHTTPRequestHandler):
    server_version = "oslo-messaging-zmq-proxy"

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._metrics()
            return
        if path in ("/healthz", "/health"):
            status, body = self.server.health()  # type: ignore[attr-defined]
        elif path == "/stats":
            status, body = 200, self.server.stats()  # type: ignore[attr-defined]
        else:
            status, body = 404, {"error": "not found"}
        self._reply(status, json.dumps(body, sort_keys=True).encode(), "application/json")

    def _metrics(self) -> None:
        exporter = self.server.exporter  # type: ignore[attr-defined]
        if exporter is None:
            self._reply(503, (MISSING + "\n").encode(), "text/plain; charset=utf-8")
            return
        body, headers = exporter.render(
            self.headers.get("Accept", ""), self.headers.get("Accept-Encoding", "")
        )
        self._reply(200, body, headers.pop("Content-Type"), headers)

    def _reply(self, status: int, data: bytes, content_type: str, headers=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 - keep HTTP access out of the logs
        return


class HealthServer:
    """The HTTP server in a daemon thread; it only reads what the routing loop published."""

    def __init__(
        self,
        address: str,
        port: int,
        health: Callable[[], tuple[int, dict]],
        stats: Callable[[], dict],
        snapshot: Callable[[], dict],
    ) -> None:
        self._httpd = ThreadingHTTPServer((address, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.health = health  # type: ignore[attr-defined]
        self._httpd.stats = stats  # type: ignore[attr-defined]
        try:
            self._httpd.exporter = Exporter(snapshot)  # type: ignore[attr-defined]
        except MissingClient as exc:
            # routing goes on without it; /metrics says what is missing
            LOG.warning("%s; GET /metrics answers 503", exc)
            self._httpd.exporter = None  # type: ignore[attr-defined]
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
