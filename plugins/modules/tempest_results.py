#!/usr/bin/python
# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: tempest_results
short_description: Count a tempest run's results from its subunit stream, with skip reasons
version_added: 0.1.0
description:
  - Reads the subunit v2 stream of a tempest run (C(stestr last --subunit)) and returns how many
    tests passed, failed and were skipped, each failure with the end of its traceback and each
    skip with the reason tempest gave (a class skipped in setUpClass counts once).
  - Runs with a Python that has python-subunit and testtools, such as tempest's own virtualenv.
  - Reading changes nothing, so the module always reports no change.
author:
  - zeromq.openstack maintainers (!UNKNOWN)
options:
  stream:
    description:
      - Path of a subunit stream, version 2 (C(stestr last --subunit)) or version 1 (what
        stestr keeps in its repository). One of O(stream) and O(repository) is required.
    type: path
  repository:
    description:
      - An stestr repository (the C(.stestr) directory of a tempest workspace); its last run is
        read (the stream numbered one below C(next-stream)).
    type: path
  label:
    description: What ran, for the first line of RV(lines) (C(tempest smoke on cloud lab)).
    type: str
    default: tempest
  traceback_lines:
    description: Lines kept from the end of each failure's traceback.
    type: int
    default: 8
attributes:
  check_mode:
    description: Can run in check mode.
    support: full
  diff_mode:
    description: Returns no diff.
    support: none
requirements:
  - python-subunit and testtools (tempest depends on both)
"""

EXAMPLES = r"""
- name: Count the last tempest run
  zeromq.openstack.tempest_results:
    repository: /var/lib/zeromq-tempest/.stestr
  vars:
    ansible_python_interpreter: /opt/zeromq/tempest-venv/bin/python
"""

RETURN = r"""
counts:
  description: Tests per outcome (passed, failed, skipped) and their total.
  returned: success
  type: dict
  sample: {"passed": 80, "failed": 0, "skipped": 12, "total": 92}
failed_tests:
  description: Each failed test with the last lines of its traceback.
  returned: success
  type: list
  elements: dict
skipped_tests:
  description: Each skipped test (or class) with tempest's reason.
  returned: success
  type: list
  elements: dict
stream:
  description: Path of the stream that was read.
  returned: success
  type: str
lines:
  description: >-
    A human-readable report - the counts, then each skip with its reason and each failure by id.
  returned: success
  type: list
  elements: str
seconds:
  description: Wall time from the first test's start to the last test's end.
  returned: success
  type: float
"""

import io  # noqa: E402
import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

try:
    import subunit
    import testtools

    SUBUNIT_IMPORT_ERROR = None
except ImportError:
    SUBUNIT_IMPORT_ERROR = traceback.format_exc()

PASSED = {"success", "xfail"}
FAILED = {"fail", "uxsuccess"}


def _detail(test: dict, name: str) -> str:
    content = test.get("details", {}).get(name)
    return "".join(content.iter_text()) if content is not None else ""


# Every subunit v2 packet starts with this signature byte; v1 is line-oriented text.
V2_SIGNATURE = 0xB3


def read_bytes(data: bytes) -> list[dict]:
    """Every test of a subunit stream (version 1 or 2) as testtools' StreamToDict gives it."""
    tests: list[dict] = []
    stream = io.BytesIO(data)
    result = testtools.StreamToDict(tests.append)
    if data[:1] == bytes([V2_SIGNATURE]):
        case = subunit.ByteStreamToStreamResult(stream, non_subunit_name="stdout")
    else:
        case = subunit.ProtocolTestCase(stream)
        result = testtools.ExtendedToStreamDecorator(result)
    result.startTestRun()
    try:
        case.run(result)
    finally:
        result.stopTestRun()
    return tests


def read(path: str) -> list[dict]:
    with open(path, "rb") as stream:
        return read_bytes(stream.read())


def summarise(tests: list[dict], keep: int) -> dict:
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    failed, skipped, times = [], [], []
    for test in tests:
        status = test.get("status")
        times += [t for t in test.get("timestamps", ()) if t is not None]
        if status in PASSED:
            counts["passed"] += 1
        elif status == "skip":
            counts["skipped"] += 1
            skipped.append({"id": test["id"], "reason": _detail(test, "reason").strip()})
        elif status in FAILED:
            counts["failed"] += 1
            lines = _detail(test, "traceback").strip().splitlines()
            failed.append({"id": test["id"], "traceback": "\n".join(lines[-keep:])})
    counts["total"] = sum(counts.values())
    seconds = (max(times) - min(times)).total_seconds() if times else 0.0
    return {
        "counts": counts,
        "failed_tests": failed,
        "skipped_tests": skipped,
        "seconds": round(seconds, 1),
    }


def report_lines(label: str, summary: dict) -> list[str]:
    counts = summary["counts"]
    lines = [
        f"{label}: {counts['total']} tests in {summary['seconds']:.0f} s: "
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    ]
    if summary["skipped_tests"]:
        lines.append("skipped (the reason tempest gives):")
        lines += [f"  {t['id'].split('[')[0]} - {t['reason']}" for t in summary["skipped_tests"]]
    if summary["failed_tests"]:
        lines.append("failed:")
        lines += [f"  {t['id'].split('[')[0]}" for t in summary["failed_tests"]]
    return lines


def last_stream(repository: str) -> str:
    with open(f"{repository}/next-stream", encoding="ascii") as counter:
        return f"{repository}/{int(counter.read().strip()) - 1}"


def main():
    module = AnsibleModule(
        argument_spec={
            "stream": {"type": "path"},
            "repository": {"type": "path"},
            "label": {"type": "str", "default": "tempest"},
            "traceback_lines": {"type": "int", "default": 8},
        },
        required_one_of=[("stream", "repository")],
        mutually_exclusive=[("stream", "repository")],
        supports_check_mode=True,
    )
    if SUBUNIT_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("python-subunit"), exception=SUBUNIT_IMPORT_ERROR)
    path = module.params["stream"]
    try:
        path = path or last_stream(module.params["repository"])
        tests = read(path)
    except (OSError, ValueError) as exc:
        where = path or module.params["repository"]
        module.fail_json(msg=f"tempest_results: cannot read a run from {where}: {exc}")
    summary = summarise(tests, module.params["traceback_lines"])
    lines = report_lines(module.params["label"], summary)
    module.exit_json(changed=False, stream=path, lines=lines, **summary)


if __name__ == "__main__":
    main()
