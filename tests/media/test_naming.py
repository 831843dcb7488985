"""Output names from templates: tokens, the counter, and names that would leave the output folder."""
from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.media.naming import TemplateError, check_template, output_path, split_output_path

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5)


def test_tokens_are_filled_in():
    path = output_path(Path("/renders"), "{date}_{time}_seed{seed}", ".mp4", seed="7", now=NOW)
    assert path.name == "2026-01-02_03-04-05_seed7.mp4"


def test_the_counter_starts_at_one_and_moves_on_past_the_highest_number(tmp_path):
    assert output_path(tmp_path, "clip-{counter}", ".mp4").name == "clip-0001.mp4"
    (tmp_path / "clip-0001.mp4").write_bytes(b"")
    (tmp_path / "clip-0007.mp4").write_bytes(b"")
    (tmp_path / "clip-0099.gif").write_bytes(b"")  # another format's numbers do not count
    assert output_path(tmp_path, "clip-{counter}", ".mp4").name == "clip-0008.mp4"


def test_a_name_without_counter_gets_a_number_only_when_taken(tmp_path):
    assert output_path(tmp_path, "clip", ".mp4").name == "clip.mp4"
    (tmp_path / "clip.mp4").write_bytes(b"")
    assert output_path(tmp_path, "clip", ".mp4").name == "clip-2.mp4"
    assert output_path(tmp_path, "clip", ".mp4", overwrite=True).name == "clip.mp4"


def test_an_empty_folder_is_free_for_frames_but_a_full_one_is_not(tmp_path):
    (tmp_path / "frames").mkdir()
    assert output_path(tmp_path, "frames", "").name == "frames"
    (tmp_path / "frames" / "00000.png").write_bytes(b"")
    assert output_path(tmp_path, "frames", "").name == "frames-2"


def test_sub_folders_are_allowed_and_counted_in(tmp_path):
    path = output_path(tmp_path, "{date}/take-{counter}", ".mp4", now=NOW)
    assert path == tmp_path / "2026-01-02" / "take-0001.mp4"


@pytest.mark.parametrize("template, fragment", [
    ("../escape-{counter}", "'..' leads out of it"),
    ("a/../../b", "'..' leads out of it"),
    ("/etc/clip", "absolute path"),
    ("C:clip", "absolute path"),
    ("sub\\..\\clip", "use '/' for sub-folders"),
    ("{nope}", "unknown token {nope}"),
    ("clip-{Counter}", "known tokens: {date}"),
    ("clip{", "unmatched '{'"),
    ("{counter}-{counter}", "more than once"),
    ("a//b", "empty part"),
    ("", "the name is empty"),
    ("what?", "'?'"),
])
def test_templates_that_escape_the_folder_or_make_no_sense_are_refused(template, fragment):
    with pytest.raises(TemplateError) as info:
        check_template(template)
    assert fragment in str(info.value)


def test_double_braces_are_literal(tmp_path):
    assert output_path(tmp_path, "{{seed}}", ".gif", seed="3").name == "{seed}.gif"


@pytest.mark.parametrize("out, expected", [
    ("renders/clip.mp4", ("renders", "clip", "mp4")),
    ("clip.GIF", (".", "clip", "gif")),
    ("/abs/frames/", ("/abs", "frames", "png")),
    ("odd{name}.webm", (".", "odd{{name}}", "webm")),
])
def test_an_exact_output_path_splits_into_folder_name_and_format(out, expected):
    assert split_output_path(out) == expected


def test_naming_needs_no_media_libraries():
    code = ("import sys, studio.media.naming; bad = [m for m in ('av', 'cv2', 'numpy') if m in sys.modules]; "
            "sys.exit(f'imported {bad}' if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert result.returncode == 0, result.stderr
