"""The oslo.messaging driver (entry point ``zmq``)."""

from __future__ import annotations

import logging
import threading

import oslo_messaging
from oslo_messaging._drivers import base
from oslo_messaging._drivers import common as rpc_common
from oslo_serialization import jsonutils

from oslo_messaging_zmq import options, security, wire
from oslo_messaging_zmq.client import Sender
from oslo_messaging_zmq.dedup import Deduplicator
from oslo_messaging_zmq.ioloop import IOLoop
from oslo_messaging_zmq.links import LinkSettings, SecurityConfig
from oslo_messaging_zmq.listener import ZmqListener

LOG = logging.getLogger(__name__)


class ZmqConfigError(oslo_messaging.MessagingException):
    """The [oslo_messaging_zmq] settings cannot work (e.g. missing CURVE keys)."""


def proxy_endpoints(url, default_port: int) -> list[str]:
    """tcp:// endpoints of the proxies listed in a zmq:// transport URL."""
    endpoints = []
    for host in url.hosts or []:
        name = host.hostname or "127.0.0.1"
        if ":" in name:
            name = "[%s]" % name
        endpoints.append("tcp://%s:%d" % (name, host.port or default_port))
    return endpoints or ["tcp://127.0.0.1:%d" % default_port]


def ignored_credentials(url) -> list[str]:
    """Proxy hosts of a zmq:// URL that carry a password (which the driver does not use).

    Deployment tools render one URL form for every transport, user:password@host:port,...
    (OpenStack-Ansible does); on zmq:// the proxies know a client by its CURVE key instead.
    """
    return [
        "%s:%s" % (host.hostname or "127.0.0.1", host.port or "-")
        for host in url.hosts or []
        if host.password
    ]


def load_security(opts) -> SecurityConfig:
    """Read the CURVE key files named by the options (or return plain mode)."""
    if opts.security_mode == "plain":
        return SecurityConfig("plain")
    if not opts.client_secret_key_file or not opts.server_public_key_file:
        raise ZmqConfigError(
            "[oslo_messaging_zmq] security_mode=curve needs client_secret_key_file and "
            "server_public_key_file (or set security_mode=plain explicitly)"
        )
    try:
        client = security.read_key_file(opts.client_secret_key_file)
        server = security.read_key_file(opts.server_public_key_file)
    except security.KeyFileError as exc:
        raise ZmqConfigError(str(exc)) from None
    if "secret" not in client or "public" not in client:
        raise ZmqConfigError(
            "%s holds no secret key (use NAME.key_secret)" % opts.client_secret_key_file
        )
    if "public" not in server:
        raise ZmqConfigError(
            "%s holds no public key: server_public_key_file must name the proxies' "
            "NAME.key" % opts.server_public_key_file
        )
    return SecurityConfig("curve", client, server["public"])


class ZmqDriver(base.BaseDriver):
    """oslo.messaging transport over ZeroMQ through stateless proxies."""

    prefetch_size = 0

    def __init__(self, conf, url, default_exchange=None, allowed_remote_exmods=None):
        conf = options.register(conf, url)
        super().__init__(conf, url, default_exchange, allowed_remote_exmods)
        opts = conf.oslo_messaging_zmq
        self._opts = opts
        self._endpoints = proxy_endpoints(url, opts.default_proxy_port)
        with_password = ignored_credentials(url)
        if with_password:
            LOG.warning(
                "zmq: the transport_url gives a user and password for %s; they are ignored "
                "(the proxies authenticate a client by its CURVE key, [oslo_messaging_zmq] "
                "client_secret_key_file)",
                ", ".join(with_password),
            )
        self._vhost = (url.virtual_host or "").strip("/")
        self._security = load_security(opts)
        self._settings = LinkSettings(
            heartbeat_interval=opts.heartbeat_interval,
            proxy_timeout=opts.proxy_timeout,
            ack_timeout=opts.ack_timeout,
            hwm=opts.socket_hwm,
            max_message_size=opts.max_message_size,
            confirm_casts=opts.confirm_casts,
        )
        self._io: IOLoop | None = None
        self._sender: Sender | None = None
        self._listeners: list[ZmqListener] = []
        self._lock = threading.Lock()

    # -- helpers ---------------------------------------------------------------
    def _loop(self) -> IOLoop:
        with self._lock:
            if self._io is None:
                self._io = IOLoop()
                self._io.start()
            return self._io

    def _get_sender(self) -> Sender:
        io = self._loop()
        with self._lock:
            if self._sender is None:
                opts = self._opts
                self._sender = Sender(
                    io,
                    self._endpoints,
                    self._security,
                    self._settings,
                    connect_timeout=opts.connect_timeout,
                    max_inflight=opts.max_inflight,
                    default_retries=opts.send_retries,
                )
            return self._sender

    def _exchange(self, target) -> str:
        exchange = target.exchange or self._default_exchange or ""
        return "%s/%s" % (self._vhost, exchange) if self._vhost else exchange

    def _new_dedup(self) -> Deduplicator:
        return Deduplicator(self._opts.dedup_window, self._opts.dedup_max_entries)

    # -- BaseDriver ------------------------------------------------------------
    def require_features(self, requeue=False):
        if requeue:
            raise NotImplementedError("Message requeueing not supported by the zmq driver")

    def send(
        self,
        target,
        ctxt,
        message,
        wait_for_reply=None,
        timeout=None,
        call_monitor_timeout=None,
        retry=None,
        transport_options=None,
    ):
        header = {
            wire.F_KIND: wire.RPC,
            wire.F_EXCHANGE: self._exchange(target),
            wire.F_TOPIC: target.topic,
        }
        if target.fanout:
            header[wire.F_FANOUT] = 1
        elif target.server:
            header[wire.F_SERVER] = target.server
        if wait_for_reply and getattr(transport_options, "at_least_once", False):
            header[wire.F_MANDATORY] = 1  # fail fast instead of holding
        payload = {wire.B_CONTEXT: ctxt, wire.B_MESSAGE: message}
        if wait_for_reply and call_monitor_timeout:
            payload[wire.B_MONITOR_TIMEOUT] = call_monitor_timeout
        body = jsonutils.dump_as_bytes(payload)
        sender = self._get_sender()
        if not wait_for_reply:
            sender.cast(header, body, retry)
            return None
        reply = sender.call(header, body, timeout, call_monitor_timeout, retry)
        failure = reply.get("failure")
        if failure:
            raise rpc_common.deserialize_remote_exception(failure, self._allowed_remote_exmods)
        return reply.get("result")

    def send_notification(self, target, ctxt, message, version, retry=None):
        if version >= 2.0:
            message = rpc_common.serialize_msg(message)
        header = {
            wire.F_KIND: wire.NOTIFY,
            wire.F_EXCHANGE: self._exchange(target),
            wire.F_TOPIC: target.topic,
        }
        body = jsonutils.dump_as_bytes({wire.B_CONTEXT: ctxt, wire.B_MESSAGE: message})
        self._get_sender().cast(header, body, retry)

    def _listen(self, targets, notifications: bool, batch_size: int = 1) -> ZmqListener:
        listener = ZmqListener(
            self._loop(),
            self._endpoints,
            self._security,
            self._settings,
            targets,
            self._new_dedup(),
            notifications,
            batch_size,
        )
        with self._lock:
            self._listeners.append(listener)
        return listener

    def listen(self, target, batch_size, batch_timeout):
        exchange = self._exchange(target)
        targets = [(wire.RPC, exchange, target.topic, target.server or "")]
        listener = self._listen(targets, notifications=False)
        return base.PollStyleListenerAdapter(listener, batch_size, batch_timeout)

    def listen_for_notifications(self, targets_and_priorities, pool, batch_size, batch_timeout):
        targets = []
        for target, priority in targets_and_priorities:
            topic = "%s.%s" % (target.topic, priority)
            targets.append((wire.NOTIFY, self._exchange(target), topic, pool or ""))
        listener = self._listen(targets, notifications=True, batch_size=batch_size or 1)
        return base.PollStyleListenerAdapter(listener, batch_size, batch_timeout)

    def cleanup(self):
        with self._lock:
            sender, self._sender = self._sender, None
            listeners, self._listeners = self._listeners, []
            io, self._io = self._io, None
        if sender is not None:
            left = sender.flush(self._opts.cleanup_flush_timeout)
            if left:
                LOG.warning("zmq: %d messages still unacknowledged at cleanup", left)
            sender.close()
        for listener in listeners:
            listener.cleanup()
        if io is not None:
            io.stop()
