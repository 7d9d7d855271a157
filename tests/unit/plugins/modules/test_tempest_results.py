# Copyright: contributors to the zeromq.openstack collection
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""tempest_results on subunit streams of both versions: stestr's repository keeps version 1,
``stestr last --subunit`` writes version 2. Against a real tempest run it reads the aio lab's."""

from __future__ import annotations

import io

import subunit
from ansible_collections.zeromq.openstack.plugins.modules import tempest_results

V1 = b"""time: 2026-12-02 02:27:58.000000Z
test: tempest.api.compute.flavors.test_flavors.FlavorsV2TestJSON.test_list[smoke]
time: 2026-12-02 02:28:00.000000Z
success: tempest.api.compute.flavors.test_flavors.FlavorsV2TestJSON.test_list[smoke]
test: setUpClass (tempest.api.network.test_routers.RoutersTest)
skip: setUpClass (tempest.api.network.test_routers.RoutersTest) [
router extension not enabled.
]
test: tempest.api.volume.test_volumes_get.VolumesGetTest.test_volume_from_image[smoke]
time: 2026-12-02 02:28:10.000000Z
failure: tempest.api.volume.test_volumes_get.VolumesGetTest.test_volume_from_image[smoke] [
Traceback (most recent call last):
  File "x.py", line 1, in test
tempest.exceptions.VolumeResourceBuildErrorException: volume v failed to build
]
"""


def v2_stream() -> bytes:
    out = io.BytesIO()
    result = subunit.StreamResultToBytes(out)
    result.status(test_id="t.ok", test_status="inprogress")
    result.status(test_id="t.ok", test_status="success")
    result.status(test_id="t.skipped", test_status="inprogress")
    result.status(
        test_id="t.skipped",
        test_status="skip",
        file_name="reason",
        file_bytes=b"Horizon support is required",
        mime_type="text/plain; charset=utf8",
    )
    return out.getvalue()


def test_stestr_repository_stream_version_1(tmp_path):
    (tmp_path / "0").write_bytes(V1)
    (tmp_path / "next-stream").write_text("1\n")
    path = tempest_results.last_stream(str(tmp_path))
    assert path == f"{tmp_path}/0"
    summary = tempest_results.summarise(tempest_results.read(path), keep=1)
    assert summary["counts"] == {"passed": 1, "failed": 1, "skipped": 1, "total": 3}
    assert summary["skipped_tests"] == [
        {
            "id": "setUpClass (tempest.api.network.test_routers.RoutersTest)",
            "reason": "router extension not enabled.",
        }
    ]
    failed = summary["failed_tests"][0]
    assert failed["id"].startswith("tempest.api.volume.test_volumes_get")
    assert failed["traceback"] == (
        "tempest.exceptions.VolumeResourceBuildErrorException: volume v failed to build"
    )
    assert summary["seconds"] == 12.0


def test_stream_version_2(tmp_path):
    (tmp_path / "run.subunit").write_bytes(v2_stream())
    summary = tempest_results.summarise(tempest_results.read(str(tmp_path / "run.subunit")), 8)
    assert summary["counts"] == {"passed": 1, "failed": 0, "skipped": 1, "total": 2}
    assert summary["skipped_tests"][0]["reason"] == "Horizon support is required"


def test_report_lines_list_skips_with_reasons_and_failures():
    summary = tempest_results.summarise(tempest_results.read_bytes(V1), 8)
    lines = tempest_results.report_lines("tempest smoke on cloud lab", summary)
    assert lines[0] == (
        "tempest smoke on cloud lab: 3 tests in 12 s: 1 passed, 1 failed, 1 skipped"
    )
    assert (
        "  setUpClass (tempest.api.network.test_routers.RoutersTest) - router extension"
        in (lines[2])
    )
    assert (
        lines[-1] == "  tempest.api.volume.test_volumes_get.VolumesGetTest.test_volume_from_image"
    )


def test_an_empty_repository_fails_clearly(run_module, tmp_path):
    result = run_module(tempest_results, {"repository": str(tmp_path)})
    assert result["failed"]
    assert "cannot read a run from" in result["msg"]
