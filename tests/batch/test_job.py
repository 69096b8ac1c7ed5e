"""``medinpaint batch`` on real Ray: a Ray of its own on this machine, and a real two-node cluster; workers
and the driver killed mid-job; nothing lost, nothing written twice, and no path or tag value in its output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pydicom
import pytest

from tests.batch.conftest import (
    batch_command,
    manifest_rows,
    published,
    run_batch_cli,
    summary,
    wait_for,
)
from tests.batch.tree import BAD, DAMAGED, GOOD
from tests.conftest import require_module

pytestmark = pytest.mark.timeout(240)

BAD_REASONS = {
    "not a DICOM, NIfTI or ITK image",
    "pixel data is truncated",
    "has colour pixels",
    "shares its slice position with another image",
}


@pytest.fixture(scope="module", autouse=True)
def _ray():
    require_module("ray")


def check_results(out: Path, archive: Path) -> dict[str, dict]:
    """Every series done or failed with its reason, one published folder per repaired series, each DICOM
    result a series of its own, nothing left in staging."""
    rows = manifest_rows(out)
    assert len(rows) == GOOD + BAD
    done = {k: r for k, r in rows.items() if r["state"] == "done"}
    failed = {k: r for k, r in rows.items() if r["state"] == "failed"}
    assert len(done) == GOOD and len(failed) == BAD, {k: (r["state"], r["reason"]) for k, r in rows.items()}
    assert all(any(r["reason"].startswith(reason) for reason in BAD_REASONS) for r in failed.values())
    repaired = {k for k, r in done.items() if r["result"] == "repaired"}
    assert len(repaired) == DAMAGED
    assert set(published(out)) == repaired
    assert {r["output"] for k, r in done.items() if k in repaired} == {f"{k[:2]}/{k}" for k in repaired}
    uids = [str(pydicom.dcmread(next((folder / "series").iterdir())).SeriesInstanceUID)
            for folder in published(out).values() if (folder / "series").exists()]
    assert len(uids) == len(set(uids)) == DAMAGED - 1  # one NIfTI result, the rest DICOM series
    assert list((out / ".staging").iterdir()) == []
    return rows


def no_private_text(texts: list[str], archive: Path) -> None:
    """No input path or file or folder name of the archive in what the job prints or reports."""
    names = {str(archive)} | {p.name for p in archive.rglob("*") if len(p.name) >= 5}
    for text in texts:
        leaked = sorted(n for n in names if n in text)
        assert leaked == [], f"leaked {leaked}"


def test_a_job_on_a_ray_of_its_own_repairs_the_archive(namespace, archive, tmp_path):
    out = tmp_path / "out"
    done = run_batch_cli(namespace, str(archive), str(out), "--cpus", "2")
    assert done.returncode == 1, done.stderr  # some series failed: recorded, and said by the status
    check_results(out, archive)
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["repaired"] == DAMAGED and result["failed"] == BAD
    report = out / "report"
    assert {p.name for p in report.iterdir()} == {"summary.json", "series.csv", "index.html", "figures.png",
                                                  "gallery"}
    assert len(list((report / "gallery").glob("*.png"))) == DAMAGED  # the worst repaired slices
    assert summary(out)["damage_kinds"] and len(summary(out)["failures"]) == BAD
    texts = [p.read_text() for p in report.glob("*.*") if p.suffix != ".png"]
    no_private_text([done.stdout, done.stderr, *texts], archive)
    # the job is recorded: a second start must say --resume, and with it finds nothing left to do
    again = run_batch_cli(namespace, str(archive), str(out), "--cpus", "2")
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = run_batch_cli(namespace, str(archive), str(out), "--cpus", "2", "--resume")
    assert resumed.returncode == 1
    assert summary(out)["this_run"]["series"] == 0


def test_a_job_runs_on_a_two_node_cluster(namespace, cluster, archive, tmp_path):
    out = tmp_path / "out"
    done = run_batch_cli(namespace, str(archive), str(out), "--address", cluster, "--workers", "2")
    assert done.returncode == 1, done.stderr
    rows = check_results(out, archive)
    repair_nodes = {r["node"] for r in rows.values() if r["result"] == "repaired"}
    assert len(repair_nodes) == 2  # one repair worker on each node


def test_a_worker_killed_mid_repair_is_retried_without_a_duplicate(namespace, cluster, archive, tmp_path):
    out, marks = tmp_path / "out", tmp_path / "marks"
    marks.mkdir()
    job = subprocess.Popen(namespace.prefix() + batch_command(str(archive), str(out), "--address", cluster),
                           env=namespace.env(MEDINPAINT_BATCH_FAILPOINT=f"repair@{marks}"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid = int(wait_for(marks / "repair.pid"))
    os.kill(pid, signal.SIGKILL)  # the repair worker, with a series in its hands
    stdout, stderr = job.communicate(timeout=180)
    assert job.returncode == 1, stderr
    check_results(out, archive)


def test_a_worker_killed_after_publishing_leaves_one_result(namespace, cluster, archive, tmp_path):
    out, marks = tmp_path / "out", tmp_path / "marks"
    marks.mkdir()
    job = subprocess.Popen(namespace.prefix() + batch_command(str(archive), str(out), "--address", cluster),
                           env=namespace.env(MEDINPAINT_BATCH_FAILPOINT=f"published@{marks}"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid = int(wait_for(marks / "published.pid"))
    first = {k: p.stat().st_ino for k, p in published(out).items()}  # the held one, and any done beside it
    assert len(first) >= 1
    os.kill(pid, signal.SIGKILL)  # the write task, after the rename, before it could report
    stdout, stderr = job.communicate(timeout=180)
    assert job.returncode == 1, stderr
    check_results(out, archive)
    assert {k: published(out)[k].stat().st_ino for k in first} == first  # kept, not written again


def test_a_killed_driver_resumes_with_the_remaining_series_only(namespace, cluster, archive, tmp_path):
    out, marks = tmp_path / "out", tmp_path / "marks"
    marks.mkdir()
    job = subprocess.Popen(namespace.prefix() + batch_command(str(archive), str(out), "--address", cluster),
                           env=namespace.env(MEDINPAINT_BATCH_FAILPOINT=f"driver-6@{marks}"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid = int(wait_for(marks / "driver-6.pid"))
    os.kill(pid, signal.SIGKILL)
    job.communicate(timeout=30)
    before = manifest_rows(out)
    finished = {k for k, r in before.items() if r["state"] in ("done", "failed")}
    assert len(finished) == 6 + 1  # six in this run, and the text file found failed at discovery
    kept = {k: p.stat().st_ino for k, p in published(out).items()}
    done = run_batch_cli(namespace, str(archive), str(out), "--address", cluster, "--resume")
    assert done.returncode == 1, done.stderr
    after = check_results(out, archive)
    assert {k for k, r in after.items() if r["run"] == 2} == set(after) - finished
    assert all(after[k]["run"] == 1 and after[k]["updated"] == before[k]["updated"] for k in finished)
    assert {k: published(out)[k].stat().st_ino for k in kept} == kept
    assert summary(out)["this_run"]["series"] == GOOD + BAD - len(finished)
