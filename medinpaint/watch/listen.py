"""``medinpaint listen``: a DICOM node (C-STORE and C-ECHO SCP) that feeds the watched folder.

Each received instance is written as ``<folder>/<name>.dcm.part``, fsynced, and renamed to ``.dcm``,
so the watcher never takes a half-written file. Folder and file names are short hashes of the series
and SOP instance UIDs, never tag values: receiving the same instance twice writes the same file again.
Only the called AE title we answer to is accepted, and, when a list is configured, only those calling
AE titles; the C-STORE is answered only after the file is safely on disk.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

from medinpaint.errors import MedinpaintError
from medinpaint.watch.config import ListenConfig
from medinpaint.watch.files import short_hash, write_file_atomic

log = logging.getLogger(__name__)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # PS3.4 B.2.3: refused, out of resources (the disk is full or unwritable)
CANNOT_UNDERSTAND = 0xC000
OUR_PART = re.compile(r"^[0-9a-f]{24}\.dcm\.part$")


def instance_path(inbox: Path, series_uid: str, sop_uid: str) -> Path:
    """Where an instance is stored: one folder per series, one file per SOP instance, hashed names."""
    return inbox / short_hash(series_uid or "no-series") / f"{short_hash(sop_uid, 24)}.dcm"


class Listener:
    """A C-STORE/C-ECHO SCP writing into ``config.inbox``.

    Args:
        config: port, AE title, accepted calling AE titles and the folder to write to.
    """

    def __init__(self, config: ListenConfig):
        self.config = config
        self.received = 0
        self._server = None

    def _on_store(self, event) -> int:
        try:
            ds = event.dataset
            series_uid = str(ds.get("SeriesInstanceUID", ""))
            sop_uid = str(event.request.AffectedSOPInstanceUID)
        except Exception as exc:  # noqa: BLE001 - a data set pynetdicom cannot decode
            log.warning("an instance from %s could not be decoded (%s)", event.assoc.requestor.ae_title, exc)
            return CANNOT_UNDERSTAND
        path = instance_path(self.config.inbox, series_uid, sop_uid)
        data = event.encoded_dataset(include_meta=True)
        for _ in range(2):  # the watcher may remove an emptied series folder at the same moment
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_file_atomic(path, data)
                break
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.error("cannot write a received instance into %s (%s)", self.config.inbox, exc.strerror)
                return OUT_OF_RESOURCES
        else:
            return OUT_OF_RESOURCES
        self.received += 1
        log.info("stored an instance of series %s from %s", short_hash(series_uid or "no-series"),
                 event.assoc.requestor.ae_title)
        return SUCCESS

    def _on_echo(self, event) -> int:
        log.info("C-ECHO from %s", event.assoc.requestor.ae_title)
        return SUCCESS

    def start(self) -> None:
        """Start serving in background threads; returns once the port is bound."""
        from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
        from pynetdicom.sop_class import Verification

        self.config.inbox.mkdir(parents=True, exist_ok=True)
        for leftover in self.config.inbox.glob("*/*.dcm.part"):
            if OUR_PART.match(leftover.name):  # a write cut short when an earlier run was killed
                leftover.unlink(missing_ok=True)
        ae = AE(ae_title=self.config.aet)
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        ae.require_called_aet = True
        if self.config.accept:
            ae.require_calling_aet = list(self.config.accept)
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_C_ECHO, self._on_echo)]
        try:
            self._server = ae.start_server((self.config.bind, self.config.port), block=False,
                                           evt_handlers=handlers)
        except OSError as exc:
            raise MedinpaintError(None, f"cannot listen on port {self.config.port}: {exc.strerror}") from exc
        log.info("listening as %s on port %d, writing into %s", self.config.aet, self.config.port,
                 self.config.inbox)

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
