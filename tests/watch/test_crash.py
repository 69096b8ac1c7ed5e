"""Crash safety with real processes: the watcher is killed with SIGKILL at each step of a series
(mid-read, mid-repair, mid-write, mid-rename, mid-forward, mid-move) and at random moments, and
restarted each time. Afterwards: exactly one complete derived series per input series in OUT, nothing
under a temporary name, the inputs intact, and the PACS (a ``medinpaint listen`` node) holding each
derived instance once."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pydicom
import pytest

from medinpaint.watch.files import short_hash
from tests.watch.runner import Process, free_port, medinpaint, watch_args
from tests.watch.series import MR_SLICE, built_series, digest, out_series, sample_series, temp_names

FAILPOINTS = ["read", "repaired", "staged", "published", "forward:2", "moved:1"]


@pytest.fixture
def setup(tmp_path):
    """Two damaged series in IN, and a PACS listening."""
    ct = sample_series(tmp_path / "in" / "ct", damaged=1)
    mr = built_series(tmp_path / "in" / "mr", 4, MR_SLICE, damaged=[2], rows=slice(20, 28))
    expected = {short_hash(pydicom.dcmread(files[0]).SeriesInstanceUID): len(files) for files in (ct, mr)}
    port = free_port()
    pacs = Process(medinpaint("listen", "--port", str(port), "--aet", "PACS", "--out", str(tmp_path / "pacs"),
                              "--bind", "127.0.0.1"))
    pacs.wait_for("listening as PACS")
    # each kill below cuts a build short; the poison-pill budget is tested on its own (test_poison.py)
    (tmp_path / "watch.toml").write_text("[watch]\nmax_attempts = 20\n"
                                         "[forward]\nretry_seconds = 0.5\nretry_max_seconds = 1\n")
    args = ["--forward", f"PACS@127.0.0.1:{port}", "--done", str(tmp_path / "done"),
            "--config", str(tmp_path / "watch.toml")]
    yield tmp_path, expected, digest(tmp_path / "in"), args
    pacs.terminate()


def check_out_is_whole(out: Path, expected: dict[str, int]) -> None:
    """What a reader of OUT may see at any moment: complete series only, no temporary names."""
    if not out.exists():
        return
    assert temp_names(out) == []
    for tag, instances in out_series(out).items():
        assert len(instances) == expected[tag], f"series {tag} is incomplete in OUT"


def check_final(tmp: Path, expected: dict[str, int], inputs: dict[str, str]) -> None:
    results = out_series(tmp / "out")
    assert {tag: len(v) for tag, v in results.items()} == expected  # one result per input series
    for instances in results.values():
        assert len({ds.SeriesInstanceUID for ds in instances}) == 1
        assert all(list(ds.ImageType)[0] == "DERIVED" for ds in instances)
    assert temp_names(tmp / "out") == [] and list((tmp / "state" / "staging").iterdir()) == []
    moved = {str(Path(*Path(k).parts[1:])): v for k, v in digest(tmp / "done").items()}
    assert moved == inputs and not any((tmp / "in").rglob("*.dcm"))  # every input intact, moved once
    sent = {pydicom.dcmread(f).SOPInstanceUID for f in (tmp / "pacs").rglob("*.dcm")}
    derived = {ds.SOPInstanceUID for v in results.values() for ds in v}
    assert sent == derived and len(list((tmp / "pacs").rglob("*.dcm"))) == sum(expected.values())


def test_sigkill_at_every_step_then_restart(setup):
    tmp, expected, inputs, args = setup
    previous = None
    for point in FAILPOINTS:
        watcher = Process(watch_args(tmp, *args), failpoint=point)
        watcher.wait_for(f"medinpaint failpoint: {point}", timeout=90)
        if previous == "staged":  # the result left complete in staging was thrown away, then redone
            assert "removed 1 unfinished results of an earlier run" in watcher.log
        watcher.kill()
        check_out_is_whole(tmp / "out", expected)
        previous = point
    final = Process(watch_args(tmp, "--once", *args))
    assert final.finish() == 0, final.log
    check_final(tmp, expected, inputs)


def test_sigkill_at_random_moments_then_restart(setup):
    tmp, expected, inputs, args = setup
    rng = random.Random(6)
    for _ in range(3):
        watcher = Process(watch_args(tmp, *args))
        time.sleep(rng.uniform(1.0, 5.0))
        watcher.kill()
        check_out_is_whole(tmp / "out", expected)
    final = Process(watch_args(tmp, "--once", *args))
    assert final.finish() == 0, final.log
    check_final(tmp, expected, inputs)
