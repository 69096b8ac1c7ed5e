"""What the watcher and the DICOM listener are told: folders, timings, policies, DICOM peers.

Settings come from a TOML file (``[watch]``, ``[forward]`` and ``[listen]`` tables; see
``docs/service/watch.toml`` for every key) and from command-line flags, which win. Every value is checked
here, once, so the service never starts with a setting it would trip over hours later.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from medinpaint.errors import InputError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

NON_IMAGE_POLICIES = ("pass", "skip")
UNDAMAGED_POLICIES = ("copy", "derived", "skip")
LATE_POLICIES = ("redo", "hold")
SOP_CLASS_SETS = ("image", "all")
SYNTAX_SETS = ("all", "uncompressed")
UID_TEXT = re.compile(r"^[0-9]+(\.[0-9]+)*$")
LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|::1|localhost)$")
# 16 characters of the default repertoire, no backslash
AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")


def check_ae_title(title: str, what: str = "AE title") -> str:
    """An application entity title as DICOM allows it (PS3.5 table 6.2-1), or ValueError."""
    if not AE_TITLE.match(title) or not title.strip():
        raise ValueError(f"{what} {title!r} must be 1 to 16 printable characters without a backslash")
    return title


@dataclass(frozen=True)
class Peer:
    """A DICOM node to send to: its AE title, host and port."""

    aet: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Peer:
        """``AET@HOST:PORT``, e.g. ``ORTHANC@10.0.0.5:4242``."""
        match = re.match(r"^([^@]+)@(.+):(\d+)$", text.strip())
        if not match:
            raise ValueError(f"{text!r} is not AET@HOST:PORT")
        aet, host, port = match.group(1), match.group(2).strip("[]"), int(match.group(3))
        if not 0 < port < 65536:
            raise ValueError(f"port {port} of {text!r} is out of range")
        return cls(check_ae_title(aet, "the called AE title"), host, port)

    def __str__(self) -> str:
        return f"{self.aet}@{self.host}:{self.port}"


def default_state(inbox: Path, out: Path) -> Path:
    """A state folder of its own for each IN/OUT pair, under $XDG_STATE_HOME (or ~/.local/state)."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    pair = hashlib.sha256(f"{inbox.resolve()}\n{out.resolve()}".encode()).hexdigest()[:12]
    return base / "medinpaint" / pair


@dataclass
class WatchConfig:
    """Settings of ``medinpaint watch``.

    Args:
        inbox: the folder to watch (recursively); it is only read, never written.
        out: where each result appears as one folder per series, renamed into place when complete.
        state: the journal (``journal.sqlite``), the staging folder and, by default, the quarantine.
        stable_seconds: a series is complete once none of its files has arrived or changed for this long.
        polling: poll the file system instead of inotify (network shares: NFS, SMB do not send events).
        poll_seconds: how often to poll in polling mode.
        rescan_seconds: with inotify, a full rescan this often catches events the kernel dropped.
        quarantine: unreadable files go here, each with a ``.reason.txt`` beside it.
        done: after success the inputs are moved here; ``None`` leaves them where they are.
        staging: where results are written before the rename into ``out``; must be on ``out``'s file
            system. ``None``: ``state/staging`` when that is on the same file system, else
            ``out/.medinpaint-staging``.
        non_image: SR, presentation states and other non-image objects: ``pass`` (copied to ``out``
            and forwarded unchanged) or ``skip`` (journaled only).
        undamaged: a series in which no damage is found: ``copy`` (passed on unchanged), ``derived``
            (written as a derived copy) or ``skip`` (reported only).
        denoise, model, device: passed to the repair engine.
        forward: a PACS that receives every result (C-STORE), or ``None``.
        calling_aet: our AE title when forwarding.
        retry_seconds: first wait after a failed forward; doubled on each failure up to
            ``retry_max_seconds``.
        late: a series that gains or changes instances after it was taken: ``redo`` (built again as
            a new version of the derived series, forwarded as such) or ``hold`` (state ``held`` until
            a person runs ``--retry-failed``). Either way it is listed in ``--status``.
        max_attempts: builds of one series that may be cut short (the process killed: a decoder
            crash, the OOM killer) before the series is ``failed`` and the queue goes on without it.
        retention_days: journal events older than this are pruned.
    """

    inbox: Path
    out: Path
    state: Path | None = None
    stable_seconds: float = 60.0
    polling: bool = False
    poll_seconds: float = 5.0
    rescan_seconds: float = 300.0
    quarantine: Path | None = None
    done: Path | None = None
    staging: Path | None = None
    non_image: str = "pass"
    undamaged: str = "copy"
    denoise: bool = False
    model: Path | None = None
    device: str = "auto"
    forward: Peer | None = None
    calling_aet: str = "MEDINPAINT"
    retry_seconds: float = 10.0
    retry_max_seconds: float = 600.0
    late: str = "redo"
    max_attempts: int = 3
    retention_days: float = 90.0

    def __post_init__(self) -> None:
        for name in ("inbox", "out", "state", "quarantine", "done", "staging", "model"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value).expanduser().absolute())
        if isinstance(self.forward, str):
            self.forward = Peer.parse(self.forward)
        if self.state is None:
            self.state = default_state(self.inbox, self.out)
        if self.quarantine is None:
            self.quarantine = self.state / "quarantine"
        for name in ("stable_seconds", "poll_seconds", "rescan_seconds", "retry_seconds",
                     "retry_max_seconds", "retention_days"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
            setattr(self, name, float(getattr(self, name)))
        if self.non_image not in NON_IMAGE_POLICIES:
            raise ValueError(f"non_image must be one of {NON_IMAGE_POLICIES}, got {self.non_image!r}")
        if self.undamaged not in UNDAMAGED_POLICIES:
            raise ValueError(f"undamaged must be one of {UNDAMAGED_POLICIES}, got {self.undamaged!r}")
        if self.late not in LATE_POLICIES:
            raise ValueError(f"late must be one of {LATE_POLICIES}, got {self.late!r}")
        if isinstance(self.max_attempts, bool) or int(self.max_attempts) != self.max_attempts or \
                self.max_attempts < 1:
            raise ValueError(f"max_attempts must be a whole number of at least 1, got {self.max_attempts}")
        self.max_attempts = int(self.max_attempts)
        check_ae_title(self.calling_aet, "calling_aet")
        inbox = self.inbox.resolve()
        for name in ("out", "state", "quarantine", "done", "staging"):
            other = getattr(self, name)
            if other is None:
                continue
            other = other.resolve()
            if other == inbox or inbox in other.parents:
                raise ValueError(f"{name} ({other}) must not be inside the watched folder {inbox}")
            if name != "out" and other in inbox.parents:
                raise ValueError(f"the watched folder {inbox} must not be inside {name} ({other})")
        if self.out.resolve() in inbox.parents:
            raise ValueError(f"the watched folder {inbox} must not be inside out ({self.out})")


@dataclass
class ListenConfig:
    """Settings of ``medinpaint listen``.

    Args:
        inbox: the folder received instances are written to (the watcher's ``inbox``).
        port: TCP port to listen on.
        aet: our AE title; associations calling another title are rejected.
        bind: address to listen on: ``127.0.0.1`` (this machine only) unless another is configured;
            ``""`` is every interface.
        accept: calling AE titles allowed to send. Empty allows any, which is refused unless the
            node listens on the loopback address only.
        tls_cert, tls_key: our certificate and private key (PEM): with them, associations are TLS.
        tls_ca: certificates (PEM) of the authorities whose clients may connect: with it, a client
            must present a certificate they signed (mutual TLS).
        sop_classes: what may be stored: ``image`` (the image storage SOP classes), ``all``, or a
            list of SOP class UIDs.
        transfer_syntaxes: how it may be encoded: ``all`` (every syntax pynetdicom knows),
            ``uncompressed`` (the little/big endian and deflated syntaxes, which need no codec), or a
            list of transfer syntax UIDs. A sender that proposes others must send uncompressed.
        min_free_mb: an instance that would leave less free space than this in the folder is
            refused with status A700 (out of resources), before anything is written.
    """

    inbox: Path
    port: int = 11112
    aet: str = "MEDINPAINT"
    bind: str = "127.0.0.1"
    accept: list[str] = field(default_factory=list)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    sop_classes: str | list[str] = "image"
    transfer_syntaxes: str | list[str] = "all"
    min_free_mb: float = 1024.0

    def __post_init__(self) -> None:
        self.inbox = Path(self.inbox).expanduser().absolute()
        self.port = int(self.port)
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be 1..65535, got {self.port}")
        check_ae_title(self.aet)
        self.accept = [check_ae_title(a, "accepted calling AE title") for a in self.accept]
        if not self.accept and not LOOPBACK.match(self.bind):
            raise ValueError(f"listening on {self.bind or 'every interface'} needs an accept list of calling "
                             "AE titles (any caller is allowed only on the loopback address)")
        for name in ("tls_cert", "tls_key", "tls_ca"):
            if getattr(self, name) is not None:
                setattr(self, name, Path(getattr(self, name)).expanduser().absolute())
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.tls_ca is not None and self.tls_cert is None:
            raise ValueError("tls_ca needs tls_cert and tls_key")
        if isinstance(self.sop_classes, str):
            if self.sop_classes not in SOP_CLASS_SETS:
                raise ValueError(f"sop_classes must be one of {SOP_CLASS_SETS} or a list of UIDs, "
                                 f"got {self.sop_classes!r}")
        else:
            self.sop_classes = [str(u) for u in self.sop_classes]
            bad = [u for u in self.sop_classes if not UID_TEXT.match(u)]
            if bad or not self.sop_classes:
                raise ValueError(f"sop_classes must be a non-empty list of SOP class UIDs, got {bad}")
        if isinstance(self.transfer_syntaxes, str):
            if self.transfer_syntaxes not in SYNTAX_SETS:
                raise ValueError(f"transfer_syntaxes must be one of {SYNTAX_SETS} or a list of UIDs, "
                                 f"got {self.transfer_syntaxes!r}")
        else:
            self.transfer_syntaxes = [str(u) for u in self.transfer_syntaxes]
            bad = [u for u in self.transfer_syntaxes if not UID_TEXT.match(u)]
            if bad or not self.transfer_syntaxes:
                raise ValueError(f"transfer_syntaxes must be a non-empty list of UIDs, got {bad}")
        if not float(self.min_free_mb) >= 0:
            raise ValueError(f"min_free_mb must be 0 or more, got {self.min_free_mb}")
        self.min_free_mb = float(self.min_free_mb)


# TOML key -> field name, per table
WATCH_KEYS = {
    "in": "inbox", "out": "out", "state": "state", "stable_seconds": "stable_seconds", "polling": "polling",
    "poll_seconds": "poll_seconds", "rescan_seconds": "rescan_seconds", "quarantine": "quarantine",
    "done": "done", "staging": "staging", "non_image": "non_image", "undamaged": "undamaged",
    "denoise": "denoise", "model": "model", "device": "device", "late": "late",
    "max_attempts": "max_attempts", "retention_days": "retention_days",
}
FORWARD_KEYS = {"to": "forward", "aet": "calling_aet", "retry_seconds": "retry_seconds",
                "retry_max_seconds": "retry_max_seconds"}
LISTEN_KEYS = {"in": "inbox", "port": "port", "aet": "aet", "bind": "bind", "accept": "accept",
               "tls_cert": "tls_cert", "tls_key": "tls_key", "tls_ca": "tls_ca", "sop_classes": "sop_classes",
               "transfer_syntaxes": "transfer_syntaxes", "min_free_mb": "min_free_mb"}
REQUIRED = {  # field: (what it is, its flag)
    WatchConfig: {"inbox": ("folder to watch", "--in"), "out": ("output folder", "--out")},
    ListenConfig: {"inbox": ("folder to write into", "--out")},
}


def read_toml(path: str | os.PathLike | None) -> dict[str, Any]:
    """The config file's tables, or ``{}`` without a file; a broken file is an InputError naming it."""
    if path is None:
        return {}
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, f"is not valid TOML ({exc})") from exc
    unknown = set(data) - {"watch", "forward", "listen"}
    if unknown:
        raise InputError(path, f"has unknown tables {sorted(unknown)} (expected watch, forward, listen)")
    return data


def _settings(data: dict, table: str, keys: dict[str, str], path) -> dict[str, Any]:
    section = data.get(table, {})
    unknown = set(section) - set(keys)
    if unknown:
        raise InputError(path, f"[{table}] has unknown keys {sorted(unknown)}; known: {sorted(keys)}")
    return {keys[k]: v for k, v in section.items()}


def build(cls, path, data: dict, tables: dict[str, dict[str, str]], overrides: dict[str, Any]):
    """``cls`` from the file's tables with ``overrides`` (flags given on the command line) on top."""
    values: dict[str, Any] = {}
    for table, keys in tables.items():
        values.update(_settings(data, table, keys, path))
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(cls)}
    values = {k: v for k, v in values.items() if k in known}
    for name, (what, flag) in REQUIRED[cls].items():
        if values.get(name) is None:
            raise InputError(path, f"no {what} given: use {flag} or set it in the config file")
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise InputError(path, f"bad setting: {exc}") from exc


def load_watch_config(path: str | os.PathLike | None = None, **overrides: Any) -> WatchConfig:
    """WatchConfig from a TOML file (optional) and command-line values (``None`` means not given)."""
    return build(WatchConfig, path, read_toml(path), {"watch": WATCH_KEYS, "forward": FORWARD_KEYS},
                 overrides)


def load_listen_config(path: str | os.PathLike | None = None, **overrides: Any) -> ListenConfig:
    """ListenConfig from a TOML file (``[listen]``, with ``in`` falling back to ``[watch] in``)."""
    data = read_toml(path)
    if "in" not in data.get("listen", {}) and "in" in data.get("watch", {}):
        data = {**data, "listen": {**data.get("listen", {}), "in": data["watch"]["in"]}}
    return build(ListenConfig, path, data, {"listen": LISTEN_KEYS}, overrides)
