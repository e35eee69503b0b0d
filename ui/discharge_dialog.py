"""Discharge scoring: modified Aldrete and PADSS against the session baseline, escort and no-driving.

The nurse enters what only a person can judge (activity, respiration, consciousness, nausea,
pain, bleeding, escort, instruction); the items the monitor can judge (blood pressure and SpO2
against baseline) and the totals come from :mod:`monitor.discharge`, so the screen never
computes a score itself. Whether the session may be completed now (minimum recovery, a fresh cuff
and SpO2, no active high alarm) comes from :mod:`monitor.readiness`: the form shows each value's
age and what blocks completion, offers "NIBP now", and completes a blocked session, or one whose
criteria are not met, only with a reason for the override.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any, Final

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from drivers.core.readings import Reading
from monitor.alarms.model import Priority
from monitor.discharge import USUAL_MARKS, DischargeMarks, DischargeResult, NurseAssessment, assess_discharge
from monitor.dose import Intervention
from monitor.labels import pressure_text
from monitor.readiness import DISCHARGE_SCORE_BLOCKERS, StepCheck
from monitor.session import Baseline
from monitor.wall_clock import clock_text
from ui import theme

#: Lines shown of the result (verdict, reasons, computed items); more scroll.
RESULT_LINES = 6
#: Lines shown of what blocks completion and the values with their ages; more scroll.
AGES_LINES = 5

# (field of NurseAssessment, label, options from 2 down to 0)
ALDRETE_ENTRIES: tuple[tuple[str, str, tuple[str, str, str]], ...] = (
    ("aldrete_activity", "Activity", ("moves 4 limbs", "moves 2 limbs", "moves none")),
    ("aldrete_respiration", "Respiration", ("breathes deeply, coughs", "dyspnoea / shallow", "apnoeic")),
    ("aldrete_consciousness", "Consciousness", ("fully awake", "rousable on calling", "not responding")),
)
PADSS_ENTRIES: tuple[tuple[str, str, tuple[str, str, str]], ...] = (
    ("padss_activity", "Activity", ("steady gait, no dizziness", "needs assistance", "unable to walk")),
    ("padss_nausea_vomiting", "Nausea / vomiting", ("minimal", "moderate", "severe")),
    ("padss_pain", "Pain", ("minimal", "moderate", "severe")),
    ("padss_bleeding", "Bleeding", ("minimal", "moderate", "severe")),
)


#: The keys of the form, on its last line.
HINT: Final = "0-2 scores an item · Tab moves, Space ticks, arrows change · Enter cancels"
#: What the form says when it gives back the entries of a form closed a moment ago (:meth:`DischargeDialog.restore`).
RESTORED: Final = "Entries from a moment ago are back: check each is still true"


class DischargeDialog(QDialog):
    """Collects the discharge items and shows both scores as they are entered."""

    def __init__(
        self,
        parent: QWidget | None,
        readings: Sequence[Reading],
        baseline: Baseline | None,
        check: StepCheck | None = None,
        nibp_now: Callable[[], None] | None = None,
        marks: DischargeMarks = USUAL_MARKS,
        oxygen: tuple[float, Intervention] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Discharge scoring")
        self.marks = marks
        self.readings = list(readings)
        self.baseline = baseline
        # This form gives the discharge score: the check's blockers about that score are judged here.
        self.check = None if check is None else check.without(DISCHARGE_SCORE_BLOCKERS)
        self.groups: dict[str, QButtonGroup] = {}
        layout = QVBoxLayout(self)
        self.ages_label = QLabel()
        # What blocks completion first, then the values with their ages; the form keeps its size as they change,
        # and what does not fit scrolls (a scroll bar says there is more).
        layout.addWidget(_scrolled(self.ages_label, AGES_LINES))
        self.nibp_button = QPushButton("NIBP now")
        # Never the button Enter presses: Enter in this form cancels (it once started a cuff).
        self.nibp_button.setAutoDefault(False)
        self.nibp_button.setEnabled(nibp_now is not None)
        if nibp_now is not None:
            self.nibp_button.clicked.connect(nibp_now)
        self.override = QLineEdit()
        self.override.setPlaceholderText("Reason to complete although not ready or criteria not met (recorded)")
        self.override.setAccessibleName(self.override.placeholderText())
        self.override.textChanged.connect(lambda *_: self.update_result())
        keep = self.override.sizePolicy()
        keep.setRetainSizeWhenHidden(True)  # shown only when needed, its place kept: nothing moves
        self.override.setSizePolicy(keep)
        row = QHBoxLayout()
        row.addWidget(self.nibp_button)
        row.addWidget(self.override, 1)
        layout.addLayout(row)
        if baseline is not None:
            ref = QLabel(
                f"Baseline: HR {baseline.heart_rate:.0f}, SpO2 {baseline.spo2:.0f} %, "
                f"NIBP {pressure_text(baseline.nibp_sys, baseline.nibp_dia)}"
            )
        else:
            ref = QLabel("No baseline was taken: blood pressure items cannot score.")
        ref.setObjectName("dim")
        layout.addWidget(ref)
        columns = QVBoxLayout()  # one above the other: the form fits a 1280-pixel-wide screen
        aldrete_title = f"Modified Aldrete (discharge at {marks.aldrete_min} or more)"
        self.aldrete_box = self._score_box(aldrete_title, ALDRETE_ENTRIES)
        self.on_oxygen = QCheckBox("On supplemental oxygen")
        self.aldrete_box.layout().addWidget(self.on_oxygen, len(ALDRETE_ENTRIES), 0, 1, 4)
        if oxygen is not None:
            # Oxygen on the timeline: ticked, so that the patient is not scored as on room air by an oversight
            # (the timeline does not say when oxygen was taken off); the nurse unticks it if it is off now.
            at, given = oxygen
            self.on_oxygen.setChecked(True)
            flow = f"{given.dose:g} L/min " if given.dose is not None else ""
            self.on_oxygen.setText(f"On supplemental oxygen ({flow}given at {clock_text(at, '%H:%M')}: untick if "
                                   "it is off now)")
        self.on_oxygen.toggled.connect(self.update_result)
        self.padss_box = self._score_box(f"PADSS (discharge at {marks.padss_min} or more)", PADSS_ENTRIES)
        columns.addWidget(self.aldrete_box)
        columns.addWidget(self.padss_box)
        layout.addLayout(columns)
        escort = "Escort present" if marks.escort_required else "Escort present (the protocol does not require one)"
        self.escort = QCheckBox(escort)
        self.no_driving = QCheckBox("No-driving instruction given and acknowledged")
        for box in (self.escort, self.no_driving):
            box.toggled.connect(self.update_result)
            layout.addWidget(box)
        self.result_label = QLabel()
        # Styled, and built from scores only (no patient, user or device text).
        self.rich_labels = (self.result_label, self.ages_label)
        self.result_label.setStyleSheet("font-size: 16px;")
        # The verdict, the reasons, then the computed items: the form never grows while scoring; more scrolls.
        layout.addWidget(_scrolled(self.result_label, RESULT_LINES))
        self.hint = hint = QLabel(HINT)
        hint.setObjectName("dim")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.complete_button = buttons.addButton(
            "Record discharge and complete", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.complete_button.setObjectName("confirm")
        self.complete_button.setAutoDefault(False)
        self.cancel_button = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setText("Cancel (Enter)")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        footer = QHBoxLayout()
        footer.addWidget(hint, 1)
        footer.addWidget(buttons)
        layout.addLayout(footer)
        # Once it is in the dialog (a button made default before that is not the dialog's default, and the first
        # button that may be one took its place): Enter alone never completes a session.
        self.cancel_button.setDefault(True)
        self.update_result()
        self._sized = False

    def showEvent(self, event: QShowEvent) -> None:
        """Fix the size at the first showing, once the style sheet has set the fonts: nothing moves under the
        pointer afterwards while the scores and values change."""
        if not self._sized:
            self._sized = True
            self.ensurePolished()
            for child in self.findChildren(QWidget):
                child.ensurePolished()
            self.layout().activate()
            hint = self.sizeHint()
            self.setFixedSize(hint.width(), hint.height())
            self.first_item().setFocus(Qt.FocusReason.ActiveWindowFocusReason)
        super().showEvent(event)

    def first_item(self) -> QRadioButton:
        """The first item to score, where the keyboard starts: left to Qt, it went to Cancel, below the room's
        fold at 1280x800, and nothing on screen showed it. Its chosen score if any (given back from a moment ago),
        else its top one."""
        return self._item_button(ALDRETE_ENTRIES[0][0])

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """0, 1 or 2 on an item scores it so and moves the keyboard to the next item, past the boxes between (after
        the last, to "Escort present"), as a digit does in the CADSS-6 form. With Space then Tab, the Tab after
        Consciousness went to "On supplemental oxygen" and the next Space ticked or unticked it: a patient on
        oxygen could be scored on room air."""
        score = _DIGITS.get(Qt.Key(event.key()))
        item = self.focusWidget()
        names = list(self.groups)
        where = next((n for n in names if item is not None and self.groups[n].id(item) >= 0), None) \
            if isinstance(item, QRadioButton) else None
        if score is None or where is None or event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            super().keyPressEvent(event)
            return
        self.groups[where].button(score).setChecked(True)
        following = names.index(where) + 1
        target: QWidget = self.escort if following == len(names) else self._item_button(names[following])
        target.setFocus(Qt.FocusReason.TabFocusReason)
        area = next((w for w in _ancestors(target) if isinstance(w, QScrollArea)), None)
        if area is not None:
            area.ensureWidgetVisible(target)

    def _item_button(self, name: str) -> QRadioButton:
        """Where the keyboard goes on an item: its chosen score, else its top one."""
        group = self.groups[name]
        button = group.checkedButton() or group.button(2)
        assert isinstance(button, QRadioButton)
        return button

    def _score_box(self, title: str, entries: Sequence[tuple[str, str, tuple[str, str, str]]]) -> QGroupBox:
        box = QGroupBox(title)
        grid = QGridLayout(box)
        for row, (name, label, options) in enumerate(entries):
            grid.addWidget(QLabel(label), row, 0)
            group = QButtonGroup(self)
            for col, (score, text) in enumerate(zip((2, 1, 0), options, strict=True)):
                button = QRadioButton(f"{score}  {text}")
                # Read alone, "2  minimal" is the same for nausea, pain and bleeding: the name says whose it is.
                button.setAccessibleName(f"{label}: {score} {text}")
                group.addButton(button, score)
                grid.addWidget(button, row, col + 1)
            group.idToggled.connect(lambda *_: self.update_result())
            self.groups[name] = group
        return box

    def draft(self) -> dict[str, Any]:
        """The entries so far (items scored, boxes ticked, the reason), to give back if the form is opened again
        soon; empty when nothing was entered."""
        scored = {name: group.checkedId() for name, group in self.groups.items() if group.checkedId() >= 0}
        ticked = {name: box.isChecked() for name, box in self._boxes().items() if box.isChecked()}
        reason = self.override.text().strip()
        if not (scored or ticked or reason):
            return {}
        return {"scored": scored, "ticked": ticked, "reason": reason}

    def restore(self, draft: dict[str, Any]) -> None:
        """Give back the entries of a form closed a moment ago, and say so: each must still be true."""
        for name, score in draft.get("scored", {}).items():
            self.set_item(name, score)
        for name, box in self._boxes().items():
            box.setChecked(bool(draft.get("ticked", {}).get(name)))
        self.override.setText(draft.get("reason", ""))
        # In place of the hint, not beside it: the form keeps its size (it must fit 1280x720).
        self.hint.setText(RESTORED)
        self.hint.setStyleSheet(f"color: {theme.WARNING_TEXT};")

    def _boxes(self) -> dict[str, QCheckBox]:
        return {"on_oxygen": self.on_oxygen, "escort": self.escort, "no_driving": self.no_driving}

    def set_item(self, name: str, score: int) -> None:
        """Choose a score for an entered item (as a click would)."""
        self.groups[name].button(score).setChecked(True)

    def missing(self) -> list[str]:
        """Entered items still without a score."""
        return [name for name, group in self.groups.items() if group.checkedId() < 0]

    def assessment(self) -> NurseAssessment:
        """The nurse's entries (every item must be scored)."""
        values: dict[str, Any] = {name: group.checkedId() for name, group in self.groups.items()}
        values.update(
            on_oxygen=self.on_oxygen.isChecked(),
            escort_present=self.escort.isChecked(),
            no_driving_acknowledged=self.no_driving.isChecked(),
        )
        return NurseAssessment.from_dict(values)

    def set_check(self, check: StepCheck | None, readings: Sequence[Reading] | None = None) -> None:
        """New readiness from the core (e.g. after "NIBP now"), with the newest readings."""
        self.check = None if check is None else check.without(DISCHARGE_SCORE_BLOCKERS)
        if readings is not None:
            self.readings = list(readings)
        self.update_result()

    def needs_reason(self) -> bool:
        """Completing now is an override: the session is not ready, or the entered criteria are not met."""
        result = self.discharge()
        return (self.check is not None and not self.check.ready) or (result is not None and not result.passed)

    def override_reason(self) -> str:
        """The reason typed for completing although not ready or not meeting the criteria ('' when none is
        needed or none was typed)."""
        return self.override.text().strip() if self.needs_reason() else ""

    def _show_check(self) -> bool:
        """Show each value's age and the blockers; True when completion is allowed (ready and criteria met,
        or an override reason typed)."""
        check = self.check
        needs_reason = self.needs_reason()
        self.override.setVisible(needs_reason)
        reasoned = bool(self.override.text().strip())
        if check is None:
            self.ages_label.setText("")
            return not needs_reason or reasoned
        # What no reason overrides first (it is why the button stays off), then the other blockers, then the values.
        lines = [f"<b style='color:{theme.ALARM_COLOURS[Priority.HIGH]}'>Cannot complete: {html.escape(b.text)} "
                 "(no reason overrides this)</b>" for b in check.blockers if not b.overridable]
        lines += [f"<b style='color:{theme.WARNING_TEXT}'>Not ready: {html.escape(b.text)}</b>"
                  for b in check.blockers if b.overridable]
        # What to check with the patient before they leave; it needs no reason and holds nothing up.
        lines += [f"<b>{html.escape(note)}</b>" for note in check.notes]
        for value in check.values:
            age = "no valid value" if value.age_s is None else f"{value.age_s / 60:.1f} min old"
            limit = f" (at most {value.max_age_s / 60:g} min)" if value.max_age_s is not None else ""
            mark = "" if value.fresh or value.max_age_s is None else " — too old"
            lines.append(html.escape(f"{value.name} {value.text} · {age}{limit}{mark}"))
        self.ages_label.setText("<br>".join(lines))
        return not needs_reason or (check.overridable and reasoned)

    def discharge(self) -> DischargeResult | None:
        """Both scores from the entries, None while an item is unscored."""
        if self.missing():
            return None
        return assess_discharge(self.readings, self.baseline, self.assessment(), self.marks)

    def update_result(self) -> None:
        """Show totals and what stands in the way of discharge."""
        result = self.discharge()
        allowed = self._show_check()
        self._enable_record(result is not None and allowed)
        if result is None:
            left = len(self.missing())
            self.result_label.setText(f"Still to score: {left} item{'' if left == 1 else 's'}.")
            return
        verdict = "criteria met" if result.passed else "criteria NOT met"
        colour = "#3ddc6a" if result.passed else "#ffd24a"
        lines = [
            f"<b style='color:{colour}'>Aldrete {result.aldrete.total}/10 · PADSS {result.padss.total}/10 · "
            f"{verdict}</b>",
            *result.reasons,
            *[f"{i.name}: {i.score} ({i.basis})" for i in (*result.aldrete.items, *result.padss.items) if i.computed],
        ]
        self.result_label.setText("<br>".join(lines))


    def _enable_record(self, allowed: bool) -> None:
        """Turn "Record discharge and complete" on or off. Turned off under the keyboard (the cuff value became
        5 minutes old), it hands the keyboard to the reason field, or to the form, and the hint line says why: Qt
        passed it on to Cancel, and the Space meant for Record closed the form unrecorded without a word."""
        button = self.complete_button
        if allowed or not button.isEnabled():
            button.setEnabled(allowed)
            return
        had_keyboard = button.hasFocus()
        if had_keyboard:
            harmless: QWidget = self.override if self.override.isVisibleTo(self) else self
            harmless.setFocus(Qt.FocusReason.OtherFocusReason)
        button.setEnabled(False)
        if had_keyboard:
            self.hint.setText(f"Record is off: {self.record_off_why()}")
            self.hint.setStyleSheet(f"color: {theme.WARNING_TEXT};")

    def record_off_why(self) -> str:
        """Why "Record discharge and complete" cannot be pressed now."""
        if self.missing():
            return f"{len(self.missing())} items still to score"
        if self.check is not None and not self.check.overridable:
            return next((b.text for b in self.check.blockers if not b.overridable), "not ready")
        if self.check is not None and not self.check.ready:
            return f"not ready ({'; '.join(b.text for b in self.check.blockers)}): type the reason to complete anyway"
        return "the criteria are not met: type the reason to complete anyway"


#: The keys that score an item, with its score (the number row and the keypad alike).
_DIGITS: Final = {Qt.Key.Key_0: 0, Qt.Key.Key_1: 1, Qt.Key.Key_2: 2}


def _ancestors(widget: QWidget) -> list[QWidget]:
    out: list[QWidget] = []
    parent = widget.parentWidget()
    while parent is not None:
        out.append(parent)
        parent = parent.parentWidget()
    return out


def _scrolled(label: QLabel, lines: int) -> QScrollArea:
    """``label`` wrapped, top-aligned, in a frameless area ``lines`` lines high that scrolls what does not fit."""
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    area = QScrollArea()
    area.setWidget(label)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    # No Tab stop: nothing showed the keyboard on it, and a Tab then Space did nothing (the wheel scrolls it).
    area.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    area.setFixedHeight(label.fontMetrics().lineSpacing() * lines + 2)
    return area
