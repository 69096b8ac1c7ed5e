"""Build the medinpaint wheel the extension carries: ``python build_medinpaint_wheel.py SOURCE OUT_DIR``.

Run at build time by the extension's CMake with Slicer's own Python, so the extension installs medinpaint
from this file (``pip install --no-deps``) and never asks a package index for a name the project does not
own. The wheel is pure Python (``py3-none-any``) and is made here directly from ``pyproject.toml`` and the
``medinpaint`` folder, following the wheel format (PEP 427, core metadata 2.1): no setuptools, no build
isolation, no network on the build machine. The same sources always give the same bytes (fixed file order
and timestamps), so a rebuilt extension carries an identical wheel.

What goes in: every ``.py`` file of the ``medinpaint`` package tree and the package data that
``[tool.setuptools.package-data]`` names; the metadata's name, version, Python requirement, dependencies,
extras and console scripts come from ``[project]``.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import zipfile
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python < 3.11 (Slicer 5.8): pip carries a TOML reader
    from pip._vendor import tomli as tomllib

PACKAGE = "medinpaint"
TAG = "py3-none-any"
#: 1980-01-01, the earliest time a zip file can hold: the wheel's bytes depend on its sources only.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def _package_files(source: Path, package_data: dict) -> list[Path]:
    """The package's Python files and declared data files, relative to ``source``, in a stable order."""
    root = source / PACKAGE
    files = {p for p in root.rglob("*.py") if "__pycache__" not in p.parts}
    for pattern in package_data.get(PACKAGE, []):
        files |= {p for p in root.glob(pattern) if p.is_file()}
    return sorted(p.relative_to(source) for p in files)


def _metadata(project: dict) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}"]
    if project.get("description"):
        lines.append(f"Summary: {project['description']}")
    licence = project.get("license")
    if isinstance(licence, dict) and licence.get("text"):
        lines.append(f"License: {licence['text']}")
    if project.get("requires-python"):
        lines.append(f"Requires-Python: {project['requires-python']}")
    lines += [f"Requires-Dist: {requirement}" for requirement in project.get("dependencies", [])]
    for extra, requirements in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        for requirement in requirements:
            requirement, _, marker = requirement.partition(";")
            condition = f'extra == "{extra}"' + (f" and ({marker.strip()})" if marker.strip() else "")
            lines.append(f"Requires-Dist: {requirement.strip()}; {condition}")
    return "\n".join(lines) + "\n"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"{name},sha256={digest},{len(data)}"


def build(source: str | Path, out_dir: str | Path) -> Path:
    """Write ``medinpaint-<version>-py3-none-any.whl`` into ``out_dir`` (replacing older ones); return it."""
    source, out_dir = Path(source).resolve(), Path(out_dir)
    pyproject = source / "pyproject.toml"
    if not pyproject.is_file() or not (source / PACKAGE / "__init__.py").is_file():
        raise SystemExit(f"{source} is not the medinpaint repository (no pyproject.toml or {PACKAGE}/)")
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = config["project"]
    name, version = project["name"].replace("-", "_"), project["version"]
    dist_info = f"{name}-{version}.dist-info"
    package_data = config.get("tool", {}).get("setuptools", {}).get("package-data", {})

    entries: list[tuple[str, bytes]] = []
    for relative in _package_files(source, package_data):
        entries.append((relative.as_posix(), (source / relative).read_bytes()))
    entries.append((f"{dist_info}/METADATA", _metadata(project).encode("utf-8")))
    entries.append((f"{dist_info}/WHEEL", (
        "Wheel-Version: 1.0\nGenerator: medinpaint-slicer-extension\nRoot-Is-Purelib: true\n"
        f"Tag: {TAG}\n").encode()))
    scripts = project.get("scripts", {})
    if scripts:
        text = "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in sorted(scripts.items()))
        entries.append((f"{dist_info}/entry_points.txt", text.encode("utf-8")))
    record = [_record_line(entry, data) for entry, data in entries] + [f"{dist_info}/RECORD,,"]
    entries.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode("utf-8")))

    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob(f"{name}-*.whl"):
        old.unlink()
    wheel = out_dir / f"{name}-{version}-{TAG}.whl"
    partial = wheel.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry, data in entries:
            info = zipfile.ZipInfo(entry, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    partial.replace(wheel)
    return wheel


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        raise SystemExit("usage: build_medinpaint_wheel.py SOURCE_DIR OUT_DIR")
    print(build(argv[1], argv[2]))


if __name__ == "__main__":
    main(sys.argv)
