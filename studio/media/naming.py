"""Output names from templates such as "{date}-seed{seed}-{counter}", confined to the output folder.

A template names a file (or, for PNG frames, a folder) inside the output folder; it may name sub-folders
("{date}/clip-{counter}") but never leaves the folder: "..", absolute paths and drive letters are refused. Existing
outputs are never replaced: {counter} counts on past the highest number already there, and a name without {counter}
that is taken gets "-2", "-3", ... appended. Pure standard library: the graph core uses it without media libraries.
"""
from __future__ import annotations

import datetime
import os
import re
from pathlib import Path

TOKENS = {
    "date": "the day of the export, YYYY-MM-DD",
    "time": "the time of the export, HH-MM-SS",
    "seed": "the sampler's seed; several are joined by '-'",
    "counter": "a number that moves on past existing files, 0001, 0002, ...",
}
COUNTER_DIGITS = 4
DEFAULT_TEMPLATE = "{date}-seed{seed}-{counter}"
# Characters Windows refuses in names, and control characters: a render folder may be shared with such a machine.
_FORBIDDEN = re.compile(r'[<>:"|?*\\\x00-\x1f]')
_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_COUNTER = "\x00counter\x00"  # stands for {counter} until a number is chosen; never survives into a name


class TemplateError(ValueError):
    """A name template that cannot be used; the message says why and how to fix it."""


def check_template(template: str) -> None:
    """Raise TemplateError unless `template` is a usable name template (tokens known, stays inside the folder)."""
    _expand(template, seed="0", now=datetime.datetime(2000, 1, 1))


def output_path(folder: Path, template: str, suffix: str, *, seed: str = "", overwrite: bool = False,
                now: datetime.datetime | None = None, start: int = 1) -> Path:
    """The first free path for `template` + `suffix` ("" for a PNG-frames folder) inside `folder`.

    With overwrite, a template without {counter} names its path even when it is taken. `start` skips counters below
    it (after losing a race for a name, ask again with the number after the one that was lost).
    """
    pattern = _expand(template, seed=seed, now=now or datetime.datetime.now())
    if _COUNTER not in pattern:
        plain = folder / (pattern + suffix)
        if start <= 1 and (overwrite or not is_taken(plain)):
            return plain
        pattern += "-" + _COUNTER
        start = max(start, 2)
        digits = 1  # clip-2.mp4, not clip-0002.mp4
    else:
        digits = COUNTER_DIGITS
    number = max(start, _highest_counter(folder, pattern, suffix) + 1)
    while True:
        path = folder / (pattern.replace(_COUNTER, f"{number:0{digits}d}") + suffix)
        if not is_taken(path):
            return path
        number += 1


def is_taken(path: Path) -> bool:
    """Whether writing `path` would replace something; an empty folder is free to hold frames."""
    if path.is_symlink():
        return True
    if path.is_dir():
        return any(path.iterdir())
    return path.exists()


def confined(folder: Path, path: Path) -> bool:
    """Whether `path` stays inside `folder` once symbolic links are followed."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def split_output_path(out: str) -> tuple[str, str, str]:
    """(folder, name template, format) that write exactly `out`: FILE.mp4 / .webm / .gif, or DIR/ for PNG frames.

    Braces in the name are escaped, so the file is named literally. The format of a file is its suffix, lower-cased
    (the caller checks it is one it can write).
    """
    as_folder = out.endswith(("/", os.sep))
    head, leaf = os.path.split(out.rstrip("/" + os.sep) or out)
    folder = head or "."
    if as_folder:
        name, kind = leaf, "png"
    else:
        stem, dot, suffix = leaf.rpartition(".")
        name, kind = (stem, suffix.lower()) if dot and stem else (leaf, "")
    return folder, name.replace("{", "{{").replace("}", "}}"), kind


def output_params(out: str) -> dict[str, str]:
    """Save Video's folder, name and format parameters that write exactly `out` (see split_output_path)."""
    folder, name, kind = split_output_path(out)
    return {"folder": folder, "name": name, "format": kind}


def _expand(template: str, *, seed: str, now: datetime.datetime) -> str:
    if not isinstance(template, str) or not template.strip():
        raise TemplateError("the name is empty; try " + DEFAULT_TEMPLATE)
    values = {"date": now.strftime("%Y-%m-%d"), "time": now.strftime("%H-%M-%S"), "seed": seed,
              "counter": _COUNTER}
    pieces: list[str] = []
    position = 0
    for match in _FIELD.finditer(template):
        text, token = match.group(0), match.group(1)
        if text in ("{", "}"):
            raise TemplateError(f"unmatched {text!r} in {template!r}; write {text * 2!r} for a literal brace")
        if token is not None and token not in TOKENS:
            raise TemplateError(f"unknown token {{{token}}} in {template!r}; known tokens: "
                                + ", ".join(f"{{{name}}} ({meaning})" for name, meaning in TOKENS.items()))
        pieces += [template[position:match.start()], values[token] if token is not None else text[0]]
        position = match.end()
    pieces.append(template[position:])
    name = "".join(pieces)
    if name.count(_COUNTER) > 1:
        raise TemplateError(f"{{counter}} appears more than once in {template!r}")
    _check_confined(name, template)
    return name


def _check_confined(name: str, template: str) -> None:
    where = f"the name {template!r} must stay inside the output folder"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise TemplateError(f"{where}: it is an absolute path")
    bad = _FORBIDDEN.search(name.replace(_COUNTER, ""))
    if bad:
        hint = "; use '/' for sub-folders" if bad.group(0) == "\\" else ""
        raise TemplateError(f"the name {template!r} contains {bad.group(0)!r}, which file names cannot hold{hint}")
    parts = name.split("/")
    if ".." in parts:
        raise TemplateError(f"{where}: '..' leads out of it")
    if any(part.strip() in ("", ".") for part in parts):
        raise TemplateError(f"the name {template!r} has an empty part between separators")


def _highest_counter(folder: Path, pattern: str, suffix: str) -> int:
    # Count on from the highest number present, so a deleted render's number is not handed out again.
    parts = (pattern + suffix).split("/")
    index = next(i for i, part in enumerate(parts) if _COUNTER in part)
    regex = re.compile(re.escape(parts[index]).replace(re.escape(_COUNTER), r"(\d+)") + r"\Z")
    try:
        names = os.listdir(folder.joinpath(*parts[:index]))
    except OSError:  # the folder does not exist yet: nothing to count past
        return 0
    return max((int(m.group(1)) for m in map(regex.match, names) if m), default=0)
