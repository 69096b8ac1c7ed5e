"""The DICOM node: dcmtk's echoscu and storescu talk to it; instances land as whole files with hashed
names; unknown calling AE titles and a wrong called AE title are refused. It listens on 127.0.0.1 unless
told otherwise (and beyond it only with an accept list), offers the image storage SOP classes only,
streams datasets to disk, refuses an instance below its free-space floor with status A700, and speaks
TLS with client certificates when configured."""

from __future__ import annotations

import subprocess

import pydicom
import pytest

from medinpaint.errors import InputError
from medinpaint.watch import ListenConfig, Listener, Peer, load_listen_config, send_series
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


def test_listens_on_loopback_unless_told_and_beyond_it_only_with_an_accept_list(tmp_path):
    config = load_listen_config(None, inbox=tmp_path / "in")
    assert config.bind == "127.0.0.1" and config.sop_classes == "image" and config.min_free_mb > 0
    node = Listener(ListenConfig(tmp_path / "in", port=free_port()))
    node.start()
    try:
        assert node._server.server_address[0] == "127.0.0.1"
    finally:
        node.stop()
    with pytest.raises(InputError, match="needs an accept list"):
        load_listen_config(None, inbox=tmp_path / "in", bind="0.0.0.0")
    assert load_listen_config(None, inbox=tmp_path / "in", bind="", accept=["CT01"]).bind == ""


def test_only_image_storage_is_offered_and_datasets_are_streamed_to_disk(listener, tmp_path):
    from pynetdicom import _config

    port = listener.config.port
    with pytest.raises(ForwardError):  # a structured report: no presentation context for it
        send_series([TEST_FILES / "test-SR.dcm"], Peer("MEDINPAINT", "127.0.0.1", port), "TESTSCU")
    assert not listener.config.inbox.exists() or not any(listener.config.inbox.rglob("*.dcm"))
    assert _config.STORE_RECV_CHUNKED_DATASET  # pynetdicom writes each dataset to a file, not to memory
    assert send_series([TEST_FILES / "MR_small.dcm"], Peer("MEDINPAINT", "127.0.0.1", port), "TESTSCU") == 1
    (stored,) = listener.config.inbox.rglob("*.dcm")
    assert pydicom.dcmread(stored).PixelData == pydicom.dcmread(TEST_FILES / "MR_small.dcm").PixelData
    assert oct(stored.stat().st_mode & 0o777) == "0o640"


def test_an_instance_that_would_cross_the_free_space_floor_is_refused_with_a700(tmp_path):
    node = Listener(ListenConfig(tmp_path / "in", port=free_port(), min_free_mb=1e12))  # more than any disk
    node.start()
    try:
        with pytest.raises(ForwardError, match="status 0xA700"):
            send_series([TEST_FILES / "CT_small.dcm"], Peer("MEDINPAINT", "127.0.0.1", node.config.port), "X")
    finally:
        node.stop()
    assert not any((tmp_path / "in").rglob("*.dcm*"))


def make_certificates(folder) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA."""
    openssl = require_tool("openssl")
    folder.mkdir()

    def run(*args):
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
        "-subj", "/CN=medinpaint test CA", "-keyout", "ca.key", "-out", "ca.pem")
    for name, extra in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
            f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr")
        (folder / f"{name}.ext").write_text(extra + "\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem")
    return {p.stem if p.suffix == ".pem" else p.stem + "_key": str(p) for p in folder.iterdir()
            if p.suffix in (".pem", ".key")}


def test_tls_with_client_certificates(tmp_path):
    import ssl

    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    certs = make_certificates(tmp_path / "tls")
    node = Listener(ListenConfig(tmp_path / "in", port=free_port(), tls_cert=certs["server"],
                                 tls_key=certs["server_key"], tls_ca=certs["ca"]))
    node.start()

    def echo(context) -> bool:
        ae = AE(ae_title="TLSSCU")
        ae.add_requested_context(Verification)
        ae.acse_timeout = ae.network_timeout = ae.connection_timeout = 5
        assoc = ae.associate("127.0.0.1", node.config.port, ae_title="MEDINPAINT",
                             tls_args=None if context is None else (context, "127.0.0.1"))
        ok = assoc.is_established and assoc.send_c_echo().Status == 0
        if assoc.is_established:
            assoc.release()
        return ok

    try:
        client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=certs["ca"])
        client.load_cert_chain(certs["client"], certs["client_key"])
        assert echo(client)
        anonymous = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=certs["ca"])
        assert not echo(anonymous)  # no client certificate
        assert not echo(None)  # plain TCP
    finally:
        node.stop()


def test_only_the_configured_transfer_syntaxes_are_accepted(tmp_path):
    node = Listener(ListenConfig(tmp_path / "in", port=free_port(), transfer_syntaxes="uncompressed"))
    node.start()
    try:
        peer = Peer("MEDINPAINT", "127.0.0.1", node.config.port)
        with pytest.raises(ForwardError):  # stored as JPEG-LS: the sender would have to decompress it
            send_series([TEST_FILES / "MR_small_jpeg_ls_lossless.dcm"], peer, "X")
        assert send_series([TEST_FILES / "MR_small.dcm"], peer, "X") == 1
    finally:
        node.stop()
    assert len(list((tmp_path / "in").rglob("*.dcm"))) == 1
    with pytest.raises(InputError, match="transfer_syntaxes must be"):
        load_listen_config(None, inbox=tmp_path / "in", transfer_syntaxes="compressed")
