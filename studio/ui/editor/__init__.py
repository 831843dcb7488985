"""The node editor: a thin QGraphicsView layer over the Qt-free graph model.

The model changes only through the undo commands in `commands`; the scene redraws from the model's events.
"""
from studio.ui.editor.search import NODE_TYPE_MIME
from studio.ui.editor.view import GraphEditor

__all__ = ["GraphEditor", "NODE_TYPE_MIME"]
