"""Sample media made on the spot: a spoken lecture snippet and a photo of an essay."""

from __future__ import annotations

import io
import logging
import shutil
import subprocess  # nosec B404 - runs espeak-ng with fixed arguments
import tempfile
from pathlib import Path
from typing import Any

import av
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "assets"
# Used when espeak-ng is missing (made once from LECTURE with espeak-ng, see make_bundled_clip).
BUNDLED_CLIP = ASSETS / "lecture.mp3"

LECTURE = (
    "Welcome back to biology. Today we study the cell. "
    "The mitochondria make energy for the cell, and the nucleus keeps its genes. "
    "Remember, the midterm exam is next Friday, and it covers chapters three and four."
)

ESSAY_TITLE = "My Favorite Season"
ESSAY = [
    "    My favorite season is autumn. The air is cool",
    "and the leaves turn red and gold in the park.",
    "    In autumn my family walks by the river every",
    "weekend. We talk about school and share hot tea.",
    "    Autumn reminds me that change can be beautiful.",
]

_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
)


def make_speech(target: Path, text: str = LECTURE) -> str:
    """Write ``text`` spoken as an mp3 at ``target``; returns how it was made."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        shutil.copyfile(BUNDLED_CLIP, target)
        log.info("espeak-ng missing, using the bundled clip", extra={"file": target.name})
        return "bundled clip"
    with tempfile.TemporaryDirectory() as scratch:
        wav = Path(scratch) / "speech.wav"
        subprocess.run(  # noqa: S603  # nosec B603 - fixed arguments, text is ours
            [espeak, "-v", "en-us", "-s", "150", "-w", str(wav), text],
            check=True,
            capture_output=True,
        )
        target.write_bytes(wav_to_mp3(wav.read_bytes()))
    return "espeak-ng"


def wav_to_mp3(wav: bytes, bitrate: int = 32_000) -> bytes:
    """Re-encode with the FFmpeg that the ``av`` wheel bundles (no ffmpeg binary needed)."""
    out = io.BytesIO()
    with av.open(io.BytesIO(wav), mode="r") as source, av.open(out, "w", format="mp3") as sink:
        in_stream = source.streams.audio[0]
        stream = sink.add_stream("libmp3lame", rate=16_000, layout="mono")
        stream.bit_rate = bitrate
        resampler = av.AudioResampler(format="s16p", layout="mono", rate=16_000)
        for frame in source.decode(in_stream):
            for resampled in resampler.resample(frame):
                sink.mux(stream.encode(resampled))
        for resampled in resampler.resample(None):
            sink.mux(stream.encode(resampled))
        sink.mux(stream.encode(None))
    return out.getvalue()


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in _font_paths():
        if candidate.is_file():
            return ImageFont.truetype(str(candidate), size)
    return ImageFont.load_default(size)


def _font_paths() -> list[Path]:
    paths = list(_FONT_CANDIDATES)
    try:
        import matplotlib

        paths.append(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")
    except ImportError:
        pass
    return paths


# A hand the demo's handwriting recognizer never trained on (training/fonts.py VALIDATION).
HANDWRITING_FONT = Path("/usr/share/fonts/truetype/breip/Breip.ttf")


def make_essay_image(
    target: Path,
    lines: list[str] | None = None,
    title: str = ESSAY_TITLE,
    *,
    handwritten: bool = False,
) -> None:
    """Render an essay page (title, indented paragraphs) as a JPEG or PNG: printed, or in
    a handwriting font when ``handwritten`` (and the font is installed)."""
    lines = lines if lines is not None else ESSAY
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont
    title_font: ImageFont.FreeTypeFont | ImageFont.ImageFont
    if handwritten and HANDWRITING_FONT.is_file():
        font = ImageFont.truetype(str(HANDWRITING_FONT), 34)
        title_font = ImageFont.truetype(str(HANDWRITING_FONT), 38)
    else:
        font, title_font = _font(30), _font(34)
    margin, spacing = 48, 52
    width = 960
    height = margin * 2 + spacing * (len(lines) + 2)
    page = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(page)
    ink = (25, 35, 110) if handwritten else (20, 20, 20)  # a blue pen
    draw.text((margin, margin), title, font=title_font, fill="black" if not handwritten else ink)
    indent = draw.textlength("    ", font=font)
    for row, line in enumerate(lines):
        stripped = line.lstrip(" ")
        x = margin + (indent if stripped != line else 0)
        draw.text((x, margin + spacing * (row + 2)), stripped, font=font, fill=ink)
    # JPEG is what phones upload; PNG stays lossless for tests that read pixels back.
    options: dict[str, Any] = {"quality": 92} if target.suffix.lower() in {".jpg", ".jpeg"} else {}
    page.save(target, **options)


def essay_text(lines: list[str] | None = None) -> str:
    """The essay as text: paragraphs joined, as a user would paste it."""
    paragraphs: list[list[str]] = []
    for line in lines if lines is not None else ESSAY:
        if line.startswith("    ") or not paragraphs:
            paragraphs.append([])
        paragraphs[-1].append(line.strip())
    return "\n\n".join(" ".join(p) for p in paragraphs)


def make_bundled_clip() -> None:
    """Refresh ``assets/lecture.mp3`` (run by hand where espeak-ng exists)."""
    ASSETS.mkdir(exist_ok=True)
    make_speech(BUNDLED_CLIP)
