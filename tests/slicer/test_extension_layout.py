"""The extension's files agree with each other, with Slicer's template and with the Extensions Index.

The Widget cannot run outside Slicer (it needs Qt), so these tests read the module file: every
``self.ui.<name>`` it uses must be a widget of the .ui file, every widget bound to the parameter node must
name one of its fields, the build must ship every library file and the carried wheel, every file must be
Python 3.9 syntax, and the submission files must hold no placeholder. (The Logic is imported and run in
test_module.py.)
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
    resources = cmake.split("set(MODULE_PYTHON_RESOURCES", 1)[1].split(")", 1)[0]
    for resource in re.findall(r"Resources/\S+", resources):
        assert (MODULE_DIR / resource.replace("${MODULE_NAME}", "MedInpaint")).is_file(), resource
    assert "Resources/SampleData/MRHeadDamaged.nii.gz" in resources
    assert "slicerMacroBuildScriptedModule(" in cmake
    top = (EXTENSION_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "find_package(Slicer REQUIRED)" in top
    assert "add_subdirectory(${MEDINPAINT_EXTENSION_DIR}/MedInpaint" in top
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


def test_the_build_carries_the_wheel_where_the_module_looks_for_it():
    from MedInpaint import WHEEL_DIR

    cmake = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "set(_wheel_builder ${MEDINPAINT_EXTENSION_DIR}/CMake/build_medinpaint_wheel.py)" in cmake
    assert (EXTENSION_DIR / "CMake" / "build_medinpaint_wheel.py").is_file()
    built = re.search(r"set\(MEDINPAINT_WHEEL_DIR "
                      r"\$\{CMAKE_BINARY_DIR\}/\$\{Slicer_QTSCRIPTEDMODULES_LIB_DIR\}/(\S+)\)", cmake)
    installed = re.search(r"DESTINATION \$\{Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR\}/(\S+)\n", cmake)
    relative = WHEEL_DIR[len(str(MODULE_DIR)) + 1:].replace("\\", "/")
    assert built.group(1) == installed.group(1) == relative == "Resources/Wheels"
    assert 'FILES_MATCHING PATTERN "medinpaint-*.whl"' in cmake


def test_the_extension_licence_is_the_repositorys_apache_licence():
    top = (EXTENSION_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "set(EXTENSION_LICENSE_FILE ${MEDINPAINT_SOURCE_DIR}/LICENSE)" in top
    assert "set(EXTENSION_README_FILE ${MEDINPAINT_EXTENSION_DIR}/README.md)" in top
    licence = EXTENSION_DIR.parents[1] / "LICENSE"
    assert licence.is_file() and "Apache License" in licence.read_text(encoding="utf-8")[:400]


def test_every_module_file_is_python_3_9_and_evaluates_no_union_operator_at_run_time():
    """Slicer 5.8 runs Python 3.9: ``X | None`` may appear only in annotations that are never evaluated."""
    for path in sorted(MODULE_DIR.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, feature_version=(3, 9))
        annotations = [node.annotation for node in ast.walk(tree)
                       if isinstance(node, (ast.arg, ast.AnnAssign)) and node.annotation is not None]
        annotations += [node.returns for node in ast.walk(tree)
                        if isinstance(node, ast.FunctionDef) and node.returns is not None]
        unions = [a for a in annotations for n in ast.walk(a) if isinstance(n, ast.BinOp)]
        if unions:
            assert "from __future__ import annotations" in source, path.name


def test_no_placeholder_address_anywhere_in_the_extension():
    for path in EXTENSION_DIR.rglob("*"):
        if path.is_file() and path.suffix in (".txt", ".py", ".md", ".json", ".ui", ".cmake"):
            assert "example.com" not in path.read_text(encoding="utf-8"), path


#: The properties of Slicer's catalog entry schema v1.0.2 (Slicer/Schemas), which allows no others.
SCHEMA_PROPERTIES = {"$schema", "category", "scm_url", "scm_revision", "scm_type", "build_dependencies",
                     "dicom_support_rule", "build_subdirectory", "enabled", "tier"}


def test_the_extensions_index_description_file_fits_the_schema_and_the_cmake_metadata():
    import json

    entry = json.loads((EXTENSION_DIR / "MedInpaint.json").read_text(encoding="utf-8"))
    assert entry["$schema"].endswith("/Schemas/slicer-extension-catalog-entry-schema-v1.0.2.json#")
    assert {"$schema", "category", "scm_url"} <= set(entry) <= SCHEMA_PROPERTIES
    assert isinstance(entry["build_dependencies"], list) and isinstance(entry["tier"], int)
    top = (EXTENSION_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    assert f'set(EXTENSION_CATEGORY "{entry["category"]}")' in top
    assert f'set(EXTENSION_DEPENDS "{" ".join(entry["build_dependencies"])}")' in top
    # the inner *build* folder of a superbuild extension, not a source folder (see README.md)
    assert entry["build_subdirectory"] == "."
