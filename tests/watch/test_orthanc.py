"""A real PACS at the end of the chain: dcmtk sends a damaged series to ``medinpaint listen``, the
watcher repairs it and forwards it to a real Orthanc, which is down at first and started later; the
watcher is killed mid-forward and restarted, and Orthanc receives each instance once (counted as it
arrives, not as it is kept). Run in a private network namespace (``unshare -n``), all traffic on
127.0.0.1; see orthanc_scenario.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pydicom

from tests.conftest import require_tool
from tests.watch.runner import ROOT
from tests.watch.series import sample_series


def in_private_network(*command: str) -> list[str]:
    """``command`` in a new network namespace with only its loopback interface up."""
    unshare = require_tool("unshare")
    require_tool("ip")
    user = [] if os.geteuid() == 0 else ["--map-root-user"]  # unprivileged: a user namespace too
    script = "ip link set lo up && exec " + " ".join(f"'{c}'" for c in command)
    return [unshare, "--net", *user, "bash", "-c", script]


def test_damaged_series_from_dcmtk_reaches_orthanc_once_repaired_and_derived(tmp_path, fill_model):
    for tool in ("Orthanc", "storescu", "echoscu"):
        require_tool(tool)
    source = sample_series(tmp_path / "src", damaged=2)  # lost rows in the third instance
    sources = {pydicom.dcmread(f).SOPInstanceUID: f for f in source}
    series_uid = pydicom.dcmread(source[0]).SeriesInstanceUID
    work = tmp_path / "work"
    run = subprocess.run(in_private_network(sys.executable,
                                            str(ROOT / "tests" / "watch" / "orthanc_scenario.py"),
                                            str(work), str(tmp_path / "src"), str(fill_model)),
                         cwd=ROOT, capture_output=True, text=True, timeout=170)
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(work.glob("*.log")))
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n{logs}"
    result = json.loads((work / "result.json").read_text())
    assert result["sent"] == 5 and result["watch_exit"] == 0 and result["listen_exit"] == 0, logs

    # Orthanc received every instance once, though the watcher was killed half-way through sending
    assert sorted(result["orthanc_received"].values()) == [1] * 5, result["orthanc_received"]
    # Orthanc holds exactly one series: the derived one, with every instance once
    (series,) = result["orthanc_series"]
    assert result["orthanc_statistics"]["CountInstances"] == 5
    assert series["main"]["SeriesInstanceUID"] != series_uid
    assert series["main"]["SeriesDescription"].endswith("(medinpaint)")
    instances = series["instances"]
    assert len(instances) == 5 and len({i["SOPInstanceUID"] for i in instances}) == 5
    referenced = set()
    for instance in instances:
        assert instance["ImageType"].split("\\")[:2] == ["DERIVED", "SECONDARY"]
        assert instance["SOPInstanceUID"] not in sources
        (reference,) = instance["SourceImageSequence"]
        assert reference["ReferencedSOPClassUID"] == "1.2.840.10008.5.1.4.1.1.2"
        referenced.add(reference["ReferencedSOPInstanceUID"])
    assert referenced == set(sources)  # each derived instance points at its source instance

    # the journal: repaired, one failed forward while Orthanc was down, then forwarded
    ((tag, state, outcome, damaged, attempts),) = result["journal_series"]
    assert (state, outcome) == ("forwarded", "repaired") and damaged > 0 and attempts >= 1
    events = [e[1] for e in result["journal_events"]]
    assert events.count("forward-failed") == attempts and events[-1] == "forwarded"
