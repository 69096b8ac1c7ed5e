"""The PACS-style service: watch a folder, repair each complete series, write it, forward it to a PACS.

``Watcher`` runs ``medinpaint watch``; ``Listener`` runs ``medinpaint listen`` (a C-STORE SCP that fills
the watched folder); ``Journal`` is the SQLite record of every series' state; ``send_series`` is the
C-STORE client used for forwarding.
"""

from medinpaint.watch.config import ListenConfig, Peer, WatchConfig, load_listen_config, load_watch_config
from medinpaint.watch.forward import ForwardError, send_series
from medinpaint.watch.journal import STATES, Journal
from medinpaint.watch.listen import Listener
from medinpaint.watch.service import JOURNAL_NAME, Watcher, retry_failed

__all__ = [
    "WatchConfig", "ListenConfig", "Peer", "load_watch_config", "load_listen_config", "Watcher", "Listener",
    "Journal", "STATES", "JOURNAL_NAME", "send_series", "ForwardError", "retry_failed",
]
