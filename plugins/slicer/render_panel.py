"""Draw the module panel from ``MedInpaint/Resources/UI/MedInpaint.ui`` without Slicer (for the docs).

No Slicer GUI is needed: the .ui file is loaded with PySide6's QUiLoader on an offscreen display,
with plain Qt stand-ins for Slicer's own widgets (qMRMLNodeComboBox -> QComboBox showing a node
name or its "none" text, ctkCollapsibleButton -> QGroupBox, ctkPathLineEdit -> QLineEdit), and the
result is grabbed to a PNG. Layout, labels, choices and tool tips are the .ui file's own.

    QT_QPA_PLATFORM=offscreen python plugins/slicer/render_panel.py docs/slicer_panel.png
"""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

UI = Path(__file__).resolve().parent / "MedInpaint" / "Resources" / "UI" / "MedInpaint.ui"
#: What each node selector shows in the picture: a loaded node's name, or None for its "none" text.
SHOWN_NODES = {"inputSelector": "MRHead", "maskSelector": None, "outputSelector": None}
MRML_PROPERTIES = {"nodeTypes", "showChildNodeTypes", "noneEnabled", "noneDisplay", "addEnabled",
                   "removeEnabled", "renameEnabled", "SlicerParameterName", "nameFilters"}


def _text(element: ET.Element, name: str) -> str | None:
    for prop in element.findall("property"):
        if prop.get("name") == name:
            string = prop.find("string")
            return None if string is None else string.text
    return None


def _plain_qt(ui_path: Path) -> bytes:
    """The .ui document with Slicer's and CTK's widgets replaced by plain Qt widgets."""
    root = ET.parse(ui_path).getroot()
    for widget in root.iter("widget"):
        cls, name = widget.get("class"), widget.get("name")
        if cls == "qMRMLWidget":
            widget.set("class", "QWidget")
        elif cls == "ctkCollapsibleButton":
            widget.set("class", "QGroupBox")
            for prop in widget.findall("property"):
                if prop.get("name") == "text":
                    prop.set("name", "title")
                elif prop.get("name") == "collapsed":
                    widget.remove(prop)
        elif cls == "qMRMLNodeComboBox":
            shown = SHOWN_NODES.get(name) or _text(widget, "noneDisplay") or ""
            widget.set("class", "QComboBox")
            item = ET.SubElement(widget, "item")
            prop = ET.SubElement(item, "property", name="text")
            ET.SubElement(prop, "string").text = shown
        elif cls == "ctkPathLineEdit":
            widget.set("class", "QLineEdit")
            prop = ET.SubElement(widget, "property", name="placeholderText")
            ET.SubElement(prop, "string").text = "(the models shipped with medinpaint)"
        for prop in list(widget.findall("property")):
            if prop.get("name") in MRML_PROPERTIES:
                widget.remove(prop)
    for tag in ("customwidgets", "connections"):
        for element in root.findall(tag):
            root.remove(element)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def render(out: Path, width: int = 420) -> Path:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtUiTools import QUiLoader
    from PySide6.QtWidgets import QApplication, QPushButton

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    data = QByteArray(_plain_qt(UI))
    buffer = QBuffer(data)
    buffer.open(QIODevice.ReadOnly)
    loader = QUiLoader()
    panel = loader.load(buffer)
    buffer.close()
    if panel is None:
        raise RuntimeError(f"{UI} could not be loaded")
    # The panel as Slicer shows it once a volume is selected: Apply enabled, nothing running.
    panel.findChild(QPushButton, "applyButton").setEnabled(True)
    panel.resize(width, panel.sizeHint().height())
    panel.show()
    app.processEvents()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not panel.grab().save(str(out)):
        raise RuntimeError(f"{out} could not be written")
    return out


if __name__ == "__main__":
    print(render(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/slicer_panel.png")))
