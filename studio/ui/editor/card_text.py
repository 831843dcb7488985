"""What a node card says in words: run status, parameter values and the node's report, wrapped and elided to fit.
Shared by the cards and the inspector, so both word a state the same way."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetricsF

from studio.graph.registry import Param
from studio.graph.types import ParamType
from studio.ui import theme


@dataclass
class NodeStatus:
    state: str = "idle"
    step: int | None = None
    total: int | None = None
    message: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Fonts:
    """Fonts and metrics, made once the application exists (QFont needs it) and shared by every card."""

    _ready = False

    @classmethod
    def get(cls) -> type[Fonts]:
        if not cls._ready:
            cls.title = theme.ui_font(9.5, bold=True)
            cls.body = theme.ui_font(8.5)
            cls.small = theme.ui_font(8.0)
            cls.badge = theme.ui_font(7.5, bold=True)
            cls.italic = theme.ui_font(8.5)
            cls.italic.setItalic(True)
            cls.title_metrics = QFontMetricsF(cls.title)
            cls.body_metrics = QFontMetricsF(cls.body)
            cls.small_metrics = QFontMetricsF(cls.small)
            cls.italic_metrics = QFontMetricsF(cls.italic)
            cls.badge_metrics = QFontMetricsF(cls.badge)
            cls._widths: dict[str, float] = {}
            cls._ready = True
        return cls

    @classmethod
    def label_width(cls, text: str) -> float:
        """Body-font width of a port or parameter name; names repeat across cards, and shaping text is slow."""
        width = cls._widths.get(text)
        if width is None:
            width = cls._widths[text] = cls.body_metrics.horizontalAdvance(text)
        return width


def wrap_lines(text: str, metrics: QFontMetricsF, width: float, max_lines: int) -> list[str]:
    """Word-wrap `text` (keeping its line breaks) to `width`, at most `max_lines` lines; the last one is elided
    when text remains."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split(" "):
            candidate = f"{current} {word}" if current else word
            if metrics.horizontalAdvance(candidate) <= width or not current:
                current = candidate
            else:
                lines.append(current)
                current = word
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines - 1] + [" ".join(lines[max_lines - 1:]) + " …"]
    return [metrics.elidedText(line, Qt.TextElideMode.ElideRight, width) for line in lines]


def format_value(param: Param | None, value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if param is not None and param.type is ParamType.STRING and value == "":
        return "—"
    return str(value)


def info_lines(info: dict[str, Any]) -> list[tuple[str, bool]]:
    """The node's report as (text, is_warning) lines: token counts first, then warnings, then other plain facts."""
    lines: list[tuple[str, bool]] = []
    rest = dict(info)
    if "tokens" in rest:
        tokens, limit = rest.pop("tokens"), rest.pop("max_tokens", None)
        lines.append((f"{tokens}/{limit} tokens" if limit else f"{tokens} tokens", False))
        if rest.pop("truncated", False):
            lines.append((f"⚠ truncated: only the first {limit} tokens are read", True))
    for warning in rest.pop("warnings", None) or []:
        lines.append((f"⚠ {warning}", True))
    plain = [f"{key}: {value:g}" if isinstance(value, float) else f"{key}: {value}"
             for key, value in rest.items() if isinstance(value, (str, int, float)) and not isinstance(value, bool)]
    if plain:
        lines.append(("  ·  ".join(plain), False))
    return lines
