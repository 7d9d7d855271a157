#!/usr/bin/env python3
"""Run oslo.messaging's own functional suite against zmq:// with real proxies.

Starts two CURVE proxies (or plain ones with --plain) on 127.0.0.1, exports
RPC_TRANSPORT_URL / NOTIFY_TRANSPORT_URL, runs the suite shipped in the
oslo.messaging wheel with unittest (like stestr, it honours load_tests, so the
testscenarios tests run; the suite monkey-patches eventlet itself),
stops the proxies, prints passed/skipped/failed with the skip reasons and
exits non-zero on any failure or error.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "functional"))
sys.path.insert(0, _HERE)

import harness  # noqa: E402


def _inner(report: str, pattern: str | None) -> int:
    """Child process: run the suite with unittest (honours load_tests/testscenarios)."""
    import json
    import unittest

    import oslo_messaging.tests.functional as functional
    import zmq_env

    zmq_env.install()

    start_dir = os.path.dirname(functional.__file__)
    top = os.path.dirname(os.path.dirname(os.path.dirname(start_dir)))
    suite = unittest.TestLoader().discover(start_dir, pattern="test*.py", top_level_dir=top)

    def _flatten(item):
        if isinstance(item, unittest.TestSuite):
            for sub in item:
                yield from _flatten(sub)
        else:
            yield item

    tests = [t for t in _flatten(suite) if not pattern or pattern in t.id()]
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(unittest.TestSuite(tests))
    out = {
        "run": result.testsRun,
        "skipped": [[t.id(), reason] for t, reason in result.skipped],
        "failed": [t.id() for t, _ in result.failures + result.errors]
        + [t.id() for t in result.unexpectedSuccesses],
    }
    with open(report, "w") as handle:
        json.dump(out, handle)
    return 0 if result.wasSuccessful() else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plain", action="store_true", help="plain proxies instead of CURVE")
    parser.add_argument("--proxies", type=int, default=2, help="number of proxies (default 2)")
    parser.add_argument("-k", dest="pattern", help="only tests whose id contains this")
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner:
        return _inner(args.inner, args.pattern)

    work = tempfile.mkdtemp(prefix="oslo-functional-")
    keys = None if args.plain else harness.make_keys(os.path.join(work, "keys"))
    proxies = [harness.ProxyProcess(keys, work) for _ in range(args.proxies)]
    report = os.path.join(work, "report.json")
    started = time.monotonic()
    try:
        for proxy in proxies:
            proxy.start()
        # The suite validates URL query parameters against the kafka option group,
        # so the options travel as oslo.config environment variables instead.
        url = "zmq://%s/" % ",".join(p.address for p in proxies)
        env = dict(os.environ, RPC_TRANSPORT_URL=url, NOTIFY_TRANSPORT_URL=url)
        env.update(harness.option_env(keys))
        # the metrics test runs "python3 -m oslo_metrics": make that the venv's python
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        print("proxies: %s  (logs in %s)" % (", ".join(p.address for p in proxies), work))
        env.setdefault("OS_TEST_TIMEOUT", "120")
        cmd = [sys.executable, os.path.abspath(__file__), "--inner", report]
        if args.pattern:
            cmd += ["-k", args.pattern]
        result = subprocess.run(cmd, env=env, cwd=work, check=False)
    finally:
        for proxy in proxies:
            proxy.stop()
    elapsed = time.monotonic() - started
    if not os.path.exists(report):
        print("the suite produced no report (exit %d)" % result.returncode)
        return 1
    with open(report) as handle:
        data = json.load(handle)
    skipped = data["skipped"]
    failed = data["failed"]
    counts = {
        "passed": data["run"] - len(skipped) - len(failed),
        "skipped": len(skipped),
        "failed": len(failed),
    }
    print("\n=== oslo.messaging functional suite on zmq:// (%.0f s) ===" % elapsed)
    print("passed=%(passed)d skipped=%(skipped)d failed=%(failed)d" % counts)
    for name, reason in skipped:
        print("  skipped: %s -- %s" % (name, reason))
    for name in failed:
        print("  FAILED: %s" % name)
    return 0 if counts["failed"] == 0 and result.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
