"""Configuration options of the driver ([oslo_messaging_zmq]) and of the proxy ([zmq_proxy])."""

from __future__ import annotations

import logging

from oslo_config import cfg

LOG = logging.getLogger(__name__)

# Query keys that deployment tools put into every transport URL for RabbitMQ's TLS
# (OpenStack-Ansible renders ?ssl=0, or ?ssl=1&ssl_version=..&ssl_ca_file=..). On zmq:// CURVE
# encrypts and authenticates ([oslo_messaging_zmq] security_mode): they are ignored, not refused.
IGNORED_QUERY_PREFIX = "ssl"

DEFAULT_PROXY_PORT = 9501
DEFAULT_HEALTH_PORT = 9502

GROUP = "oslo_messaging_zmq"
PROXY_GROUP = "zmq_proxy"

SECURITY_MODES = ("curve", "plain")
PROXY_CORES = ("auto", "native", "python")

zmq_opts = [
    cfg.StrOpt(
        "security_mode",
        default="curve",
        choices=SECURITY_MODES,
        help="curve: authenticate and encrypt every connection to the proxies with CURVE "
        "(default). plain: no authentication, no encryption; only for labs.",
    ),
    cfg.StrOpt(
        "client_secret_key_file",
        help="Key file (written by oslo-messaging-zmq-keygen, NAME.key_secret) holding this "
        "service's CURVE public and secret key. Required when security_mode=curve.",
    ),
    cfg.StrOpt(
        "server_public_key_file",
        help="Key file (NAME.key) holding the proxies' CURVE public key. Required when "
        "security_mode=curve.",
    ),
    cfg.PortOpt(
        "default_proxy_port",
        default=DEFAULT_PROXY_PORT,
        help="Proxy port used for transport URL hosts that do not give one.",
    ),
    cfg.FloatOpt(
        "heartbeat_interval",
        default=1.0,
        min=0.05,
        help="Seconds between liveness pings (clients) and target registrations (servers) "
        "sent to every proxy.",
    ),
    cfg.FloatOpt(
        "proxy_timeout",
        default=3.0,
        min=0.1,
        help="A proxy that has not answered for this many seconds is considered down.",
    ),
    cfg.FloatOpt(
        "ack_timeout",
        default=3.0,
        min=0.05,
        help="Seconds to wait for a delivery acknowledgement before a message is re-sent "
        "through the next live proxy (receivers de-duplicate by message id).",
    ),
    cfg.FloatOpt(
        "connect_timeout",
        default=10.0,
        min=0.1,
        help="Seconds a sender waits for at least one live proxy before a send attempt fails.",
    ),
    cfg.IntOpt(
        "max_inflight",
        default=64,
        min=1,
        help="Maximum number of casts/notifications per transport that are sent but not yet "
        "acknowledged; senders block beyond it (back-pressure). It bounds how long a message "
        "can queue at a busy server: 64 keeps the one-way p99 latency of a saturated server "
        "below RabbitMQ's at the same cast throughput as 128 (driver/bench). A batching "
        "notification listener acknowledges a batch after processing it and reports its "
        "batch_size to its senders, which then let that many more be in flight (up to 1024 "
        "in all), so that batches fill without waiting for batch_timeout.",
    ),
    cfg.BoolOpt(
        "confirm_casts",
        default=False,
        help="An RPC server runs a cast only once the proxy that relayed its worker's "
        "'taken' confirmed it. Closes the window in which a server process frozen right "
        "after taking a cast (SIGSTOP, a paused VM) runs a cast that its sender also gives "
        "to another server; costs each cast one proxy round trip before it runs (well under "
        "a millisecond below saturation; at saturation the verdict queues behind the casts "
        "already sent, one-way cast p99 about 1.9x, driver/bench/results/confirm-cost-*). "
        "Off by default for that cost (driver/README.md, Delivery guarantees). Proxies "
        "without confirmations are used as before.",
    ),
    cfg.IntOpt(
        "send_retries",
        default=-1,
        help="Re-sends of an unacknowledged cast/notification when the caller gave no retry "
        "value (-1: until delivered).",
    ),
    cfg.FloatOpt(
        "cleanup_flush_timeout",
        default=5.0,
        min=0,
        help="On transport cleanup, wait up to this many seconds for unacknowledged messages.",
    ),
    cfg.IntOpt(
        "dedup_window",
        default=300,
        min=1,
        help="Seconds a receiver remembers message ids to drop duplicates.",
    ),
    cfg.IntOpt(
        "dedup_max_entries",
        default=200000,
        min=100,
        help="Upper bound of remembered message ids per listener.",
    ),
    cfg.IntOpt(
        "socket_hwm",
        default=10000,
        min=10,
        help="ZeroMQ high water mark (messages) of every driver socket.",
    ),
    cfg.IntOpt(
        "max_message_size",
        default=64 * 1024 * 1024,
        min=1024,
        help="Largest accepted message in bytes (ZMQ_MAXMSGSIZE).",
    ),
]

proxy_opts = [
    cfg.HostAddressOpt(
        "bind_address", default="0.0.0.0", help="Address the proxy ROUTER socket binds to."
    ),
    cfg.PortOpt("port", default=DEFAULT_PROXY_PORT, help="Port of the proxy ROUTER socket."),
    cfg.HostAddressOpt(
        "health_address", default="127.0.0.1", help="Address of the HTTP health/metrics endpoint."
    ),
    cfg.PortOpt(
        "health_port",
        default=DEFAULT_HEALTH_PORT,
        help="Port of the HTTP health/metrics endpoint (0 disables it).",
    ),
    cfg.StrOpt(
        "security_mode",
        default="curve",
        choices=SECURITY_MODES,
        help="curve (default): CURVE server; only clients whose public key is in "
        "allowed_clients get through. plain: accept anyone (labs only).",
    ),
    cfg.StrOpt(
        "server_secret_key_file",
        help="Key file (NAME.key_secret) with the proxy's CURVE key pair.",
    ),
    cfg.StrOpt(
        "allowed_clients",
        help="Directory of client public key files (*.key), or one file with one Z85 public "
        "key per line. Re-read on SIGHUP and when its modification time changes.",
    ),
    cfg.FloatOpt(
        "hold_ttl",
        default=60.0,
        min=0,
        help="Seconds a message for a target without listener is held before being dropped.",
    ),
    cfg.IntOpt(
        "hold_max_messages",
        default=10000,
        min=0,
        help="Maximum number of held messages (all targets); beyond it new ones are dropped.",
    ),
    cfg.IntOpt(
        "hold_max_bytes",
        default=64 * 1024 * 1024,
        min=0,
        help="Maximum bytes of held messages (all targets).",
    ),
    cfg.FloatOpt(
        "peer_timeout",
        default=5.0,
        min=0.1,
        help="A registered listener silent for this many seconds is forgotten. The proxy's "
        "ZMTP heartbeat follows it: a ping on every connection each peer_timeout/2, and a "
        "connection silent for peer_timeout after a ping is closed (its routing id is free "
        "again).",
    ),
    cfg.IntOpt("socket_hwm", default=50000, min=10, help="High water mark of the ROUTER socket."),
    cfg.IntOpt(
        "io_threads",
        default=1,
        min=1,
        max=64,
        help="libzmq I/O threads of the proxy: they read, write and (CURVE) encrypt the peers' "
        "connections, spread over the threads; the routing itself is one Python thread.",
    ),
    cfg.StrOpt(
        "core",
        default="auto",
        choices=PROXY_CORES,
        help="Who handles the common messages (casts and calls to one listener, their ACKs "
        "and replies, the pings and the REGISTERs that change nothing): native, the compiled "
        "core (oslo_messaging_zmq._core, built when the package is installed where a C "
        "compiler and Python's headers are); python, the "
        "interpreter; auto, native when it is there. Same routing either way; every other "
        "message is Python's in both. The proxy logs which one runs.",
    ),
    cfg.IntOpt(
        "max_message_size",
        default=64 * 1024 * 1024,
        min=1024,
        help="Largest accepted message in bytes; larger peers are disconnected.",
    ),
    cfg.IntOpt(
        "max_tracked_targets",
        default=10000,
        min=10,
        help="Upper bound of per-target entries (labels) in /metrics and /stats.",
    ),
]


def register_group(conf: cfg.ConfigOpts) -> None:
    conf.register_group(cfg.OptGroup(name=GROUP, title="ZeroMQ driver options"))
    conf.register_opts(zmq_opts, group=GROUP)


def register(conf: cfg.ConfigOpts, url=None):
    """Register the driver options; return a view where URL query parameters override."""
    register_group(conf)
    if url is None:
        return conf
    from oslo_messaging._drivers import common  # not needed (nor imported) by the proxy

    ignored = sorted(
        key for key in url.query if key.startswith(IGNORED_QUERY_PREFIX) and key not in conf[GROUP]
    )
    if ignored:
        LOG.warning(
            "zmq: transport_url query %s ignored: TLS settings do not apply to zmq://, "
            "CURVE encrypts ([oslo_messaging_zmq] security_mode)",
            ", ".join(ignored),
        )
        url = type(url)(
            url.conf,
            url.transport,
            url.virtual_host,
            url.hosts,
            {k: v for k, v in url.query.items() if k not in ignored},
        )
    return common.ConfigOptsProxy(conf, url, GROUP)


def register_proxy(conf: cfg.ConfigOpts) -> None:
    conf.register_group(cfg.OptGroup(name=PROXY_GROUP, title="ZeroMQ proxy options"))
    conf.register_opts(proxy_opts, group=PROXY_GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator --namespace oslo.messaging.zmq."""
    return [(GROUP, list(zmq_opts))]


def list_proxy_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator --namespace oslo.messaging.zmq.proxy."""
    return [(PROXY_GROUP, list(proxy_opts))]
