"""The extension's CMake: it configures, builds the carried wheel, and installs it where the module looks.

No Slicer build can exist here, so ``Slicer_DIR`` points at a stand-in written by this test that defines
only what the extension's CMake uses from Slicer (its module macro, which here just checks that every
listed file exists, and the scripted-module folders). What is checked is the extension's own logic: the
custom command that builds the wheel with ``build_medinpaint_wheel.py``, the install rule, and that the
repository's root ``CMakeLists.txt``, which Slicer's extension build configures, works too.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from tests.conftest import require_tool
from tests.slicer.conftest import MODULE_DIR

EXTENSION_DIR = MODULE_DIR.parent
SCRIPTED = "lib/Slicer-5.10/qt-scripted-modules"

STAND_IN_CONFIG = f"""
set(Slicer_USE_FILE ${{CMAKE_CURRENT_LIST_DIR}}/UseSlicer.cmake)
set(Slicer_EXTENSION_GENERATE_CONFIG ${{CMAKE_CURRENT_LIST_DIR}}/nothing.cmake)
set(Slicer_EXTENSION_CPACK ${{CMAKE_CURRENT_LIST_DIR}}/nothing.cmake)
set(Slicer_QTSCRIPTEDMODULES_LIB_DIR {SCRIPTED})
set(Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR {SCRIPTED})
set(PYTHON_EXECUTABLE {sys.executable})
"""
STAND_IN_USE = """
macro(slicerMacroBuildScriptedModule)
  cmake_parse_arguments(MY "WITH_GENERIC_TESTS" "NAME" "SCRIPTS;RESOURCES" ${ARGN})
  foreach(f ${MY_SCRIPTS} ${MY_RESOURCES})
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${f})
      message(FATAL_ERROR "the module lists ${f}, which does not exist")
    endif()
  endforeach()
endmacro()
"""
REPOSITORY_ROOT = EXTENSION_DIR.parent.parent  # its CMakeLists.txt include()s the extension


@pytest.fixture
def slicer_dir(tmp_path):
    folder = tmp_path / "Slicer-build"
    folder.mkdir()
    (folder / "SlicerConfig.cmake").write_text(STAND_IN_CONFIG, encoding="utf-8")
    (folder / "UseSlicer.cmake").write_text(STAND_IN_USE, encoding="utf-8")
    (folder / "nothing.cmake").write_text("", encoding="utf-8")
    return folder


def _configure_build_install(cmake, source, build, prefix, slicer_dir):
    for command in ([cmake, "-S", str(source), "-B", str(build), f"-DSlicer_DIR={slicer_dir}",
                     "-DBUILD_TESTING=OFF"],
                    [cmake, "--build", str(build)],
                    [cmake, "--install", str(build), "--prefix", str(prefix)]):
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.mark.parametrize("layout", ["extension folder", "repository root"])
def test_the_build_carries_the_wheel_where_the_module_looks_for_it(layout, slicer_dir, tmp_path):
    from MedInpaint import WHEEL_DIR

    cmake = require_tool("cmake")
    source = EXTENSION_DIR
    if layout == "repository root":  # what Slicer's extension build configures
        source = REPOSITORY_ROOT
    _configure_build_install(cmake, source, tmp_path / "build", tmp_path / "install", slicer_dir)

    relative = WHEEL_DIR[len(str(MODULE_DIR)) + 1:]
    for tree in ("build", "install"):
        (wheel,) = (tmp_path / tree / SCRIPTED / relative).glob("medinpaint-*.whl")
        assert "medinpaint/cli.py" in zipfile.ZipFile(wheel).namelist()
