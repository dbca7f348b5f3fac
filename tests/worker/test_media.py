"""Media paths are confined to the configured roots before any read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from worker.errors import PermanentError
from worker.media import AUDIO_EXTENSIONS, read_media, resolve_media


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    audio, outside = tmp_path / "audio", tmp_path / "secret"
    audio.mkdir()
    outside.mkdir()
    (audio / "a.mp3").write_bytes(b"ID3 audio")
    (outside / "b.mp3").write_bytes(b"private")
    os.symlink(outside / "b.mp3", audio / "link.mp3")
    os.symlink(outside, audio / "dir")
    return audio, outside


def test_inside_path_is_read(roots: tuple[Path, Path]) -> None:
    audio, _ = roots
    for name in (str(audio / "a.mp3"), "a.mp3"):
        path = resolve_media(name, audio, AUDIO_EXTENSIONS)
        assert read_media(path, audio, 1024) == b"ID3 audio"


@pytest.mark.parametrize(
    "name",
    [
        "../secret/b.mp3",
        "{audio}/../secret/b.mp3",
        "{outside}/b.mp3",
        "{audio}/link.mp3",
        "{audio}/dir/b.mp3",
        "/etc/passwd",
        "",
        "{audio}",
    ],
)
def test_escapes_are_refused(roots: tuple[Path, Path], name: str) -> None:
    audio, outside = roots
    with pytest.raises(PermanentError, match=r"outside|invalid|not accepted"):
        resolve_media(name.format(audio=audio, outside=outside), audio, AUDIO_EXTENSIONS)


def test_wrong_extension_missing_file_and_size(roots: tuple[Path, Path]) -> None:
    audio, _ = roots
    (audio / "x.exe").write_bytes(b"MZ")
    with pytest.raises(PermanentError, match="not accepted"):
        resolve_media(str(audio / "x.exe"), audio, AUDIO_EXTENSIONS)
    missing = resolve_media(str(audio / "gone.wav"), audio, AUDIO_EXTENSIONS)
    with pytest.raises(PermanentError, match="not found"):
        read_media(missing, audio, 1024)
    with pytest.raises(PermanentError, match="too large"):
        read_media(audio / "a.mp3", audio, 4)


def test_file_swapped_for_a_link_after_the_check_is_refused(roots: tuple[Path, Path]) -> None:
    audio, outside = roots
    path = resolve_media(str(audio / "a.mp3"), audio, AUDIO_EXTENSIONS)
    path.unlink()
    os.symlink(outside / "b.mp3", path)
    with pytest.raises(PermanentError):
        read_media(path, audio, 1024)
