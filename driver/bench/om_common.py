"""What the oslo.messaging server and client workers share: names of the
targets and how a transport is built from a URL and an optional config file."""

from __future__ import annotations

import argparse

import oslo_messaging
from oslo_config import cfg

RPC_TOPIC = "bench_rpc"
RPC_SERVER = "bench_server"  # the simulator's default target is topic.server
NOTIFY_TOPIC = "bench_notify"


def add_transport_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="oslo.messaging transport URL")
    parser.add_argument(
        "--config-file",
        action="append",
        default=[],
        help="oslo.config file(s) for driver options (e.g. CURVE keys)",
    )
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument(
        "--eventlet", action="store_true", help="monkey-patch (read by om_green at import)"
    )


def make_conf(config_files: list[str]) -> cfg.ConfigOpts:
    # The global CONF, as services use: oslo.messaging registers some of its
    # option groups (tracing) on cfg.CONF only.
    conf = cfg.CONF
    args: list[str] = []
    for path in config_files:
        args += ["--config-file", path]
    conf(args=args, project="bench", default_config_files=[])
    return conf


def rpc_target(server: bool = True) -> oslo_messaging.Target:
    return oslo_messaging.Target(topic=RPC_TOPIC, server=RPC_SERVER if server else None)
