"""The whole chain with real parts, run inside a private network namespace (``unshare -n``):

    dcmtk storescu --C-STORE--> medinpaint listen --files--> medinpaint watch --C-STORE--> Orthanc

The PACS (Orthanc) is down when the series is ready, and started once the watcher has journaled a
failed forward; the watcher is then killed (SIGKILL) after the second instance is stored and journaled,
and restarted; the series must arrive, each instance once. Orthanc counts what it receives (a Lua
``ReceivedInstanceFilter`` logs every incoming instance, stored before or not), so a re-sent instance
shows even though Orthanc keeps it once. Everything talks to 127.0.0.1 inside the namespace, so fixed
ports are safe and nothing outside can be reached or disturbed.

Run by tests/watch/test_orthanc.py as
``unshare -n bash -c 'ip link set lo up && python THIS WORK SRC MODEL'``; writes ``WORK/result.json``
(what Orthanc's REST API reports, what it received, the journal, exit statuses) for the test, and the
processes' logs into WORK on failure.
"""

from __future__ import annotations

import collections
import json
import re
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from tests.watch.runner import Process, medinpaint  # noqa: E402

LISTEN_PORT, ORTHANC_DICOM, ORTHANC_HTTP = 11112, 4242, 8042
COUNTER = """
function ReceivedInstanceFilter(dicom, origin, info)
   print('medinpaint-test received ' .. dicom.SOPInstanceUID)
   return true
end
"""
RECEIVED = re.compile(r"medinpaint-test received ([0-9.]+)")
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


def rest(path: str):
    with HTTP.open(f"http://127.0.0.1:{ORTHANC_HTTP}{path}", timeout=10) as response:
        return json.loads(response.read())


def wait(condition, what: str, timeout: float = 90.0, every: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = condition()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out waiting for {what}")


def journal_rows(state: Path, sql: str) -> list[tuple]:
    db = state / "journal.sqlite"
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(sql).fetchall()


def start_orthanc(work: Path) -> subprocess.Popen:
    config = {
        "Name": "medinpaint-test", "DicomAet": "ORTHANC", "DicomPort": ORTHANC_DICOM,
        "HttpPort": ORTHANC_HTTP, "StorageDirectory": str(work / "orthanc" / "storage"),
        "IndexDirectory": str(work / "orthanc" / "index"),
        "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "Plugins": [],
        "DicomCheckCalledAet": True, "DicomAlwaysAllowStore": True,
        "LuaScripts": [str(work / "orthanc" / "count.lua")],
    }
    (work / "orthanc").mkdir(exist_ok=True)
    (work / "orthanc" / "count.lua").write_text(COUNTER)
    (work / "orthanc" / "orthanc.json").write_text(json.dumps(config, indent=2))
    log = open(work / "orthanc.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(["Orthanc", str(work / "orthanc" / "orthanc.json")], stdout=log, stderr=log)
    wait(lambda: rest("/system"), "Orthanc's REST API")
    return proc


def main(work: Path, source: Path, model: str) -> int:
    result: dict = {}
    work.mkdir(parents=True, exist_ok=True)
    state = work / "state"
    (work / "watch.toml").write_text("[forward]\nretry_seconds = 1\nretry_max_seconds = 2\n")
    listen = Process(medinpaint("listen", "--port", str(LISTEN_PORT), "--aet", "MEDINPAINT", "--out",
                                str(work / "in"), "--accept", "STORESCU", "--bind", "127.0.0.1"))
    watch_command = medinpaint("watch", "--in", str(work / "in"), "--out", str(work / "out"), "--state",
                               str(state), "--stable-seconds", "1", "--config", str(work / "watch.toml"),
                               "--model", model, "--forward", f"ORTHANC@127.0.0.1:{ORTHANC_DICOM}")
    watch = Process(watch_command, failpoint="forward:2")
    orthanc = None
    try:
        echo = ["echoscu", "-aet", "STORESCU", "-aec", "MEDINPAINT", "127.0.0.1", str(LISTEN_PORT)]
        wait(lambda: subprocess.run(echo, capture_output=True).returncode == 0, "C-ECHO from the listener")
        files = sorted(str(p) for p in source.glob("*.dcm"))
        subprocess.run(["storescu", "-aet", "STORESCU", "-aec", "MEDINPAINT", "127.0.0.1", str(LISTEN_PORT),
                        *files], check=True, capture_output=True, timeout=60)
        result["sent"] = len(files)
        # the PACS is down: the watcher repairs, writes, fails to forward and journals when to try again
        wait(lambda: journal_rows(state, "SELECT * FROM events WHERE event = 'forward-failed'"),
             "a failed forward in the journal", timeout=120)
        orthanc = start_orthanc(work)
        watch.wait_for("medinpaint failpoint: forward:2", timeout=60)
        watch.kill()  # two instances stored and journaled; the rest must follow once, after a restart
        first_log = watch.log
        watch = Process(watch_command)
        wait(lambda: journal_rows(state, "SELECT * FROM series WHERE state = 'forwarded'"), "the forward", 60)
        time.sleep(3)  # longer than the retry interval: a second copy would have arrived by now
        series = []
        for series_id in rest("/series"):
            info = rest(f"/series/{series_id}")
            instances = [rest(f"/instances/{i}/tags?simplify") for i in info["Instances"]]
            series.append({"main": info["MainDicomTags"], "instances": instances})
        result["orthanc_series"] = series
        result["orthanc_statistics"] = rest("/statistics")
        result["orthanc_received"] = collections.Counter(
            RECEIVED.findall((work / "orthanc.log").read_text()))
        result["journal_series"] = [list(r) for r in journal_rows(
            state, "SELECT tag, state, result, damaged_voxels, forward_attempts FROM series")]
        result["journal_events"] = [list(r) for r in journal_rows(
            state, "SELECT tag, event, detail FROM events")]
    except Exception as exc:  # noqa: BLE001 - reported to the test with the logs
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        result["watch_exit"] = watch.terminate()
        result["listen_exit"] = listen.terminate()
        if orthanc is not None:
            orthanc.terminate()
            orthanc.wait(timeout=30)
        (work / "watch.log").write_text(locals().get("first_log", "") + "\n--- restarted\n" + watch.log)
        (work / "listen.log").write_text(listen.log)
        (work / "result.json").write_text(json.dumps(result, indent=1))
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]))
