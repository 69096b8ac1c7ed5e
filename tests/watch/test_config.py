"""Settings: the TOML file, command-line overrides and the checks that stop a bad setup at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from medinpaint.errors import InputError
from medinpaint.watch.config import Peer, WatchConfig, load_listen_config, load_watch_config

DOCS_TOML = Path(__file__).resolve().parents[2] / "docs" / "service" / "watch.toml"


def test_peer_parses_aet_host_port():
    peer = Peer.parse("ORTHANC@127.0.0.1:4242")
    assert (peer.aet, peer.host, peer.port) == ("ORTHANC", "127.0.0.1", 4242)
    assert str(peer) == "ORTHANC@127.0.0.1:4242"
    for bad in ("ORTHANC127.0.0.1:4242", "ORTHANC@host", "A@h:70000", "WAY_TOO_LONG_AE_TITLE@h:104",
                "A\\B@h:1"):
        with pytest.raises(ValueError):
            Peer.parse(bad)


def test_toml_file_with_flags_on_top(tmp_path):
    config_file = tmp_path / "watch.toml"
    config_file.write_text(f"""
[watch]
in = "{tmp_path / 'in'}"
out = "{tmp_path / 'out'}"
state = "{tmp_path / 'state'}"
stable_seconds = 30
undamaged = "derived"
[forward]
to = "PACS@10.0.0.5:104"
aet = "REPAIR"
retry_seconds = 2
[listen]
port = 11113
accept = ["CT01", "PACS"]
""")
    config = load_watch_config(config_file, stable_seconds=5.0, forward=None)
    assert config.inbox == tmp_path / "in" and config.out == tmp_path / "out"
    assert config.stable_seconds == 5.0  # the flag wins
    assert config.undamaged == "derived" and config.calling_aet == "REPAIR" and config.retry_seconds == 2
    assert config.forward == Peer("PACS", "10.0.0.5", 104)  # None means "flag not given"
    assert config.quarantine == tmp_path / "state" / "quarantine"
    listen = load_listen_config(config_file)
    assert listen.inbox == tmp_path / "in"  # [listen] in falls back to [watch] in
    assert listen.port == 11113 and listen.accept == ["CT01", "PACS"] and listen.aet == "MEDINPAINT"


def test_the_documented_example_config_loads():
    config = load_watch_config(DOCS_TOML)
    assert config.forward is not None and config.stable_seconds > 0
    assert load_listen_config(DOCS_TOML).inbox == config.inbox


@pytest.mark.parametrize("text, problem", [
    ("[watch]\nin = 'x'\nout = 'y'\nstable_secs = 3\n", "unknown keys ['stable_secs']"),
    ("[watcher]\n", "unknown tables ['watcher']"),
    ("[watch]\nin = 'x'\nout = 'y'\nundamaged = 'keep'\n", "undamaged must be one of"),
    ("[watch]\nin = 'x'\nout = 'y'\nstable_seconds = 0\n", "stable_seconds must be positive"),
    ("[watch]\nin = 'x'\nout = 'x/out'\n", "must not be inside the watched folder"),
    ("[watch]\nin = 'x'\nout = 'y'\n[forward]\nto = 'nohost'\n", "is not AET@HOST:PORT"),
    ("[watch]\nout = 'y'\n", "no folder to watch given: use --in"),
    ("[watch\n", "is not valid TOML"),
])
def test_bad_config_is_an_error_naming_the_file(tmp_path, monkeypatch, text, problem):
    monkeypatch.chdir(tmp_path)
    config_file = tmp_path / "bad.toml"
    config_file.write_text(text)
    with pytest.raises(InputError) as error:
        load_watch_config(config_file)
    assert str(config_file) in str(error.value) and problem in str(error.value)


def test_default_state_folder_is_per_in_out_pair(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    a = WatchConfig(tmp_path / "in", tmp_path / "out")
    b = WatchConfig(tmp_path / "in", tmp_path / "out2")
    assert a.state.parent == tmp_path / "xdg" / "medinpaint" and a.state != b.state
    with pytest.raises(ValueError, match="must not be inside"):
        WatchConfig(tmp_path / "in", tmp_path / "out", done=tmp_path / "in" / "done")
