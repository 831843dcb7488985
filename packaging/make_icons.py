"""Draws the studio's icon: the scalable SVG and the PNG sizes of the hicolor theme, into resources/icons/.

    .venv/bin/python packaging/make_icons.py

The motif is a film frame (perforated strip) holding a small node graph: one source node feeding two others.
The PNGs are rendered from the SVG with Qt, so every size is the same picture; the files are committed.
"""
from __future__ import annotations

import sys
from pathlib import Path

APP_ID = "io.github.studio.Studio"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons" / "hicolor"


def perforations(y: int) -> str:
    return "".join(f'<rect x="{x}" y="{y}" width="36" height="26" rx="7" fill="#e8ecf4" fill-opacity="0.55"/>'
                   for x in range(78, 434, 64))


SVG = f"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512" viewBox="0 0 512 512">
  <defs>
    <linearGradient id="frame" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#34405f"/>
      <stop offset="1" stop-color="#1a2033"/>
    </linearGradient>
  </defs>
  <rect x="24" y="24" width="464" height="464" rx="92" fill="url(#frame)"/>
  {perforations(52)}
  {perforations(434)}
  <rect x="56" y="102" width="400" height="308" rx="28" fill="#0f1320" fill-opacity="0.7"/>
  <g fill="none" stroke="#dfe6f2" stroke-width="20" stroke-linecap="round">
    <path d="M160 256 C 250 256, 260 180, 352 180"/>
    <path d="M160 256 C 250 256, 260 332, 352 332"/>
  </g>
  <circle cx="148" cy="256" r="50" fill="#4fc3f7"/>
  <circle cx="364" cy="180" r="42" fill="#ffb74d"/>
  <circle cx="364" cy="332" r="42" fill="#81c784"/>
</svg>
"""


def main() -> int:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (Qt needs it for painting)
    scalable = ICONS / "scalable" / "apps" / f"{APP_ID}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    scalable.write_text(SVG, encoding="utf-8")
    renderer = QSvgRenderer(SVG.encode())
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        target = ICONS / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(str(target), "PNG")
        print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
