"""An RPC server in its own process, for tests that kill or freeze it.

peer_server.py URL TOPIC SERVER [--green] [--record PATH] [--delay S] [--workers N]
               [--set GROUP.OPTION=VALUE ...]

--record: every execution of record(value) appends "SERVER VALUE" to PATH with
one os.write on an O_APPEND descriptor, so the record survives SIGKILL.
"""

import sys

if "--green" in sys.argv:
    import eventlet

    eventlet.monkey_patch()

import os  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import harness  # noqa: E402
import oslo_messaging  # noqa: E402


def _flags(name):
    return [sys.argv[i + 1] for i, arg in enumerate(sys.argv[:-1]) if arg == name]


def _flag(name, default=None):
    if name in sys.argv:
        return sys.argv[sys.argv.index(name) + 1]
    return default


class Endpoint:
    def __init__(self, server, record_path, pause):
        self.server = server
        self.pause = pause  # s each record() takes
        self.fd = None
        if record_path:
            self.fd = os.open(record_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def echo(self, ctxt, value):
        return value

    def delay(self, ctxt, seconds):
        time.sleep(seconds)
        return seconds

    def record(self, ctxt, value, pad=None, pause=None):
        os.write(self.fd, ("%s %s\n" % (self.server, value)).encode())
        pause = self.pause if pause is None else pause
        if pause:
            time.sleep(pause)


def main() -> None:
    url, topic, server = sys.argv[1:4]
    conf = harness.new_conf()
    transport = oslo_messaging.get_rpc_transport(conf, url=url)
    target = oslo_messaging.Target(topic=topic, server=server)
    executor = "eventlet" if "--green" in sys.argv else "threading"
    endpoint = Endpoint(server, _flag("--record"), float(_flag("--delay", "0")))
    for setting in _flags("--set"):  # GROUP.OPTION=VALUE, read when the driver connects
        name, value = setting.split("=", 1)
        group, option = name.split(".", 1)
        conf.set_override(option, value, group=group)
    rpc = oslo_messaging.get_rpc_server(transport, target, [endpoint], executor=executor)
    workers = _flag("--workers")
    if workers:  # registered by the server; read when it starts
        conf.set_override("executor_thread_pool_size", int(workers))
    rpc.start()
    time.sleep(0.5)  # registration reaches the proxies within one round trip
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
