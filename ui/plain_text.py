"""Text is text: labels never interpret markup from a patient, a user or a device.

A QLabel's default (``Qt.AutoText``) renders anything that looks like HTML, so an MRN typed as
``<font color=…>`` could hide the real one. Every label of a window is switched to plain text
once the window is built; labels made by hand or later use :func:`plain_label`.
"""

from __future__ import annotations

import html

from PySide6 import QtGui
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget


def plain_label(text: str = "") -> QLabel:
    """A label that shows its text literally."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def make_plain(root: QWidget, *, keep_rich: tuple[QLabel, ...] = ()) -> int:
    """Switch every label under ``root`` to plain text (``keep_rich``: labels with only the program's own
    text); returns how many were switched."""
    count = 0
    for label in root.findChildren(QLabel):
        if label in keep_rich:
            continue
        label.setTextFormat(Qt.TextFormat.PlainText)
        count += 1
    return count


def plain_tooltip(text: str) -> str:
    """A tooltip that shows ``text`` literally (Qt renders any tooltip that looks like HTML)."""
    if not QtGui.Qt.mightBeRichText(text) and "&" not in text:
        return text
    return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>"
