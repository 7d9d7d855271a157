"""Fault-injection lab for the zmq driver: real proxies, servers and clients on 127.0.0.1.

relay       TCP relay in front of a proxy (forward / blackhole)
records     append-only per-process record files
child       child-side plumbing: lifetime bounds, logging, ready line
procs       child processes: spawn, ready handshake, process-group kill
reaper      kills the proxies if the lab process dies without cleaning up
server_proc RPC server / notification listener process (records executions)
client_proc client process (records what it sent and what calls returned)
green       runs server_proc or client_proc under eventlet monkey-patching
lab         one set of proxies, relays, servers, listeners and clients
faults      the faults: hung, killed-restarted, blackhole, server-killed, slow-server, burst
scenario    the fault sequence, one window per fault, drain, verdict
invariants  what the record files say, per window
report      table, markdown and JSON
soak        the sequence repeated, summary to a file

Run (from driver/tests/functional, with PYTHONPATH=<driver dir> so that the
driver under test is imported; every child process imports the same copy):

    python -m pytest test_faults.py                       # every fault once, ~2 min
    python -m faultlab.scenario [--faults hung,blackhole] [--workdir D] [--json F]
    python -m faultlab.soak --rounds N [--minutes M] --out SUMMARY.md [--green]
    python -m faultlab.invariants WORKDIR                 # re-read a finished run
"""
