"""Send a finished series to a PACS with C-STORE (pynetdicom as the service class user).

One association per series, one presentation context per SOP class and transfer syntax found in the
files (so a copied compressed original goes out as it is stored). A PACS that accepts only some of those
contexts gets nothing (a series is sent whole or not at all), and any instance it does not store fails
the attempt; the watcher journals it and tries again later, from the first instance not yet
acknowledged, so each instance is sent once (``after_each`` lets the caller journal every
acknowledgement before the next instance goes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from pydicom.uid import UID

from medinpaint.errors import MedinpaintError
from medinpaint.io import read_header
from medinpaint.watch.config import Peer

log = logging.getLogger(__name__)

MAX_CONTEXTS = 128  # an association can propose at most 128 presentation contexts
# C-STORE statuses that mean "stored": success, and the warnings of PS3.4 B.2.3 (coerced, elements
# discarded, data set does not match the SOP class)
STORED = {0x0000, 0xB000, 0xB006, 0xB007}


class ForwardError(MedinpaintError):
    """A series could not be sent: the PACS is unreachable, refused the association or an instance."""


def send_series(files: list[Path], peer: Peer, calling_aet: str,
                after_each: Callable[[int], None] | None = None, timeout: float = 30.0) -> int:
    """C-STORE every file to ``peer``; the number of instances stored, or ForwardError.

    Args:
        files: the DICOM files of one series.
        peer: the PACS (called AE title, host, port).
        calling_aet: our own AE title.
        after_each: called with the count sent so far after each stored instance.
        timeout: seconds to wait for the connection, the association and each response.
    """
    from pynetdicom import AE

    if not files:
        raise ForwardError(None, "no files to send")
    contexts: dict[str, set[str]] = {}
    for path in files:
        ds = read_header(path)
        contexts.setdefault(str(ds.SOPClassUID), set()).add(str(ds.file_meta.TransferSyntaxUID))
    wanted = {(sop_class, syntax) for sop_class, syntaxes in contexts.items() for syntax in syntaxes}
    ae = AE(ae_title=calling_aet)
    ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    for sop_class, syntaxes in sorted(contexts.items()):
        for syntax in sorted(syntaxes):
            ae.add_requested_context(sop_class, [syntax])
    if len(ae.requested_contexts) > MAX_CONTEXTS:
        raise ForwardError(files[0].parent, f"needs {len(ae.requested_contexts)} presentation contexts, "
                           f"more than the {MAX_CONTEXTS} one association allows")
    assoc = ae.associate(peer.host, peer.port, ae_title=peer.aet)
    if not assoc.is_established:
        why = "rejected the association" if assoc.is_rejected else "could not be reached"
        raise ForwardError(None, f"{peer} {why}")
    sent = 0
    try:
        accepted = {(str(cx.abstract_syntax), str(cx.transfer_syntax[0])) for cx in assoc.accepted_contexts}
        refused = sorted(wanted - accepted)
        if refused:
            sop_class, syntax = refused[0]
            raise ForwardError(None, f"{peer} accepts only part of the series: it refused "
                               f"{UID(sop_class).name} in {UID(syntax).name}"
                               + (f" and {len(refused) - 1} more" if len(refused) > 1 else ""))
        for path in files:
            try:
                status = assoc.send_c_store(path)
            except (ValueError, AttributeError, RuntimeError) as exc:  # pynetdicom: no context, aborted
                raise ForwardError(None, f"not stored by {peer}: {exc}") from exc
            code = getattr(status, "Status", None)
            if code not in STORED:
                problem = "no response (timeout or aborted)" if code is None else f"status 0x{code:04X}"
                raise ForwardError(None, f"instance {sent + 1} not stored by {peer}: {problem}")
            sent += 1
            if after_each is not None:
                after_each(sent)
    finally:
        if assoc.is_established:
            assoc.release()
        else:
            assoc.abort()
    return sent
