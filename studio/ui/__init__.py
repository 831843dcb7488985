"""The window side of the studio: PySide6 widgets over the Qt-free graph core. Never imports torch."""
