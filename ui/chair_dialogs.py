"""Dialogs for what the protocol asks at the chair: the checklist, the dose, interventions, PHQ-9/GAD-7.

Each dialog checks its entry with the core's own rules as the nurse types (the same functions
the recorder uses), so what it shows is what will be stored or refused.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from PySide6.QtCore import QRegularExpression, Qt, QTime
from PySide6.QtGui import QKeyEvent, QRegularExpressionValidator, QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from monitor import chair, dose, outcomes, rems
from monitor import checklist as cl
from monitor.protocols import RESPIRATION_SCALE, Protocol
from monitor.wall_clock import clock_text
from ui import theme
from ui.dialogs import EntryCorrection, InstantCheckBox, complain, form_footer, offer_correction, ok_cancel
from ui.plain_text import plain_label
from ui.wheel import wheel_turns_focused_fields_only


class ChecklistDialog(QDialog):
    """The pre-infusion checklist in one line of keystrokes, with what is still missing shown live."""

    def __init__(self, parent: QWidget | None, protocol: Protocol, current: cl.PreInfusionChecklist | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Pre-infusion checklist - {protocol.title}")
        self.protocol = protocol
        self.current = current
        layout = QVBoxLayout(self)
        #: The codes' meanings, fasting at this protocol's minimum.
        self.hint = QLabel(cl.quick_help(protocol.checklist))
        self.hint.setWordWrap(True)
        self.hint.setObjectName("dim")
        layout.addWidget(self.hint)
        self.entry = QLineEdit()
        self.entry.setAccessibleName("Checklist, in short codes")
        self.entry.setMinimumWidth(560)
        self.entry.setPlaceholderText(cl.quick_example(protocol.checklist))
        self.entry.textChanged.connect(self._preview)
        self.entry.returnPressed.connect(self._enter)
        layout.addWidget(self.entry)
        self.preview = plain_label()
        self.preview.setWordWrap(True)
        layout.addWidget(self.preview)
        self.buttons = ok_cancel(self)
        layout.addWidget(self.buttons)
        self.parsed: cl.PreInfusionChecklist | None = None
        self._preview("")

    def _preview(self, text: str) -> None:
        self.parsed = None
        try:
            self.parsed = (cl.parse_quick(text, self.current, self.protocol.checklist) if text.strip()
                           else self.current)
        except cl.ChecklistError as exc:
            self.preview.setText(f"Not understood: {exc}")
            self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
            return
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(text.strip()))
        lines = []
        found = self.parsed or cl.PreInfusionChecklist()
        for flag, names in found.flagged().items():
            lines.append(f"FLAG {flag.value}: {', '.join(names)}")
        problems = cl.problems(found, self.protocol.checklist)
        lines += [f"missing/refused: {p.text}" for p in problems] or ["all required items recorded"]
        self.preview.setText("\n".join(lines))

    def _enter(self) -> None:
        if self.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled():
            self.accept()

    def quick_text(self) -> str:
        """What was typed."""
        return self.entry.text().strip()

    def draft(self) -> str:
        """What was typed, to give back if the checklist is opened again."""
        return self.quick_text()

    def restore(self, draft: str) -> None:
        """Give back what was typed last time (its preview follows)."""
        self.entry.setText(draft)


class RateDialog(QDialog):
    """A new infusion rate in mg/h (D during the infusion), or the right rate in place of the last one entered, in
    error: corrected as a score or an intervention is, with the reason it needs."""

    def __init__(self, parent: QWidget | None, last: tuple[float, str] | None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Rate change")
        layout = QVBoxLayout(self)
        said = QLabel("New infusion rate in mg/h")
        layout.addWidget(said)
        self.entry = QLineEdit()
        said.setBuddy(self.entry)  # a screen reader names the field by it
        self.entry.setMinimumWidth(420)
        self.entry.returnPressed.connect(self.accept)
        layout.addWidget(self.entry)
        layout.addWidget(ok_cancel(self))
        #: Offered once a rate was entered (``last``: mg/h and the time): ticked, this rate replaces it from then on.
        self.correction = offer_correction(self, "rate", None if last is None else f"{last[0]:g} mg/h at {last[1]}")
        if self.correction is not None:
            self.correction.box.toggled.connect(self._ticked)
        #: Where a correction is refused (no reason), and what a ticked one does to the delivered dose.
        self.message = QLabel("")
        self.message.setObjectName("dim")
        self.message.setWordWrap(True)
        layout.insertWidget(layout.count() - 1, self.message)

    def _ticked(self, on: bool) -> None:
        self.message.setStyleSheet("")
        self.message.setText("This rate replaces the wrong one from the time it was entered." if on else "")

    def accept(self) -> None:
        """Close with the rate, unless a correction is ticked without its reason (then say so, and stay)."""
        args = self.correction_args()
        if args and not args["correction_reason"]:
            complain(self.message, "A correction needs a reason: type why the last rate was wrong.")
            assert self.correction is not None
            self.correction.reason.setFocus()
            return
        super().accept()

    def text(self) -> str:
        """The rate as typed, trimmed."""
        return self.entry.text().strip()

    def correction_args(self) -> dict[str, Any]:
        """What the ``rate_change`` command adds: nothing, or the correction of the last rate with its reason."""
        return {} if self.correction is None else self.correction.command_args()


#: Under the dose form's lot, for a protocol whose REMS form needs it.
LOT_FOR_REMS = ("The REMS Patient Monitoring Form needs the lot number: without it the form and the discharge are "
                "refused. It can be added later (Dose plan, D).")


class DoseDialog(QDialog):
    """The dose plan: weight and mg/kg (or a fixed dose), duration, concentration, lot; totals shown live."""

    def __init__(self, parent: QWidget | None, protocol: Protocol, weight_kg: float | None,
                 given: dose.DosePlan | None = None) -> None:
        super().__init__(parent)
        self.protocol = protocol
        self.setWindowTitle(f"Dose - {protocol.drug} {protocol.route}")
        form = QFormLayout(self)
        self.weight = QDoubleSpinBox()
        self.weight.setRange(0, cl.WEIGHT_RANGE_KG[1])
        self.weight.setDecimals(1)
        self.weight.setSuffix(" kg")
        self.weight.setValue(weight_kg or 0.0)
        form.addRow("Weight", self.weight)
        self.amount = QDoubleSpinBox()
        per_kg = protocol.dose.unit is dose.DoseUnit.MG_PER_KG
        self.amount.setDecimals(2 if per_kg else 0)
        self.amount.setRange(0, 10 if per_kg else 1000)
        self.amount.setSuffix(f" {protocol.dose.unit.value}")
        self.amount.setValue(protocol.dose.default)
        form.addRow("Dose", self.amount)
        self.duration = QDoubleSpinBox()
        self.duration.setRange(0, 600)
        self.duration.setSuffix(" min")
        self.duration.setValue(protocol.dose.default_duration_min or 0)
        self.duration.setEnabled(protocol.dose.infused)
        form.addRow("Over", self.duration)
        self.concentration = QDoubleSpinBox()
        self.concentration.setRange(0, 100)
        self.concentration.setDecimals(2)
        self.concentration.setSuffix(" mg/mL")
        self.concentration.setSpecialValueText("not given")  # 0 is stored as no concentration, and says so
        self.concentration.setEnabled(protocol.dose.infused)
        form.addRow("Concentration", self.concentration)
        self.lot = QLineEdit()
        form.addRow("Lot", self.lot)
        #: Under a protocol with the REMS form, which needs the lot: said here, where it can be typed, rather than
        #: by the form and the discharge refusing two hours later. A plan without it is still taken (the lot may
        #: come later), with the note in the warning colour.
        self.lot_note = QLabel(LOT_FOR_REMS if protocol.rems else "")
        self.lot_note.setWordWrap(True)
        self.lot_note.setVisible(protocol.rems)
        form.addRow(self.lot_note)
        if given is not None:
            # The plan recorded: after dosing started only its missing lot number can be added, so it is shown as
            # given (the protocol's default dose shown instead made the lot alone look like another dose).
            self.weight.setValue(given.weight_kg or self.weight.value())
            self.amount.setValue((given.dose_mg_per_kg if per_kg else given.total_mg) or self.amount.value())
            self.duration.setValue(given.duration_min or 0)
            self.concentration.setValue(given.concentration_mg_per_ml or 0)
            self.lot.setText(given.lot or "")
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("needed only for a dose outside the protocol's range")
        form.addRow("Confirm because", self.reason)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        form.addRow(self.summary)
        self.buttons = ok_cancel(self)
        form.addRow(self.buttons)
        for box in (self.weight, self.amount, self.duration, self.concentration):
            box.valueChanged.connect(self._update)
        self.reason.textChanged.connect(self._update)
        self.lot.textChanged.connect(self._show_lot_note)
        wheel_turns_focused_fields_only(self)
        self._update()
        self._show_lot_note()
        if given is not None and not self.lot.text().strip():
            # After dosing started only the missing lot can be added: the form opens on it, not on Weight.
            self.lot.setFocus()

    def lot_missing(self) -> bool:
        """True when the protocol's REMS form needs a lot number and none is typed."""
        return self.protocol.rems and not self.lot.text().strip()

    def _show_lot_note(self) -> None:
        colour = theme.WARNING_TEXT if self.lot_missing() else theme.TEXT_DIM
        theme.restyle(self.lot_note, f"color: {colour};" + (" font-weight: bold;" if self.lot_missing() else ""))

    def args(self) -> dict[str, Any]:
        """The ``plan_dose`` command's arguments."""
        out: dict[str, Any] = {"weight_kg": self.weight.value() or None, "lot": self.lot.text().strip(),
                               "confirm_reason": self.reason.text().strip()}
        if self.protocol.dose.unit is dose.DoseUnit.MG_PER_KG:
            out["dose_mg_per_kg"] = self.amount.value()
            out["duration_min"] = self.duration.value() or None
            out["concentration_mg_per_ml"] = self.concentration.value() or None
        else:
            out["total_mg"] = self.amount.value()
        return out

    def _update(self) -> None:
        ok = True
        try:
            if self.protocol.dose.unit is dose.DoseUnit.MG_PER_KG:
                plan = dose.weight_based(
                    self.protocol.drug, self.protocol.route, self.weight.value(), self.amount.value(),
                    duration_min=self.duration.value() or None,
                    concentration_mg_per_ml=self.concentration.value() or None,
                )
            else:
                plan = dose.fixed(self.protocol.drug, self.protocol.route, self.amount.value(),
                                  weight_kg=self.weight.value() or None)
            text = f"total {plan.total_mg:g} mg"
            if plan.rate_mg_per_h is not None:
                text += f", rate {plan.rate_mg_per_h:g} mg/h"
            if plan.rate_ml_per_h is not None:
                text += f" = {plan.rate_ml_per_h:g} mL/h ({plan.volume_ml:g} mL)"
            why = dose.outside_range(plan, self.protocol.dose)
            if why:
                text += f"\nOUTSIDE RANGE: {why}"
                ok = bool(self.reason.text().strip())
        except dose.DoseError as exc:
            text, ok = str(exc), False
        self.summary.setText(text)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)


class InterventionDialog(QDialog):
    """One intervention: kind, drug or manoeuvre, dose (L/min for oxygen, mg for drugs), route."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Intervention")
        form = QFormLayout(self)
        self.kind = QComboBox()
        for kind in dose.InterventionKind:
            self.kind.addItem(kind.value, kind.value)
        form.addRow("Kind", self.kind)
        self.drug = QLineEdit()
        self.drug.setPlaceholderText("drug, or manoeuvre (e.g. jaw thrust)")
        form.addRow("What", self.drug)
        self.amount = QDoubleSpinBox()
        self.amount.setRange(0, 1000)
        self.amount.setDecimals(1)
        form.addRow("Dose", self.amount)
        self.route = QLineEdit()
        form.addRow("Route", self.route)
        self.problem = QLabel("")
        form.addRow(self.problem)
        self.buttons = ok_cancel(self)
        form.addRow(self.buttons)
        self.correction: EntryCorrection | None = None
        self.kind.currentIndexChanged.connect(self._update)
        self.drug.textChanged.connect(self._update)
        self.amount.valueChanged.connect(self._update)
        wheel_turns_focused_fields_only(self)
        self._update()

    def offer_correction(self, last: str | None) -> None:
        """Offer to correct the last intervention (``last``: how it reads), entered in error: by the one entered
        here, or by none where nothing was given."""
        self.correction = offer_correction(self, "intervention", last, "Nothing was given: none in its place (&W)")
        if self.correction is not None:
            self.correction.withdraw.toggled.connect(self._update)
            self.correction.box.toggled.connect(self._update)

    def args(self) -> dict[str, Any]:
        """The ``intervention`` command's arguments, with the correction where one is ticked."""
        correcting = {} if self.correction is None else self.correction.command_args()
        if correcting.get("withdrawn"):
            return correcting
        unit = dose.INTERVENTION_UNITS[dose.InterventionKind(self.kind.currentData())]
        return {"kind": self.kind.currentData(), "drug": self.drug.text().strip(),
                "dose": self.amount.value() if unit else None, "route": self.route.text().strip(), **correcting}

    def _update(self) -> None:
        withdrawn = self.correction is not None and self.correction.withdrawn()
        for field in (self.kind, self.drug, self.amount, self.route):
            field.setEnabled(not withdrawn)
        if withdrawn:
            self.problem.setText("No intervention stands in for the last one.")
            self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
            return
        kind = dose.InterventionKind(self.kind.currentData())
        unit = dose.INTERVENTION_UNITS[kind]
        self.amount.setEnabled(unit is not None)
        self.amount.setSuffix(f" {unit}" if unit else "")
        args = self.args()
        try:
            given = dose.intervention(kind, args["drug"], args["dose"], args["route"])
            self.problem.setText(given.text())
            ok = True
        except dose.DoseError as exc:
            self.problem.setText(str(exc))
            ok = False
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)


class QuestionnaireDialog(QDialog):
    """PHQ-9 or GAD-7, one question at a time in large type: simple enough for the patient to answer.

    Keys 0-3 (or the big buttons) answer and move on; Backspace goes back one question. No answer is chosen for
    the patient: each question opens with none of them under the keyboard, and Enter answers nothing (the
    "0 not at all" button had the keyboard, and a habitual Enter scored "not at all", at the question on thoughts
    of self-harm too). The arrow keys put the keyboard on an answer, Space chooses it.
    """

    #: What the form says when Enter is pressed before an answer is chosen.
    CHOOSE = "Choose an answer: press 0, 1, 2 or 3 (or the arrow keys, then Space)"

    def __init__(self, parent: QWidget | None, name: str) -> None:
        super().__init__(parent)
        self.questionnaire = outcomes.questionnaire(name)
        self.setWindowTitle(f"{self.questionnaire.name} - {self.questionnaire.title}")
        self.answers: list[int] = []
        layout = QVBoxLayout(self)
        self.intro = QLabel("Over the last 2 weeks, how often have you been bothered by:")
        self.intro.setStyleSheet("font-size: 16px;")
        layout.addWidget(self.intro)
        self.question = QLabel("")
        self.question.setWordWrap(True)
        self.question.setMinimumWidth(640)
        self.question.setStyleSheet("font-size: 24px; font-weight: bold;")
        self.question.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.question)
        grid = QGridLayout()
        self.choice_buttons: list[QPushButton] = []
        # One group: the arrow keys move between the answers only (not on to Cancel, where Space would end it all).
        group = QButtonGroup(self)
        for value, text in enumerate(outcomes.ANSWERS):
            button = QPushButton(f"{value}  {text}")
            button.setMinimumHeight(56)
            button.setStyleSheet("font-size: 18px;")
            button.setAutoDefault(False)  # Enter never answers, whichever answer has the keyboard
            button.clicked.connect(lambda _checked=False, v=value: self.answer(v))
            grid.addWidget(button, value // 2, value % 2)
            group.addButton(button, value)
            self.choice_buttons.append(button)
        layout.addLayout(grid)
        self.progress = QLabel("")
        self.progress.setObjectName("dim")
        layout.addWidget(self.progress)
        cancel = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        cancel.rejected.connect(self.reject)
        self.cancel_button = cancel.button(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setAutoDefault(False)
        layout.addWidget(cancel)
        self._sized = False
        self._show()

    def showEvent(self, event: QShowEvent) -> None:
        """Keep room for the longest question, in the fonts the style sheet sets: a question on two lines pushed the
        answers over each other and under "question n of 9" in a form that kept its first height."""
        if not self._sized:
            self._sized = True
            self.question.ensurePolished()
            shown = self.question.text()
            tallest = 0
            for index, item in enumerate(self.questionnaire.items):
                self.question.setText(f"{index + 1}. {item}")
                tallest = max(tallest, self.question.heightForWidth(self.question.minimumWidth()))
            self.question.setText(shown)
            self.question.setMinimumHeight(tallest)
            self.layout().activate()
        super().showEvent(event)

    def _show(self) -> None:
        q = self.questionnaire
        index = len(self.answers)
        if index < len(q.items):
            self.question.setText(f"{index + 1}. {q.items[index]}")
        self.progress.setStyleSheet("")
        self.progress.setText(f"question {min(index + 1, len(q.items))} of {len(q.items)} · 0-3 answers, "
                              "Backspace goes back")
        self.setFocus(Qt.FocusReason.OtherFocusReason)  # no answer under the keyboard: none is chosen for anyone

    def answer(self, value: int) -> None:
        """Answer the current question; the last answer finishes the questionnaire."""
        self.answers.append(value)
        if len(self.answers) == len(self.questionnaire.items):
            self.accept()
            return
        self._show()

    def _arrow(self, key: int) -> bool:
        """An arrow key puts the keyboard on the first answer when none has it (between the answers, their group
        moves it)."""
        if key not in (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down):
            return False
        self.choice_buttons[0].setFocus(Qt.FocusReason.TabFocusReason)
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """0-3 answer; Backspace goes back; arrows move between the answers; Enter answers nothing, and says so."""
        text = event.text()
        if text in ("0", "1", "2", "3"):
            self.answer(int(text))
            return
        if event.key() == Qt.Key.Key_Backspace and self.answers:
            self.answers.pop()
            self._show()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            complain(self.progress, self.CHOOSE)
            return
        if self._arrow(event.key()):
            return
        super().keyPressEvent(event)


class RespirationDialog(QDialog):
    """A respiratory check at the chair (E), where the device gives no respiratory rate: the breaths counted in a
    minute, and whether respiratory depression was seen. It answers the protocol's respiratory check (esketamine:
    at about 40 minutes) and the REMS form's question."""

    def __init__(self, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Respiratory check")
        form = QFormLayout(self)
        self.rate = QLineEdit()
        self.rate.setPlaceholderText("breaths counted in a minute")
        self.rate.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{1,2}"), self.rate))
        self.rate.setMinimumWidth(260)
        form.addRow("Respiratory rate (/min)", self.rate)
        #: Never ticked for the nurse: depression is an observation, not a default.
        self.depression = InstantCheckBox("Respiratory depression seen: slow, shallow or obstructed breathing (&Y)")
        form.addRow(self.depression)
        self.message = form_footer(self, form, "Count for a full minute, then Enter.", self._accept_if_valid)
        self.rate.returnPressed.connect(self._accept_if_valid)

    def _accept_if_valid(self) -> None:
        try:
            chair.check_score(RESPIRATION_SCALE, self.breaths(), depression=self.depression_seen())
        except ValueError as exc:
            complain(self.message, str(exc))
            return
        self.accept()

    def breaths(self) -> int | None:
        """The rate as typed (None: nothing typed)."""
        text = self.rate.text().strip()
        return int(text) if text.isdigit() else None

    def depression_seen(self) -> bool:
        """Whether respiratory depression was seen."""
        return self.depression.isChecked()


#: The longest a session is taken to run when the form looks for the moment a time typed stands for.
SESSION_SPAN_S = 2 * 86_400.0


class ReadyKnownBox(QCheckBox):
    """The REMS form's "known" box beside the ready time: typing a time ticks it, and the first press on it after
    that (a Space meant to tick it) leaves it ticked; a further press unticks it. Before, that Space unticked the box
    the typing had ticked, and no time was sent."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        #: Ticked by a time typed, not yet pressed by the nurse.
        self.ticked_by_typing = False

    def tick_for_typed_time(self) -> None:
        """A time was typed: the box is ticked, and a press on it not yet taken to untick it."""
        if not self.isChecked():
            self.setChecked(True)
            self.ticked_by_typing = True

    def nextCheckState(self) -> None:
        """A press after a typed time ticked the box confirms it; otherwise the box toggles."""
        if self.ticked_by_typing and self.isChecked():
            self.ticked_by_typing = False
            return
        self.ticked_by_typing = False
        super().nextCheckState()


class RemsDialog(QDialog):
    """The REMS form's questions the session cannot answer itself (the rest is filled from the record).

    The fields the record fills (blood pressures, concomitant medications) are offered too, for a session whose
    record left one empty (a cuff at 40 minutes that failed, a checklist taken on paper): an answer there is
    used only where the record has no value. Beside each field the record already holds, what it holds ("record: no
    (E at 16:01, 14/min)"), so an empty box is not taken for an empty record.
    """

    #: Record-filled fields a staff answer may stand in for: free text, then yes/no.
    FALLBACK_TEXT = rems.PRESSURE_KEYS
    FALLBACK_YES_NO = ("benzodiazepines", "sedative_hypnotics", "psychostimulants", "maois")

    def __init__(self, parent: QWidget | None, session_start: float, given: dict[str, Any],
                 now: float | None = None, recorded: dict[str, str] | None = None) -> None:
        super().__init__(parent)
        #: What the record holds per field (:func:`monitor.rems.recorded_answers`).
        self.recorded = dict(recorded or {})
        self.setWindowTitle("Esketamine REMS - patient monitoring form")
        self.session_start = session_start
        #: The session's time now (its own clock: a replay runs ahead of the computer's).
        self.now = time.time() if now is None else now
        form = QFormLayout(self)
        self.site = QLineEdit(str(given.get("site") or ""))
        form.addRow(rems.LABELS["site"], self.site)
        ready_at = given.get("ready_to_leave_at")
        #: The moment answered before, kept as it is unless the time shown is changed (rebuilt from the clock
        #: reading, an answer in the hour the clocks go back moved by that hour, or by a day).
        self.answered_ready = float(ready_at) if ready_at else None
        # The ready time is an answer only once the nurse says it is known: the clock's time is nobody's answer.
        self.ready_known = ReadyKnownBox("known")
        self.ready_known.setChecked(bool(ready_at))
        self.ready = QTimeEdit()
        self.ready.setDisplayFormat("HH:mm")
        moment = datetime.fromtimestamp(self.answered_ready or self.now)
        self.ready.setTime(QTime(moment.hour, moment.minute))
        self.ready.timeChanged.connect(self._ready_changed)
        #: Which of the two, where the time shown came twice in the session (the night the clocks go back).
        self.which = QComboBox()
        self.which.setVisible(False)
        ready_row = QHBoxLayout()
        ready_row.addWidget(self.ready)
        ready_row.addWidget(self.which)
        ready_row.addWidget(self.ready_known)
        form.addRow(rems.LABELS["ready_to_leave_at"], ready_row)
        self.answers: dict[str, QComboBox] = {}
        for key in ("vitals_acceptable_before_dosing", "vitals_acceptable_before_discharge",
                    "respiratory_depression"):
            self.answers[key] = self._yes_no(form, key, given, self._with_record(key))
        hint = QLabel("Only where the record has no value:")
        hint.setObjectName("dim")
        form.addRow(hint)
        self.texts: dict[str, QLineEdit] = {}
        for key in self.FALLBACK_TEXT:
            edit = QLineEdit(str(given.get(key) or ""))
            edit.setPlaceholderText("e.g. 128/82")
            # Systolic/diastolic in mmHg, nothing else: the form is sent on as written.
            edit.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{2,3}/\d{2,3}"), edit))
            form.addRow(self._with_record(key), edit)
            self.texts[key] = edit
        for key in self.FALLBACK_YES_NO:
            self.answers[key] = self._yes_no(form, key, given, self._with_record(key))
        form.addRow(ok_cancel(self))
        wheel_turns_focused_fields_only(self)

    def _with_record(self, key: str) -> str:
        """A field's label, with what the record holds for it where it holds something."""
        held = self.recorded.get(key)
        return f"{rems.LABELS[key]}\n{held}" if held else rems.LABELS[key]

    def _on_first_day(self) -> float:
        day = datetime.fromtimestamp(self.session_start)
        shown = self.ready.time()
        return day.replace(hour=shown.hour(), minute=shown.minute(), second=0, microsecond=0).timestamp()

    @staticmethod
    def _yes_no(form: QFormLayout, key: str, given: dict[str, Any], label: str) -> QComboBox:
        box = QComboBox()
        box.addItems(["", "yes", "no"])
        if key in given:
            box.setCurrentText("yes" if given[key] else "no")
        form.addRow(label, box)
        return box

    def _ready_changed(self, _time: QTime) -> None:
        self.ready_known.tick_for_typed_time()
        self.answered_ready = None
        moments = self._moments()
        # Offered only when the clock showed that time twice in the session: the zone tells them apart.
        self.which.clear()
        days = {time.strftime("%x", time.localtime(t)) for t in moments}
        shown = "%a %d %b %H:%M" if len(days) > 1 else "%H:%M"
        for t in moments:
            self.which.addItem(clock_text(t, shown, zone=True), t)
        self.which.setVisible(len(moments) > 1)

    def _moments(self) -> list[float]:
        """The moments of the session at which the clock read the time shown."""
        shown = self.ready.time()
        until = min(self.now + 60.0, self.session_start + SESSION_SPAN_S)
        return rems.clock_times(shown.hour(), shown.minute(), self.session_start, until)

    def ready_at(self) -> float | None:
        """The moment the time shown stands for: the answer given before while it is unchanged, else the moment of
        the session the clock read it (the one chosen where it read it twice); None when the session never saw
        it (refused, with the span, when recorded)."""
        if self.answered_ready is not None:
            return self.answered_ready
        moments = self._moments()
        if len(moments) > 1 and isinstance(self.which.currentData(), float):
            return float(self.which.currentData())
        return moments[0] if moments else None

    def values(self) -> dict[str, Any]:
        """The answers given (empty ones left out), the ready time once marked known."""
        out: dict[str, Any] = {}
        if self.ready_known.isChecked():
            ready = self.ready_at()
            # A time the session never saw is sent as typed on its first day, to be refused with the reason.
            out["ready_to_leave_at"] = ready if ready is not None else self._on_first_day()
        if self.site.text().strip():
            out["site"] = self.site.text().strip()
        for key, edit in self.texts.items():
            if edit.hasAcceptableInput():
                out[key] = edit.text().strip()
        for key, box in self.answers.items():
            if box.currentText():
                out[key] = box.currentText()
        return out
