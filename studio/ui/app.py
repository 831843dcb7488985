"""Starting the window: `studio gui [WORKFLOW] [--run] [--screenshot PNG]`."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from studio import __version__
from studio.paths import WORKFLOWS

DEFAULT_WORKFLOW = WORKFLOWS / "text_to_video.json"


def make_application():
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from studio.ui.theme import apply_theme

    QApplication.setOrganizationName("studio")
    QApplication.setApplicationName("studio")
    QApplication.setApplicationVersion(__version__)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    if os.environ.get("STUDIO_CONFIG_DIR"):  # tests and portable set-ups keep settings out of the home folder
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, os.environ["STUDIO_CONFIG_DIR"])
    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app)
    return app


def run_gui(workflow: str | None = None, run: bool = False, screenshot: str | None = None) -> int:
    """Open the window; with --run/--screenshot it works unattended and exits when done (0, or 1 on failure)."""
    from PySide6.QtCore import QTimer

    from studio.ui.main_window import MainWindow

    app = make_application()
    unattended = run or screenshot is not None
    window = MainWindow(interactive=not unattended)
    path = Path(workflow) if workflow else DEFAULT_WORKFLOW
    opened = window.open_path(path)
    if not opened and unattended:
        print(f"studio gui: cannot open {path}", file=sys.stderr)
        window.close()
        return 1
    if unattended:
        window.resize(1600, 1000)  # pictures for docs and CI do not depend on a saved window size
    window.show()
    outcome = {"code": 0}

    def finish(failure: str = "") -> None:
        if failure:
            print(f"studio gui: {failure}", file=sys.stderr)
            outcome["code"] = 1
        # Let the last events paint (timeline timer, node cards) before the picture is taken.
        QTimer.singleShot(400, lambda: take_screenshot_and_quit())

    def take_screenshot_and_quit() -> None:
        if screenshot:
            target = Path(screenshot)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not window.grab().save(str(target)):
                print(f"studio gui: cannot write the screenshot {target}", file=sys.stderr)
                outcome["code"] = 1
        window.close()
        app.quit()

    if run:
        def on_finished(queued) -> None:
            finish("" if queued.status == "done" else f"run {queued.status}: {queued.message}")

        window.runner.run_finished.connect(on_finished)
        QTimer.singleShot(0, lambda: window.run_workflow() or finish("the workflow has problems (see the log)"))
    elif screenshot:
        finish()
    else:
        QTimer.singleShot(0, window.offer_recovery)
    app.exec()
    return outcome["code"]
