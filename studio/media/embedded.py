"""The workflow inside a render: written into every export, read back so a render can be opened and re-rendered.

Where it lives, per format (always the same compact JSON text, the workflow with the values actually used):
  mp4, mov      a `studio_workflow` metadata tag (kept by the mp4 muxer's use_metadata_tags)
  webm, mkv     a Matroska tag, which the muxer upper-cases to `STUDIO_WORKFLOW`
  png           an iTXt text chunk `studio_workflow` (zlib-compressed) in each frame
  gif           a GIF comment extension
PNG and GIF are parsed here with the standard library; containers are read with PyAV, imported only when needed,
so the graph core can call read_embedded_workflow without pulling in media libraries for plain JSON files.
"""
from __future__ import annotations

import errno
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

WORKFLOW_TAG = "studio_workflow"
WORKFLOW_FORMAT = "studio.workflow"
CONTAINER_SUFFIXES = (".mp4", ".m4v", ".mov", ".webm", ".mkv")
MEDIA_SUFFIXES = (*CONTAINER_SUFFIXES, ".gif", ".png")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_TEXT = 16 * 1024 * 1024  # a workflow is kilobytes; a text chunk that inflates past this is not one of ours


class EmbeddedWorkflowError(ValueError):
    """A media file whose workflow tag is present but cannot be read; the message names the file."""


def workflow_text(workflow: dict[str, Any]) -> str:
    """The text embedded in renders: compact, ASCII-only JSON (GIF comments and PNG keywords are 7-bit safe)."""
    return json.dumps(workflow, ensure_ascii=True, separators=(",", ":"))


def is_media_path(path: str | os.PathLike) -> bool:
    """Whether `path` names a render that may carry a workflow: a media file, or a folder holding PNG frames."""
    path = Path(path)
    if path.is_dir():
        return _first_png(path) is not None
    return path.suffix.lower() in MEDIA_SUFFIXES


def read_embedded_workflow(path: str | os.PathLike) -> dict[str, Any] | None:
    """The workflow a render carries, as parsed JSON, or None when it carries none.

    Accepts mp4/mov/webm/mkv/gif/png files and folders of PNG frames (the first frame is read). Raises
    EmbeddedWorkflowError when the tag is there but damaged, OSError when the file cannot be read.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "no such file or folder", str(path))
    if path.is_dir():
        frame = _first_png(path)
        return None if frame is None else read_embedded_workflow(frame)
    suffix = path.suffix.lower()
    if suffix == ".png":
        texts = [text for key, text in png_texts(path.read_bytes()) if key == WORKFLOW_TAG]
    elif suffix == ".gif":
        texts = [text for text in gif_comments(path.read_bytes()) if WORKFLOW_FORMAT in text]
    elif suffix in CONTAINER_SUFFIXES:
        texts = _container_tags(path)
    else:
        return None
    if not texts:
        return None
    try:
        data = json.loads(texts[0])
    except json.JSONDecodeError as exc:
        raise EmbeddedWorkflowError(f"{path} carries a damaged workflow ({exc.msg} at character {exc.pos})") from None
    if not isinstance(data, dict):
        raise EmbeddedWorkflowError(f"{path} carries a workflow tag that is not a JSON object")
    return data


def _first_png(folder: Path) -> Path | None:
    names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() == ".png" and not p.name.startswith("."))
    return folder / names[0] if names else None


def _container_tags(path: Path) -> list[str]:
    import av
    from av.error import FFmpegError

    try:
        with av.open(str(path)) as container:
            metadata = dict(container.metadata)
    except (FFmpegError, ValueError) as exc:
        raise OSError(f"cannot read {path}: {exc}") from None
    return [value for key, value in metadata.items() if key.lower() == WORKFLOW_TAG]  # Matroska upper-cases it


# ---------------------------------------------------------------- PNG text chunks


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_with_text(png: bytes, keyword: str, text: str) -> bytes:
    """`png` with a compressed iTXt chunk (keyword -> UTF-8 text) right after its header chunk."""
    if not png.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    header_end = len(_PNG_SIGNATURE) + 8 + struct.unpack(">I", png[8:12])[0] + 4  # IHDR: length, type, data, crc
    # keyword NUL, compressed flag 1, method 0 (zlib), empty language tag NUL, empty translated keyword NUL
    payload = keyword.encode("latin-1") + b"\x00\x01\x00\x00\x00" + zlib.compress(text.encode("utf-8"), 6)
    return png[:header_end] + _png_chunk(b"iTXt", payload) + png[header_end:]


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, _MAX_TEXT)
    if inflater.unconsumed_tail:
        raise zlib.error("text chunk too large")
    return out


def png_texts(png: bytes) -> list[tuple[str, str]]:
    """(keyword, text) of every tEXt, zTXt and iTXt chunk; damaged chunks are skipped."""
    if not png.startswith(_PNG_SIGNATURE):
        return []
    found: list[tuple[str, str]] = []
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[position:position + 8])
        payload = png[position + 8:position + 8 + length]
        position += 12 + length
        try:
            if kind == b"tEXt":
                key, _, value = payload.partition(b"\x00")
                found.append((key.decode("latin-1"), value.decode("latin-1")))
            elif kind == b"zTXt":
                key, _, rest = payload.partition(b"\x00")
                found.append((key.decode("latin-1"), _inflate(rest[1:]).decode("latin-1")))
            elif kind == b"iTXt":
                key, _, rest = payload.partition(b"\x00")
                compressed, rest = rest[0], rest[2:]
                _language, _, rest = rest.partition(b"\x00")
                _translated, _, value = rest.partition(b"\x00")
                found.append((key.decode("latin-1"), (_inflate(value) if compressed else value).decode()))
            elif kind == b"IEND":
                break
        except (zlib.error, UnicodeDecodeError, IndexError):
            continue
    return found


# ---------------------------------------------------------------- GIF comments


def _gif_color_table_size(packed: int) -> int:
    return 3 * 2 ** ((packed & 0x07) + 1) if packed & 0x80 else 0


def _gif_sub_blocks(data: bytes, position: int) -> tuple[bytes, int]:
    """The joined sub-blocks starting at `position`, and the position after their terminator."""
    pieces = []
    while position < len(data) and data[position]:
        size = data[position]
        pieces.append(data[position + 1:position + 1 + size])
        position += 1 + size
    return b"".join(pieces), position + 1


def gif_with_comment(gif: bytes, text: str) -> bytes:
    """`gif` with a comment extension holding `text` (ASCII) before its first frame."""
    if not gif.startswith((b"GIF87a", b"GIF89a")):
        raise ValueError("not a GIF file")
    start = 13 + _gif_color_table_size(gif[10])
    raw = text.encode("ascii")
    blocks = b"".join(bytes([len(piece)]) + piece for piece in (raw[i:i + 255] for i in range(0, len(raw), 255)))
    return b"GIF89a" + gif[6:start] + b"\x21\xfe" + blocks + b"\x00" + gif[start:]


def gif_comments(gif: bytes) -> list[str]:
    """The text of every comment extension, in file order; parsing stops at anything malformed."""
    if not gif.startswith((b"GIF87a", b"GIF89a")) or len(gif) < 13:
        return []
    comments: list[str] = []
    position = 13 + _gif_color_table_size(gif[10])
    while position < len(gif):
        introducer = gif[position]
        if introducer == 0x21 and position + 1 < len(gif):  # extension: label, then sub-blocks
            label = gif[position + 1]
            body, position = _gif_sub_blocks(gif, position + 2)
            if label == 0xFE:
                comments.append(body.decode("latin-1"))
        elif introducer == 0x2C and position + 10 <= len(gif):  # image: descriptor, colour table, LZW data
            position += 10 + _gif_color_table_size(gif[position + 9]) + 1
            _, position = _gif_sub_blocks(gif, position)
        else:  # 0x3B trailer, or damage
            break
    return comments


def fill_params_as_used(workflow: dict[str, Any], registry: Any, base_dir: Path) -> dict[str, Any]:
    """Make `workflow` (in place) say what ran: every node's defaults filled in, and relative path parameters that
    name existing files made absolute against `base_dir`, so it re-renders from wherever it is opened. Returns it."""
    for entry in workflow.get("nodes", {}).values():
        spec = registry.get(entry.get("type", ""))
        if spec is None:
            continue
        params = entry["params"] = {**spec.default_params(), **entry.get("params", {})}
        for param in spec.params:
            value = params.get(param.name)
            if param.path and isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                resolved = base_dir / Path(value).expanduser()
                if resolved.exists():  # a bare model name ("shapes") is not a path: it stays as it is
                    params[param.name] = str(resolved)
    return workflow
