"""RPC server for starved_loop_runs_twice.py: one worker thread; ``busy`` holds
the transport's I/O loop for BLOCK seconds while the worker keeps running, as
an I/O thread starved of the GIL by a process's busy threads."""

from __future__ import annotations

import sys
import threading
import time

import _lab  # noqa: F401 - puts the functional tests' harness on sys.path
import harness
import oslo_messaging


def main() -> None:
    url, record = sys.argv[1], sys.argv[2]
    conf = harness.new_conf()
    transport = oslo_messaging.get_rpc_transport(conf, url=url)

    class Endpoint:
        def record(self, ctxt, value):
            with open(record, "a") as handle:
                handle.write(value + "\n")

        def busy(self, ctxt, block, hold):
            time.sleep(0.3)  # the next cast arrives meanwhile and waits for this worker
            transport._driver._io.call_soon(time.sleep, block)  # the I/O loop stops
            time.sleep(hold)  # then this worker takes the waiting cast

    target = oslo_messaging.Target(topic="compute", server="host-1")
    server = oslo_messaging.get_rpc_server(transport, target, [Endpoint()], executor="threading")
    conf.set_override("executor_thread_pool_size", 1)
    server.start()
    time.sleep(0.5)
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
