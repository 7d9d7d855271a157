"""Test aid: [oslo_messaging_zmq] options from OS_OSLO_MESSAGING_ZMQ__<OPT> variables.

oslo.config reads such variables itself only once a ConfigOpts has been parsed;
oslo.messaging's functional suite builds bare ConfigOpts and validates URL query
keys against another driver's options, so the runner passes the zmq options
(key files, security mode) as environment variables and install() makes them
the group's defaults for every ConfigOpts the driver registers on.
"""

from __future__ import annotations

import os

from oslo_config import cfg

from oslo_messaging_zmq import options


def env_name(opt_name: str) -> str:
    """oslo.config's environment variable name of an option: OS_<GROUP>__<OPT>."""
    return "OS_%s__%s" % (options.GROUP.upper(), opt_name.upper())


def apply_environment(conf: cfg.ConfigOpts) -> None:
    if getattr(conf, "_namespace", None) is not None:
        return  # parsed: oslo.config already honours the variables
    for opt in options.zmq_opts:
        value = os.environ.get(env_name(opt.dest))
        if value is not None:
            conf.set_default(opt.dest, opt.type(value), group=options.GROUP)


def install() -> None:
    """Wrap options.register so the variables apply in this process."""
    original = options.register
    if getattr(original, "_zmq_env", False):
        return

    def register(conf, url=None):
        options.register_group(conf)
        apply_environment(conf)
        return original(conf, url)

    register._zmq_env = True
    options.register = register
