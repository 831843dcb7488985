"""The Export dialog: the last run's final frames, or any step's previews, as mp4, webm, GIF or PNG frames.

Opened from the timeline's Export… button and File ▸ Export… (Ctrl+E). The file carries the workflow of the run
that made the frames (seed included), so dropping it on the studio brings the graph back; mp4, GIF and PNG can also
carry a C2PA manifest. The export runs in a thread (studio/ui/export_job.py) with a progress bar and a Cancel that
leaves nothing behind; a problem is shown in the dialog naming the field at fault, and the dialog stays usable.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, Qt, QUrl
from PySide6.QtGui import QCloseEvent, QDesktopServices
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from studio.media import naming, writers
from studio.media.export import Export
from studio.media.video_io import Video
from studio.ui.export_job import ExportJob, ExportRequest, ExportSource
from studio.ui.preview_store import Step
from studio.ui.theme import ERROR, TEXT_DIM

FORMAT_LABELS = {"mp4": "mp4 — H.264", "webm": "webm — VP9", "gif": "GIF — animated",
                 "png": "PNG frames — a folder"}
UPSCALES = (1, 2, 4)
FIELD_LABELS = {"source": "Source", "folder": "Folder", "name": "Name", "format": "Format", "fps": "FPS",
                "crf": "Quality (CRF)", "upscale": "Upscale", "provenance": "Provenance"}
SETTINGS_PREFIX = "export/"
STYLE = f"""
QLabel#exportMessage[kind="error"] {{ color: {ERROR.name()}; }}
QLabel#exportMessage[kind="info"] {{ color: {TEXT_DIM.name()}; }}
QLabel#exportResult {{ color: #7bd88f; }}
QLineEdit[invalid="true"] {{ border-color: {ERROR.name()}; }}
QLabel#exportHint {{ color: {TEXT_DIM.name()}; }}
"""


def default_folder() -> Path:
    """The user's videos folder (home when the system names none)."""
    movies = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MoviesLocation)
    return Path(movies) if movies else Path.home()


class ExportDialog(QDialog):
    """Export one clip of `source`; `step`/`node` say what the timeline shows (the default without final frames)."""

    def __init__(self, source: ExportSource, parent: QWidget | None = None, step: Step | None = None,
                 node: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export clip")
        self.setStyleSheet(STYLE)
        self.source = source
        self.settings = QSettings()
        self.job: ExportJob | None = None
        self.last_export: Export | None = None
        self._build()
        self._restore()
        self.source_combo.setCurrentIndex(source.default_index(step, node))
        self._source_changed()
        self._format_changed()
        self.resize(max(self.sizeHint().width(), 560), self.sizeHint().height())

    # -- widgets
    def _build(self) -> None:
        self.source_combo = QComboBox()
        for choice in self.source.choices:
            self.source_combo.addItem(choice.label)
        self.source_combo.currentIndexChanged.connect(self._source_changed)
        self.folder_edit = QLineEdit()
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self.browse)
        folder_row = QHBoxLayout()
        folder_row.setContentsMargins(0, 0, 0, 0)
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.browse_button)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText(naming.DEFAULT_TEMPLATE)
        tokens = "  ".join(f"{{{token}}}" for token in naming.TOKENS)
        self.name_edit.setToolTip("File name; sub-folders with '/'. Filled in: "
                                  + "; ".join(f"{{{k}}} {v}" for k, v in naming.TOKENS.items())
                                  + ". Nothing is overwritten: the counter moves on past existing files.")
        self.name_hint = QLabel(f"{tokens} · existing files are never replaced", objectName="exportHint")
        self.format_combo = QComboBox()
        for kind in writers.FORMATS:
            self.format_combo.addItem(FORMAT_LABELS.get(kind, kind), kind)
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self.fps_spin = QDoubleSpinBox(decimals=2, minimum=1.0, maximum=240.0, singleStep=1.0, suffix=" fps")
        self.crf_spin = QSpinBox(minimum=0, maximum=51, value=18)
        self.crf_spin.setToolTip("Lower is better and larger: 18 is visually lossless for H.264")
        self.upscale_combo = QComboBox()
        for factor in UPSCALES:
            self.upscale_combo.addItem(f"×{factor}", factor)
        self.upscale_combo.setToolTip("Enlarge each frame (Lanczos), so small renders are watchable")
        self.provenance_check = QCheckBox("Embed provenance (C2PA)")
        self.provenance_check.setChecked(True)

        self.fields = QWidget()
        form = QFormLayout(self.fields)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.addRow("Source", self.source_combo)
        form.addRow("Folder", folder_row)
        form.addRow("Name", self.name_edit)
        form.addRow("", self.name_hint)
        settings_row = QHBoxLayout()
        settings_row.setContentsMargins(0, 0, 0, 0)
        for label, widget in (("", self.format_combo), ("Upscale", self.upscale_combo)):
            if label:
                settings_row.addSpacing(12)
                settings_row.addWidget(QLabel(label))
            settings_row.addWidget(widget)
        settings_row.addStretch(1)
        form.addRow("Format", settings_row)
        rate_row = QHBoxLayout()
        rate_row.setContentsMargins(0, 0, 0, 0)
        rate_row.addWidget(self.fps_spin)
        rate_row.addSpacing(12)
        self.crf_label = QLabel("Quality (CRF)")
        rate_row.addWidget(self.crf_label)
        rate_row.addWidget(self.crf_spin)
        rate_row.addStretch(1)
        form.addRow("Frame rate", rate_row)
        form.addRow("", self.provenance_check)

        self.message_label = QLabel(objectName="exportMessage", wordWrap=True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.hide()
        self.progress_bar = QProgressBar(textVisible=True)
        self.progress_bar.setFormat("%v / %m frames")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the export; nothing is written")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_row = QWidget()
        progress_layout = QHBoxLayout(self.progress_row)
        progress_layout.setContentsMargins(0, 0, 0, 0)
        progress_layout.addWidget(self.progress_bar, 1)
        progress_layout.addWidget(self.cancel_button)
        self.progress_row.hide()
        self.result_label = QLabel(objectName="exportResult", wordWrap=True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_folder_button = QPushButton("Open containing folder")
        self.open_folder_button.clicked.connect(self.open_containing_folder)
        self.result_row = QWidget()
        result_layout = QHBoxLayout(self.result_row)
        result_layout.setContentsMargins(0, 0, 0, 0)
        result_layout.addWidget(self.result_label, 1)
        result_layout.addWidget(self.open_folder_button, 0, Qt.AlignmentFlag.AlignTop)
        self.result_row.hide()

        self.export_button = QPushButton("Export", default=True)
        self.export_button.clicked.connect(self.start_export)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.close_button)

        column = QVBoxLayout(self)
        column.setContentsMargins(14, 14, 14, 12)
        column.setSpacing(8)
        column.addWidget(self.fields)
        column.addWidget(self.message_label)
        column.addWidget(self.progress_row)
        column.addWidget(self.result_row)
        column.addStretch(1)
        column.addLayout(buttons)
        self.field_widgets = {"source": self.source_combo, "folder": self.folder_edit, "name": self.name_edit,
                              "format": self.format_combo, "fps": self.fps_spin, "crf": self.crf_spin,
                              "upscale": self.upscale_combo, "provenance": self.provenance_check}
        if not self.source.choices:
            self.export_button.setEnabled(False)
            self._say("There is nothing to export yet: run the workflow first.", "info")

    def _restore(self) -> None:
        value = self.settings.value
        self.folder_edit.setText(str(value(SETTINGS_PREFIX + "folder", "") or default_folder()))
        self.name_edit.setText(str(value(SETTINGS_PREFIX + "name", "") or naming.DEFAULT_TEMPLATE))
        index = self.format_combo.findData(value(SETTINGS_PREFIX + "format", "mp4"))
        self.format_combo.setCurrentIndex(max(index, 0))
        index = self.upscale_combo.findData(_int(value(SETTINGS_PREFIX + "upscale", 1), 1))
        self.upscale_combo.setCurrentIndex(max(index, 0))
        self._crf = {kind: _int(value(f"{SETTINGS_PREFIX}crf_{kind}", 18 if kind == "mp4" else 32), 18)
                     for kind in writers.CRF_RANGE}
        self.provenance_check.setChecked(str(value(SETTINGS_PREFIX + "provenance", "true")).lower() != "false")

    def _remember(self) -> None:
        for key, setting in (("folder", self.folder_edit.text().strip()), ("name", self.name_edit.text()),
                             ("format", self.format), ("upscale", self.upscale_combo.currentData()),
                             ("provenance", self.provenance_check.isChecked())):
            self.settings.setValue(SETTINGS_PREFIX + key, setting)
        if self.format in writers.CRF_RANGE:
            self.settings.setValue(f"{SETTINGS_PREFIX}crf_{self.format}", self.crf_spin.value())

    # -- reacting to the fields
    @property
    def format(self) -> str:
        return self.format_combo.currentData()

    def _source_changed(self, *_: object) -> None:
        choice = self.current_choice()
        if choice is not None:
            self.fps_spin.setValue(choice.fps)

    def current_choice(self):
        index = self.source_combo.currentIndex()
        return self.source.choices[index] if 0 <= index < len(self.source.choices) else None

    def _format_changed(self, *_: object) -> None:
        kind, previous = self.format, getattr(self, "_crf_format", None)
        if previous in writers.CRF_RANGE:
            self._crf[previous] = self.crf_spin.value()  # each format keeps its own quality
        self._crf_format = kind
        has_crf = kind in writers.CRF_RANGE
        if has_crf:
            low, high = writers.CRF_RANGE[kind]
            self.crf_spin.setRange(low, high)
            self.crf_spin.setValue(self._crf[kind])
        self.crf_spin.setEnabled(has_crf)
        self.crf_label.setEnabled(has_crf)
        signable = kind != "webm"
        self.provenance_check.setEnabled(signable)
        self.provenance_check.setToolTip(
            "Sign the file with a C2PA manifest marking it as AI-generated (a local key)" if signable else
            "webm cannot carry a C2PA manifest; it carries the workflow only")

    def browse(self) -> None:
        start = self.folder_edit.text().strip() or str(default_folder())
        chosen = QFileDialog.getExistingDirectory(self, "Export into folder", start)
        if chosen:
            self.folder_edit.setText(chosen)

    # -- exporting
    def request(self) -> ExportRequest | None:
        """The export the fields describe, or None after showing what is wrong with them."""
        self._clear_problem()
        self.result_row.hide()  # a new attempt: the last one's result and progress no longer apply
        self.progress_row.hide()
        choice = self.current_choice()
        if choice is None:
            return self._problem("there is nothing to export: run the workflow first", "source")
        folder = self.folder_edit.text().strip()
        if not folder:
            return self._problem("choose a folder to export into", "folder")
        name = self.name_edit.text()
        try:
            naming.check_template(name)
        except naming.TemplateError as exc:
            return self._problem(str(exc), "name")
        return ExportRequest(
            Video(choice.frames, choice.fps), Path(folder).expanduser(), name, self.format,
            fps=self.fps_spin.value(), crf=self.crf_spin.value() if self.format in writers.CRF_RANGE else 18,
            upscale=self.upscale_combo.currentData(),
            provenance=self.provenance_check.isChecked() and self.provenance_check.isEnabled(),
            workflow=self.source.workflow, seed=self.source.seed, model=self.source.model)

    def start_export(self) -> ExportJob | None:
        """Start exporting in a thread; returns the job (None when a field is wrong or one is running)."""
        if self.job is not None:
            return None
        self.last_export = None
        request = self.request()
        if request is None:
            return None
        self.progress_bar.setRange(0, request.video.num_frames)
        self.progress_bar.setValue(0)
        self.progress_row.show()
        self._set_busy(True)
        self.job = ExportJob(request)
        self.job.progress.connect(self._progress)
        self.job.succeeded.connect(self._succeeded)
        self.job.failed.connect(self._failed)
        self.job.cancelled.connect(self._cancelled)
        self.job.done.connect(self._job_done)
        self.job.start()
        return self.job

    def cancel(self) -> None:
        if self.job is not None:
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Cancelling…")
            self.job.cancel()

    def _set_busy(self, busy: bool) -> None:
        self.fields.setEnabled(not busy)
        self.export_button.setEnabled(not busy and bool(self.source.choices))
        self.cancel_button.setEnabled(busy)
        self.cancel_button.setText("Cancel")

    def _progress(self, done: int, total: int) -> None:
        self.progress_bar.setMaximum(max(total, 1))
        self.progress_bar.setValue(min(done, total))

    def _succeeded(self, export: Export) -> None:
        self.last_export = export
        self.progress_bar.setValue(self.progress_bar.maximum())
        self._remember()
        what = "frames folder" if self.format == "png" else "file"
        facts = "with the workflow" + (" and a C2PA manifest" if export.signed else "")
        self.result_label.setText(f"Saved {what} {export.path}\n{facts}")
        self.result_label.setToolTip(str(export.path))
        self.result_row.show()
        if export.warnings:
            self._say("\n".join(export.warnings), "info")

    def _failed(self, message: str, param: object) -> None:
        self.progress_bar.setValue(0)
        self._problem(message, param if isinstance(param, str) else None)

    def _cancelled(self) -> None:
        self.progress_bar.setValue(0)
        self._say("Export cancelled: nothing was written.", "info")

    def _job_done(self) -> None:
        self.job = None
        self._set_busy(False)

    def open_containing_folder(self) -> None:
        if self.last_export is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.last_export.path.parent)))

    # -- messages
    def _problem(self, message: str, param: str | None) -> None:
        """Show `message` naming the field at fault, mark that field, and give it the focus."""
        label = FIELD_LABELS.get(param or "", "")
        self._say(f"{label}: {message}" if label else message[:1].upper() + message[1:], "error")
        widget = self.field_widgets.get(param or "")
        if isinstance(widget, QLineEdit):
            _set_property(widget, "invalid", True)
        if widget is not None:
            widget.setFocus()
        return None

    def _clear_problem(self) -> None:
        self.message_label.hide()
        for widget in (self.folder_edit, self.name_edit):
            _set_property(widget, "invalid", False)

    def _say(self, text: str, kind: str) -> None:
        _set_property(self.message_label, "kind", kind)
        self.message_label.setText(text)
        self.message_label.show()

    # -- closing
    def closeEvent(self, event: QCloseEvent) -> None:
        self.stop()
        super().closeEvent(event)

    def reject(self) -> None:  # Escape
        self.stop()
        super().reject()

    def stop(self) -> None:
        """Cancel a running export and wait for its thread, so nothing outlives the dialog half-written."""
        job = self.job
        if job is not None:
            job.cancel()
            job.wait()


def _set_property(widget: QWidget, name: str, value: object) -> None:
    if widget.property(name) != value:
        widget.setProperty(name, value)
        widget.style().unpolish(widget)
        widget.style().polish(widget)


def _int(value: object, fallback: int) -> int:
    try:
        return int(value)  # QSettings' ini format hands numbers back as strings
    except (TypeError, ValueError):
        return fallback
