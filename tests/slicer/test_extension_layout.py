"""The extension's files agree with each other and with Slicer's template, checked without Slicer.

The module file cannot be imported outside Slicer (it needs Qt and Slicer's application), so these
tests read it: every ``self.ui.<name>`` it uses must be a widget of the .ui file, every widget bound to
the parameter node must name one of its fields, and the build must ship every library file.
"""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET

from tests.slicer.conftest import MODULE_DIR

EXTENSION_DIR = MODULE_DIR.parent


def _module_source() -> ast.Module:
    return ast.parse((MODULE_DIR / "MedInpaint.py").read_text(encoding="utf-8"))


def _ui() -> ET.Element:
    return ET.parse(MODULE_DIR / "Resources" / "UI" / "MedInpaint.ui").getroot()


def test_the_module_has_the_four_template_classes_on_slicers_bases():
    bases = {node.name: [getattr(b, "id", None) for b in node.bases]
             for node in _module_source().body if isinstance(node, ast.ClassDef)}
    assert bases["MedInpaint"] == ["ScriptedLoadableModule"]
    assert bases["MedInpaintWidget"][0] == "ScriptedLoadableModuleWidget"
    assert bases["MedInpaintLogic"] == ["ScriptedLoadableModuleLogic"]
    assert bases["MedInpaintTest"] == ["ScriptedLoadableModuleTest"]


def test_every_ui_widget_the_module_uses_is_in_the_ui_file():
    used = {node.attr for node in ast.walk(_module_source())
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
            and node.value.attr == "ui" and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "self"}
    defined = {widget.get("name") for widget in _ui().iter("widget")}
    assert used and used <= defined, sorted(used - defined)


def test_parameter_bound_widgets_name_fields_of_the_parameter_node():
    tree = _module_source()
    wrapper = next(node for node in tree.body
                   if isinstance(node, ast.ClassDef) and node.name == "MedInpaintParameterNode")
    fields = {stmt.target.id for stmt in wrapper.body if isinstance(stmt, ast.AnnAssign)}
    bound = {prop.find("string").text for prop in _ui().iter("property")
             if prop.get("name") == "SlicerParameterName"}
    assert bound == fields


def test_the_build_ships_every_library_file_and_resource():
    cmake = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    listed = set(re.findall(r"\$\{MODULE_NAME\}Lib/(\S+\.py)", cmake))
    assert listed == {p.name for p in (MODULE_DIR / "MedInpaintLib").glob("*.py")}
    for resource in re.findall(r"Resources/\S+", cmake):
        assert (MODULE_DIR / resource.replace("${MODULE_NAME}", "MedInpaint")).is_file(), resource
    assert "slicerMacroBuildScriptedModule(" in cmake
    top = (EXTENSION_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "find_package(Slicer REQUIRED)" in top and "add_subdirectory(MedInpaint)" in top
    for key in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS",
                "DEPENDS"):
        assert f"set(EXTENSION_{key} " in top


def test_the_icon_is_a_128_pixel_png():
    data = (MODULE_DIR / "Resources" / "Icons" / "MedInpaint.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (128, 128)


def test_the_panels_choices_are_the_librarys_modes_and_devices():
    from MedInpaintLib.command import DEVICES, MODES

    enums = {node.name: {stmt.value.value for stmt in node.body
                         if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)}
             for node in _module_source().body if isinstance(node, ast.ClassDef)}
    assert enums["RepairMode"] == set(MODES)
    assert enums["ComputeDevice"] == set(DEVICES)
