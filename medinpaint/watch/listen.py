"""``medinpaint listen``: a DICOM node (C-STORE and C-ECHO SCP) that feeds the watched folder.

Each received instance is written as ``<folder>/<name>.dcm.part``, fsynced, and renamed to ``.dcm``,
so the watcher never takes a half-written file. Folder and file names are short hashes of the series
and SOP instance UIDs, never tag values: receiving the same instance twice writes the same file again.

What it lets in: it listens on 127.0.0.1 unless another address is configured; it answers only to its
own (called) AE title, and, with an ``accept`` list (required beyond the loopback address), only to
those calling AE titles; with a certificate and key it speaks TLS only, and with a CA file it asks each
client for a certificate that CA signed. Only the image storage SOP classes are offered unless others
are configured, in every transfer syntax unless fewer are configured. Datasets are streamed to a
temporary file by pynetdicom, never held in memory, and an instance that would leave less than
``min_free_mb`` free in the folder is refused with status A700 (out of resources) before anything is
written. The C-STORE is answered only after the file is safely on disk.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from pathlib import Path

from medinpaint.errors import MedinpaintError
from medinpaint.io.atomic import fsync_dir
from medinpaint.watch.config import ListenConfig
from medinpaint.watch.files import FILE_MODE, make_dirs, short_hash

log = logging.getLogger(__name__)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # PS3.4 B.2.3: refused, out of resources (the disk is full or unwritable)
CANNOT_UNDERSTAND = 0xC000
OUR_PART = re.compile(r"^[0-9a-f]{24}\.dcm\.part$")


def instance_path(inbox: Path, series_uid: str, sop_uid: str) -> Path:
    """Where an instance is stored: one folder per series, one file per SOP instance, hashed names."""
    return inbox / short_hash(series_uid or "no-series") / f"{short_hash(sop_uid, 24)}.dcm"


def storage_classes(chosen: str | list[str]) -> list[str]:
    """The SOP class UIDs offered: the image storage classes, every storage class, or a list."""
    from pydicom.uid import UID
    from pynetdicom import AllStoragePresentationContexts

    if not isinstance(chosen, str):
        return list(chosen)
    every = [str(cx.abstract_syntax) for cx in AllStoragePresentationContexts]
    return every if chosen == "all" else [uid for uid in every if "Image" in UID(uid).name]


def transfer_syntaxes(chosen: str | list[str]) -> list[str]:
    """The transfer syntax UIDs accepted: every one pynetdicom knows, the uncompressed ones, or a list."""
    from pynetdicom import ALL_TRANSFER_SYNTAXES

    if not isinstance(chosen, str):
        return list(chosen)
    if chosen == "all":
        return list(ALL_TRANSFER_SYNTAXES)
    return ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2"]


def free_mb(folder: Path) -> float:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize / 2**20


class Listener:
    """A C-STORE/C-ECHO SCP writing into ``config.inbox``.

    Args:
        config: address, port, AE titles, TLS, SOP classes, the free-space floor and the folder.
    """

    def __init__(self, config: ListenConfig):
        self.config = config
        self.received = 0
        self._server = None

    def _on_store(self, event) -> int:
        from pydicom import dcmread

        try:
            source = Path(event.dataset_path)
            ds = dcmread(source, stop_before_pixels=True)
            series_uid = str(ds.get("SeriesInstanceUID", ""))
            sop_uid = str(event.request.AffectedSOPInstanceUID)
        except Exception as exc:  # noqa: BLE001 - a data set pydicom cannot decode
            log.warning("an instance from %s could not be decoded (%s)", event.assoc.requestor.ae_title,
                        type(exc).__name__)
            return CANNOT_UNDERSTAND
        size_mb = source.stat().st_size / 2**20
        inbox = self.config.inbox
        try:
            left = free_mb(inbox) - size_mb
        except OSError as exc:
            log.error("cannot see the free space of %s (%s)", inbox, exc.strerror)
            return OUT_OF_RESOURCES
        if left < self.config.min_free_mb:
            log.error("refused an instance of series %s: %.0f MB would be left in %s, under the floor "
                      "of %.0f MB", short_hash(series_uid or "no-series"), left, inbox,
                      self.config.min_free_mb)
            return OUT_OF_RESOURCES
        path = instance_path(inbox, series_uid, sop_uid)
        for _ in range(2):  # the watcher may remove an emptied series folder at the same moment
            try:
                make_dirs(path.parent)
                self._write(source, path)
                break
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.error("cannot write a received instance into %s (%s)", inbox, exc.strerror)
                return OUT_OF_RESOURCES
        else:
            return OUT_OF_RESOURCES
        self.received += 1
        log.info("stored an instance of series %s from %s", short_hash(series_uid or "no-series"),
                 event.assoc.requestor.ae_title)
        return SUCCESS

    @staticmethod
    def _write(source: Path, path: Path) -> None:
        """Copy the streamed dataset into place: ``.part``, fsync, rename."""
        temp = path.with_name(path.name + ".part")
        with open(source, "rb") as src, open(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE),
                                             "wb") as dst:
            os.fchmod(dst.fileno(), FILE_MODE)
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(temp, path)
        fsync_dir(path.parent)

    def _on_echo(self, event) -> int:
        log.info("C-ECHO from %s", event.assoc.requestor.ae_title)
        return SUCCESS

    def _ssl_context(self):
        import ssl

        if self.config.tls_cert is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
            if self.config.tls_ca is not None:
                context.load_verify_locations(self.config.tls_ca)
                context.verify_mode = ssl.CERT_REQUIRED
        except (OSError, ssl.SSLError) as exc:
            raise MedinpaintError(self.config.tls_cert, f"cannot be used for TLS ({exc})") from exc
        return context

    def start(self) -> None:
        """Start serving in background threads; returns once the port is bound."""
        from pynetdicom import AE, _config, evt
        from pynetdicom.sop_class import Verification

        _config.STORE_RECV_CHUNKED_DATASET = True  # received datasets go to a file, not to memory
        make_dirs(self.config.inbox)
        for leftover in self.config.inbox.glob("*/*.dcm.part"):
            if OUR_PART.match(leftover.name):  # a write cut short when an earlier run was killed
                leftover.unlink(missing_ok=True)
        ssl_context = self._ssl_context()
        ae = AE(ae_title=self.config.aet)
        ae.maximum_associations = 10
        syntaxes = transfer_syntaxes(self.config.transfer_syntaxes)
        for sop_class in storage_classes(self.config.sop_classes):
            ae.add_supported_context(sop_class, syntaxes)
        ae.add_supported_context(Verification)
        ae.require_called_aet = True
        if self.config.accept:
            ae.require_calling_aet = list(self.config.accept)
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_C_ECHO, self._on_echo)]
        try:
            self._server = ae.start_server((self.config.bind, self.config.port), block=False,
                                           evt_handlers=handlers, ssl_context=ssl_context)
        except OSError as exc:
            raise MedinpaintError(None, f"cannot listen on port {self.config.port}: {exc.strerror}") from exc
        log.info("listening as %s on %s port %d%s, writing into %s", self.config.aet,
                 self.config.bind or "every interface", self.config.port, " (TLS)" if ssl_context else "",
                 self.config.inbox)
        if not self.config.accept:
            log.warning("any calling AE title is accepted (loopback only); set `accept` to restrict it")

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def serve(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set (by SIGTERM or SIGINT in the command)."""
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()
