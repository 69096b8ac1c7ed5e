"""The systemd units in docs/service/: a umask that keeps results from other users, the hardening the
service can live with, a memory ceiling, and a start limit so that a crash loop ends (the watcher's
poison-pill budget needs only max_attempts restarts to get past a series that kills it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[2] / "docs" / "service"
UNITS = ["medinpaint-watch.service", "medinpaint-listen.service"]


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> values (a key may be given more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in (SERVICE / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.mark.parametrize("name", UNITS)
def test_units_are_hardened_with_a_umask_and_a_start_limit(name):
    sections = unit(name)
    service, section = sections["Service"], sections["Unit"]
    assert service["UMask"] == ["0027"]
    for key, value in {"PrivateDevices": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
                       "ProtectHome": "yes", "PrivateTmp": "yes", "SystemCallFilter": "@system-service",
                       "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6"}.items():
        assert service[key] == [value], key
    assert service["CapabilityBoundingSet"] == [""]  # no capability at all
    assert service["MemoryMax"][0].endswith("G")
    assert int(section["StartLimitBurst"][0]) >= 3 and int(section["StartLimitIntervalSec"][0]) > 0
    assert service["Restart"] == ["on-failure"]
    assert section["Documentation"] == ["file:/opt/medinpaint/docs/watcher.md"]


@pytest.mark.parametrize("name", UNITS)
def test_systemd_reads_the_units_without_complaint(name, tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    copy = tmp_path / name
    copy.write_text((SERVICE / name).read_text().replace("/opt/medinpaint/.venv/bin/medinpaint", "/bin/true"))
    result = subprocess.run([analyze, "verify", "--man=no", str(copy)], capture_output=True, text=True,
                            timeout=60)
    unknown = [line for line in result.stderr.splitlines() if "Unknown" in line or "bad" in line.lower()]
    assert unknown == [], result.stderr
