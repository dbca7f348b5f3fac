"""Rendered English essay pages with known text and line boxes (tests and bench)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

ESSAY = (
    "Last summer I volunteered at the library in my town. Every morning I sorted "
    "returned books and helped children find stories they liked. "
    "The work was simple, but it taught me patience and kindness.|"
    "One boy came every day and asked for books about space. "
    "We read together, and by August he could explain how planets move around the sun. "
    "Seeing him grow so curious made me want to become a teacher one day."
)
OTHER_ESSAYS = (
    "My favorite season is autumn because the air is cool and the trees turn red. "
    "I often walk along the river with my dog after school.|"
    "On weekends my family cooks dinner together and we share stories about our week.",
    "Technology has changed the way students learn. Online lessons let us study at "
    "home, yet many of us miss talking with classmates.|"
    "I believe a balance between screens and real conversation is the best choice.",
    "Traveling by train is my favorite way to see the country. Through the window I "
    "watch farms, mountains and small towns pass by.|"
    "Each trip reminds me how large and beautiful the world is.",
)


@dataclass(frozen=True)
class RenderedLine:
    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the ink
    indented: bool


@dataclass(frozen=True)
class Page:
    image: Image.Image
    lines: list[RenderedLine]

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


def render_page(
    essay: str = ESSAY,
    *,
    width: int = 820,
    font_size: int = 20,
    margin: int = 40,
    indent: int = 60,
    spacing: float = 1.7,
    max_lines: int | None = None,
    font_path: str = FONT,
) -> Page:
    """Paragraphs are separated by ``|``; each paragraph's first line is indented."""
    font = ImageFont.truetype(font_path, font_size)
    planned: list[tuple[str, bool]] = []
    for paragraph in essay.split("|"):
        first = True
        line: list[str] = []
        for word in paragraph.split():
            room = width - 2 * margin - (indent if first else 0)
            if line and font.getlength(" ".join([*line, word])) > room:
                planned.append((" ".join(line), first))
                first, line = False, []
            line.append(word)
        if line:
            planned.append((" ".join(line), first))
    if max_lines is not None:
        planned = planned[:max_lines]
    step = int(font_size * spacing)
    image = Image.new("RGB", (width, 2 * margin + step * len(planned)), "white")
    draw = ImageDraw.Draw(image)
    lines = []
    for row, (text, indented) in enumerate(planned):
        x, y = margin + (indent if indented else 0), margin + row * step
        draw.text((x, y), text, font=font, fill=(20, 20, 20))
        x0, y0, x1, y1 = (round(v) for v in draw.textbbox((x, y), text, font=font))
        lines.append(RenderedLine(text, (x0, y0, x1, y1), indented))
    return Page(image, lines)


def long_essay(lines: int = 20, width: int = 820) -> Page:
    """A page of exactly ``lines`` lines (for the benchmark)."""
    text = "|".join([ESSAY, *OTHER_ESSAYS, ESSAY])
    return render_page(text, width=width, max_lines=lines)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def rotated(image: Image.Image, degrees: float) -> Image.Image:
    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor="white")


def exif_rotated_jpeg(image: Image.Image) -> bytes:
    """JPEG whose pixels are stored turned a quarter left, with EXIF orientation 6
    ("rotate 90° clockwise to display"), as phone cameras write them."""
    stored = image.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", quality=92, exif=exif)
    return buffer.getvalue()
