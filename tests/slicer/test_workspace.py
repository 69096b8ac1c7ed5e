"""MedInpaintLib.workspace: one private temporary folder per run, removed completely."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from MedInpaintLib.workspace import PREFIX, Workspace


def test_workspace_is_private_and_removed_with_everything_in_it(tmp_path):
    with Workspace(tmp_path) as ws:
        assert ws.path.parent == tmp_path and ws.path.name.startswith(PREFIX)
        assert stat.S_IMODE(ws.path.stat().st_mode) == 0o700
        for path in (ws.input, ws.output, ws.mask_out, ws.report, ws.scratch / "deep" / "x.bin"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"data")
    assert list(tmp_path.iterdir()) == []
    ws.cleanup()  # idempotent


def test_the_runs_own_temporary_files_land_inside_the_workspace(tmp_path):
    """A child started with the workspace's environment makes its temp files in the workspace."""
    ws = Workspace(tmp_path)
    code = "import tempfile; f = tempfile.NamedTemporaryFile(delete=False); print(f.name)"
    env = dict(os.environ, **ws.environment())
    made = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()
    assert os.path.dirname(made) == str(ws.scratch)
    ws.cleanup()
    assert not os.path.exists(made) and list(tmp_path.iterdir()) == []


def test_messages_name_the_users_node_not_the_temporary_file(tmp_path):
    with Workspace(tmp_path) as ws:
        text = f"{ws.input}: cannot be read; see also {ws.path / 'other.txt'}"
        assert ws.describe(text, {"input.nrrd": "the volume 'MRHead'"}) == \
            "the volume 'MRHead': cannot be read; see also the temporary folder/other.txt"
