"""The DICOM node: dcmtk's echoscu and storescu talk to it; instances land as whole files with hashed
names; unknown calling AE titles and a wrong called AE title are refused."""

from __future__ import annotations

import subprocess

import pydicom
import pytest

from medinpaint.watch import ListenConfig, Listener, Peer, send_series
from medinpaint.watch.forward import ForwardError
from medinpaint.watch.listen import instance_path
from tests.conftest import require_tool
from tests.watch.runner import free_port
from tests.watch.series import SAMPLE_CT_SERIES, TEST_FILES, digest, temp_names


@pytest.fixture
def listener(tmp_path):
    config = ListenConfig(tmp_path / "in", port=free_port(), aet="MEDINPAINT", bind="127.0.0.1",
                          accept=["STORESCU", "TESTSCU"])
    node = Listener(config)
    node.start()
    yield node
    node.stop()


def test_dcmtk_echo_and_store(listener, tmp_path):
    echoscu, storescu = require_tool("echoscu"), require_tool("storescu")
    port = str(listener.config.port)
    subprocess.run([echoscu, "-aet", "STORESCU", "-aec", "MEDINPAINT", "127.0.0.1", port], check=True,
                   timeout=30)
    files = sorted(SAMPLE_CT_SERIES.glob("*.dcm"))
    subprocess.run([storescu, "-aet", "STORESCU", "-aec", "MEDINPAINT", "127.0.0.1", port, *map(str, files)],
                   check=True, timeout=60)
    inbox = listener.config.inbox
    assert temp_names(inbox) == []
    received = sorted(inbox.rglob("*.dcm"))
    assert len(received) == 5 and listener.received == 5
    (folder,) = {p.parent for p in received}  # one folder per series
    for src in files:
        ds = pydicom.dcmread(src)
        dst = instance_path(inbox, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        assert dst.parent == folder and dst.exists()
        assert pydicom.dcmread(dst).PixelData == ds.PixelData
        assert ds.SOPInstanceUID not in str(dst) and ds.SeriesInstanceUID not in str(dst)
    before = digest(inbox)
    subprocess.run([storescu, "-aet", "STORESCU", "-aec", "MEDINPAINT", "127.0.0.1", port, str(files[0])],
                   check=True, timeout=30)
    assert digest(inbox) == before  # the same instance again: the same file, nothing new


def test_refuses_unknown_calling_and_wrong_called_ae_titles(listener):
    series = [TEST_FILES / "CT_small.dcm"]
    port = listener.config.port
    with pytest.raises(ForwardError, match="rejected the association"):
        send_series(series, Peer("MEDINPAINT", "127.0.0.1", port), "STRANGER")
    with pytest.raises(ForwardError, match="rejected the association"):
        send_series(series, Peer("SOMEONE", "127.0.0.1", port), "TESTSCU")
    assert not listener.config.inbox.exists() or not any(listener.config.inbox.rglob("*.dcm"))
    assert send_series(series, Peer("MEDINPAINT", "127.0.0.1", port), "TESTSCU") == 1


def test_forward_to_a_closed_port_is_an_error_naming_the_peer(tmp_path):
    with pytest.raises(ForwardError, match="could not be reached"):
        send_series([TEST_FILES / "CT_small.dcm"], Peer("PACS", "127.0.0.1", free_port()), "MEDINPAINT",
                    timeout=5)
