"""Opening the media file a task names, confined to the configured roots.

The ``file`` kwarg is a path on the volume shared with the backend. Anything that
resolves outside the root of its kind (an absolute path elsewhere, ``..``, a symlink
pointing out) is refused before the file is opened.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from worker.errors import PermanentError

AUDIO_EXTENSIONS = frozenset({".mp3", ".wav", ".m4a"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png"})


def resolve_media(file: str, root: Path, extensions: frozenset[str]) -> Path:
    """The real path of ``file`` if it lies inside ``root`` and has an accepted extension.

    A relative ``file`` is taken relative to ``root``.
    """
    if not file or "\x00" in file:
        raise PermanentError("media path is empty or invalid")
    candidate = Path(file)
    if ".." in candidate.parts:
        raise PermanentError("media path is outside the media directory")
    if not candidate.is_absolute():
        candidate = root / candidate
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(candidate))
    if real == real_root or not real.is_relative_to(real_root):
        raise PermanentError("media path is outside the media directory")
    if real.suffix.lower() not in extensions:
        raise PermanentError(f"media type {real.suffix.lower() or '(none)'} is not accepted")
    return real


@contextmanager
def open_media(path: Path, root: Path, max_bytes: int) -> Iterator[BinaryIO]:
    """An open handle on a path returned by :func:`resolve_media`, for
    streaming the file without holding it in memory.

    The open does not follow a final symlink and the opened descriptor is checked again,
    so a file swapped for a link after :func:`resolve_media` is still refused. An empty
    file, or one over ``max_bytes`` (a sanity cap), is refused before any byte is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise PermanentError("media file not found") from None
    except OSError:
        raise PermanentError("media file cannot be opened") from None
    # Checked before fdopen, which raises IsADirectoryError on a directory named a.mp3.
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PermanentError("media path is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        opened = Path(f"/proc/self/fd/{handle.fileno()}")
        if opened.exists():
            real = Path(os.readlink(opened))
            if not real.is_relative_to(Path(os.path.realpath(root))):
                raise PermanentError("media path is outside the media directory")
        if info.st_size == 0:
            raise PermanentError("media file is empty")
        if info.st_size > max_bytes:
            raise PermanentError("media file is too large")
        yield handle


def read_media(path: Path, root: Path, max_bytes: int) -> bytes:
    """The bytes of a path returned by :func:`resolve_media` (images: small files that
    the OCR service takes whole), with the checks of :func:`open_media`."""
    with open_media(path, root, max_bytes) as handle:
        data = handle.read(max_bytes + 1)
    if not data:
        raise PermanentError("media file is empty")
    if len(data) > max_bytes:  # it grew after the size check
        raise PermanentError("media file is too large")
    return data
