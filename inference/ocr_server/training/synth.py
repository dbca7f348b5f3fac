"""Synthetic handwritten lines: text from the corpus in a family's fonts, made to look
like a line the OCR service cuts out of a photographed page.

Per letter (half the lines): size, height and advance jitter, and for half of those a turn,
shear and stretch of each letter on its own; mixed hands (``mixed_lines``) take each letter
from one of a few lower-case handwriting fonts at one x-height; per word: size, baseline
and spacing jitter; per line: slant, ink weight and colour,
paper (white, grey, ruled), slight rotation and perspective, blur, sensor noise and JPEG
artefacts. The crop has the service's margins (``layout.py``: 0.1 text heights left,
0.45 right, 0.15 above and below), jittered.

    python -m inference.ocr_server.training synth --out data/hw --train-lines 20000
"""

from __future__ import annotations

import io
import logging
import math
import random
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from inference.ocr_server.layout import MARGIN_LEFT, MARGIN_RIGHT, MARGIN_Y
from inference.ocr_server.training import corpus
from inference.ocr_server.training.fonts import Family
from inference.ocr_server.training.labels import LABELS_FILE

log = logging.getLogger(__name__)

INK = ((20, 20, 20), (25, 35, 110), (10, 20, 60), (60, 60, 60), (35, 35, 45))


# Of the lines written letter by letter, this share has each letter turned, sheared and
# stretched on its own.
BENT_LETTERS = 0.5
MIXED = "mixed"  # the group of lines in mixed hands
# A line in a "mixed" hand takes each letter from one of this many fonts.
MIXED_FONTS = (2, 4)


@dataclass(frozen=True)
class Job:
    index: int
    text: str
    fonts: tuple[str, ...]  # one: the line is in that font; more: a mixed hand
    seed: int
    out: Path


@cache
def _x_height(font_path: str) -> float:
    """The height of "x" at 100 px, to scale fonts to one x-height."""
    return -float(ImageFont.truetype(font_path, 100).getbbox("x", anchor="ls")[1])


def _paper(rng: random.Random, width: int, height: int, ruled_at: int | None) -> Image.Image:
    level = rng.choice((255, 250, 244, 236, 225, 210))
    tint = (level, level, max(0, level - rng.randint(0, 12)))
    paper = Image.new("RGB", (width, height), tint)
    if ruled_at is not None:
        draw = ImageDraw.Draw(paper)
        colour = rng.choice(((170, 190, 230), (200, 200, 200), (190, 170, 170)))
        draw.line([(0, ruled_at), (width, ruled_at)], fill=colour, width=rng.choice((1, 2)))
    return paper


def render_line(text: str, font_paths: str | Sequence[str], rng: random.Random) -> Image.Image:
    """One RGB line image of ``text`` in ``font_paths`` (one font, or several mixed letter
    by letter at one x-height: a hand no font has), cropped as the service crops."""
    paths = [font_paths] if isinstance(font_paths, str) else list(font_paths)
    size = rng.randint(24, 48)
    fonts: dict[tuple[str, int], ImageFont.FreeTypeFont] = {}
    reference = _x_height(paths[0])

    def font(px: int, path: str = paths[0]) -> ImageFont.FreeTypeFont:
        if path != paths[0]:  # about the same x-height as the line's first font
            scale = min(1.6, max(0.6, reference / max(_x_height(path), 1.0)))
            px = max(8, round(px * scale))
        if (path, px) not in fonts:
            fonts[path, px] = ImageFont.truetype(path, px)
        return fonts[path, px]

    words = text.split(" ")
    space = font(size).getlength(" ") or size * 0.3
    wobble_phase, wobble_len = rng.uniform(0, 2 * math.pi), rng.uniform(150, 600)
    wobble = size * rng.uniform(0.0, 0.08)
    pad = 2 * size
    widest = max(sum(font(size, path).getlength(w) for w in words) for path in paths)
    width = int(widest * 1.5 + space * 2 * len(words)) + 2 * pad
    height = 4 * size + width // 20  # room for a 2-degree turn of the whole line
    baseline = int(2.6 * size) + width // 40
    ruled = baseline + rng.randint(1, 4) if rng.random() < 0.3 else None
    ink = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(ink)
    stroke = 1 if rng.random() < 0.15 and size > 30 else 0  # a thicker pen
    # Half the lines are written letter by letter: each letter's size, height and advance
    # jitter a little, so one font gives many hands (a hand never writes a letter twice alike).
    by_letter = len(paths) > 1 or rng.random() < 0.5
    bend = by_letter and rng.random() < BENT_LETTERS
    x = float(pad)
    for word in words:
        px = max(8, round(size * rng.uniform(0.92, 1.08)))
        y = baseline + wobble * math.sin(wobble_phase + x / wobble_len) + rng.gauss(0, size * 0.02)
        if not by_letter:
            draw.text((x, y), word, font=font(px), fill=255, anchor="ls", stroke_width=stroke)
            x += font(px).getlength(word)
        for letter in word if by_letter else "":
            letter_font = font(max(8, round(px * rng.uniform(0.9, 1.1))), rng.choice(paths))
            lift = rng.gauss(0, size * 0.03)
            if bend:
                _bent_letter(ink, (x, y + lift), letter, letter_font, stroke, rng)
            else:
                draw.text(
                    (x, y + lift),
                    letter,
                    font=letter_font,
                    fill=255,
                    anchor="ls",
                    stroke_width=stroke,
                )
            x += letter_font.getlength(letter) * rng.uniform(0.92, 1.12)
        x += space * rng.uniform(0.8, 1.6)
    slant = rng.uniform(-0.25, 0.3)
    ink = ink.transform(
        ink.size, Image.Transform.AFFINE, (1, slant, -slant * baseline, 0, 1, 0),
        resample=Image.Resampling.BILINEAR,
    )  # fmt: skip
    weight = rng.random()
    if weight < 0.15:
        ink = ink.filter(ImageFilter.MaxFilter(3))
    elif weight > 0.9 and size > 32:
        ink = ink.filter(ImageFilter.MinFilter(3))
    if ink.getbbox() is None:
        raise ValueError(f"{', '.join(paths)} drew no ink for {text!r}")
    page = _paper(rng, width, height, ruled)
    colour = Image.new("RGB", page.size, rng.choice(INK))
    alpha = ink.point(lambda v: int(v * rng.uniform(0.8, 1.0)))
    page.paste(colour, mask=alpha)
    page, ink = _geometry(page, ink, rng)
    box = ink.getbbox() or (0, 0, width, height)  # the ink where the camera put it
    return _crop(_sensor(page, rng), box, rng)


def _bent_letter(
    ink: Image.Image,
    at: tuple[float, float],
    letter: str,
    font: ImageFont.FreeTypeFont,
    stroke: int,
    rng: random.Random,
) -> None:
    """``letter`` drawn on ``ink`` with its baseline at ``at``, turned, sheared and
    stretched on its own: the same letter as another writer would shape it."""
    px = int(font.size)
    side = 3 * px
    glyph = Image.new("L", (side, side), 0)
    origin = (px, 2 * px)  # the baseline's left end on the glyph's canvas
    ImageDraw.Draw(glyph).text(
        origin, letter, font=font, fill=255, anchor="ls", stroke_width=stroke
    )
    turn = math.radians(rng.uniform(-7, 7))
    shear = rng.uniform(-0.2, 0.2)
    sx, sy = rng.uniform(0.82, 1.18), rng.uniform(0.88, 1.12)
    # The inverse map (output to input) about the origin: turn, shear, then scale.
    a, b = math.cos(turn) / sx, (math.sin(turn) + shear) / sx
    c, d = -math.sin(turn) / sy, math.cos(turn) / sy
    ox, oy = origin
    matrix = (a, b, ox - a * ox - b * oy, c, d, oy - c * ox - d * oy)
    glyph = glyph.transform(glyph.size, Image.Transform.AFFINE, matrix, Image.Resampling.BILINEAR)
    left, top = round(at[0]) - ox, round(at[1]) - oy
    region = (left, top, left + side, top + side)
    ink.paste(ImageChops.lighter(ink.crop(region), glyph), region)


def _geometry(
    page: Image.Image, ink: Image.Image, rng: random.Random
) -> tuple[Image.Image, Image.Image]:
    """A slight turn and, sometimes, perspective: the same on the page and its ink mask."""
    turn = rng.uniform(-2.0, 2.0)
    fill = page.getpixel((0, 0))
    page = page.rotate(turn, resample=Image.Resampling.BICUBIC, fillcolor=fill)
    ink = ink.rotate(turn, resample=Image.Resampling.BILINEAR, fillcolor=0)
    if rng.random() < 0.3:  # one side a little taller
        w, h = page.size
        d = h * rng.uniform(0.0, 0.05)
        quad = (
            (0, -d, 0, h + d, w, h, w, 0) if rng.random() < 0.5 else (0, 0, 0, h, w, h + d, w, -d)
        )
        page = page.transform(
            page.size, Image.Transform.QUAD, quad, Image.Resampling.BILINEAR, fillcolor=fill
        )
        ink = ink.transform(ink.size, Image.Transform.QUAD, quad, Image.Resampling.BILINEAR)
    return page, ink


def _sensor(page: Image.Image, rng: random.Random) -> Image.Image:
    """Focus blur, sensor noise and JPEG artefacts."""
    blur = rng.choice((0.0, 0.0, 0.4, 0.7, 1.0))
    if blur:
        page = page.filter(ImageFilter.GaussianBlur(blur))
    array = np.asarray(page, dtype=np.float32)
    array += np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(0, 6), array.shape)
    page = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))
    if rng.random() < 0.6:
        buffer = io.BytesIO()
        page.save(buffer, format="JPEG", quality=rng.randint(35, 92))
        page = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return page


def _crop(page: Image.Image, box: tuple[int, int, int, int], rng: random.Random) -> Image.Image:
    x0, y0, x1, y1 = box
    size = y1 - y0
    left = MARGIN_LEFT * rng.uniform(0.3, 2.0)
    right = MARGIN_RIGHT * rng.uniform(0.4, 1.3)
    top, bottom = MARGIN_Y * rng.uniform(0.3, 2.0), MARGIN_Y * rng.uniform(0.3, 2.0)
    w, h = page.size
    return page.crop(
        (
            max(0, int(x0 - left * size)),
            max(0, int(y0 - top * size)),
            min(w, int(x1 + right * size) + 1),
            min(h, int(y1 + bottom * size) + 1),
        )
    )


def _write(job: Job) -> str:
    image = render_line(job.text, job.fonts, random.Random(job.seed))
    image.save(job.out, format="PNG", optimize=False)
    return job.text


def synthesize(
    out: Path,
    families: Sequence[Family],
    lines_per_family: int,
    *,
    seed: int,
    mixed_lines: int = 0,
    workers: int = 0,
) -> Path:
    """Write ``lines_per_family`` lines of each family under ``out/<family>/``, and
    ``mixed_lines`` lines in hands mixed letter by letter from the handwriting families'
    fonts under ``out/mixed/``, and the labels file ``out/labels.tsv``
    (``<group>/<n>.png<TAB>text``); returns its path."""
    rng = random.Random(seed)
    jobs: list[Job] = []
    lower_case: list[str] = []  # the fonts mixed hands take their letters from
    for family in families:
        paths = [str(p) for p in family.paths()]
        if not paths:
            raise FileNotFoundError(f"no font file of family {family.name!r} is installed")
        lower_case += paths if family.mixable else []
        (out / family.name).mkdir(parents=True, exist_ok=True)
        for index, text in enumerate(corpus.lines(rng, lines_per_family)):
            target = out / family.name / f"{index:06d}.png"
            jobs.append(Job(index, text, (rng.choice(paths),), rng.getrandbits(32), target))
    if mixed_lines < 0:
        raise ValueError(f"mixed_lines must not be negative, not {mixed_lines}")
    if mixed_lines and len(lower_case) < 2:
        raise ValueError("mixed hands need at least two handwriting fonts with lower case")
    if mixed_lines:
        (out / MIXED).mkdir(parents=True, exist_ok=True)
    for index, text in enumerate(corpus.lines(rng, mixed_lines) if mixed_lines else ()):
        hand = tuple(rng.sample(lower_case, min(len(lower_case), rng.randint(*MIXED_FONTS))))
        target = out / MIXED / f"{index:06d}.png"
        jobs.append(Job(index, text, hand, rng.getrandbits(32), target))
    labels = out / LABELS_FILE
    with ProcessPoolExecutor(max_workers=workers or None) as pool:
        texts = list(pool.map(_write, jobs, chunksize=64))
    rows = [f"{job.out.relative_to(out)}\t{text}\n" for job, text in zip(jobs, texts, strict=True)]
    labels.write_text("".join(rows), encoding="utf-8")
    log.info("synthesized", extra={"out": str(out), "lines": len(rows), "families": len(families)})
    return labels
