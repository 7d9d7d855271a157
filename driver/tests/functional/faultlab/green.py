"""Run a lab child under eventlet, as most OpenStack services still run.

    python -m faultlab.green MODULE ARGS...     (MODULE: server_proc or client_proc)

monkey_patch() must come before anything imports threading, socket or time users:
this module patches first, then runs faultlab.MODULE as __main__ with ARGS.  Its
threads are then green threads, the driver's I/O loop waits on eventlet's hub
(greenwait.py) and an RPC server or listener should use the eventlet executor
(server_proc --executor eventlet).
"""

import eventlet

eventlet.monkey_patch()

import runpy  # noqa: E402
import sys  # noqa: E402

CHILDREN = ("server_proc", "client_proc")


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in CHILDREN:
        sys.exit("usage: python -m faultlab.green {%s} ARGS..." % ",".join(CHILDREN))
    module = "faultlab." + sys.argv[1]
    sys.argv = [module, *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
