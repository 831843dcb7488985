"""Errors a node raises for problems the user can fix; the engine reports them on the node, without a traceback."""
from __future__ import annotations


class NodeError(Exception):
    """A user-facing failure of one node, optionally naming the parameter or input at fault."""

    def __init__(self, message: str, *, param: str | None = None, input: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.input = input

    def located(self, node_id: str) -> str:
        from studio.graph.validation import where

        return f"{where(node_id, self.input, self.param)}: {self.message}"


class Cancelled(Exception):
    """The run was cancelled by the user; raised from RunContext.check_aborted()."""
