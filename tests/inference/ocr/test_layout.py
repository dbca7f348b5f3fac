"""Lines from word boxes: skew, grouping, reading order and indentation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inference.ocr_server.layout import estimate_skew, indented_flags, lay_out_lines


def word_grid(
    rows: int, lefts: list[float], degrees: float = 0.0, centre: tuple[float, float] = (400, 300)
) -> list[np.ndarray]:
    """Word boxes 60x20 in rows 40 px apart, rotated clockwise by ``degrees``."""
    theta = math.radians(degrees)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    quads = []
    for row in range(rows):
        for word in range(6):
            x, y = lefts[row] + word * 80, 100 + row * 40
            corners = np.array([[x, y], [x + 60, y], [x + 60, y + 20], [x, y + 20]], float)
            turned = (corners - centre) @ rotation.T + centre
            quads.append(turned.astype(np.float32))
    return quads


@pytest.mark.parametrize("degrees", [0.0, 2.0, -4.0, 8.0])
def test_skew_is_found_from_neighbouring_words(degrees: float) -> None:
    quads = word_grid(6, [50.0] * 6, degrees)
    assert estimate_skew(quads) == pytest.approx(degrees, abs=0.3)


def test_skew_beyond_the_limit_is_clipped() -> None:
    assert abs(estimate_skew(word_grid(4, [50.0] * 4, 40.0))) <= 15.0


@pytest.mark.parametrize("degrees", [0.0, 3.0, -3.0])
def test_lines_come_in_reading_order_with_indents(degrees: float) -> None:
    lefts = [110.0, 50.0, 52.0, 49.0, 112.0, 51.0, 50.0]
    page = np.full((600, 800, 3), 255, np.uint8)
    quads = word_grid(len(lefts), lefts, degrees)
    rng = np.random.default_rng(0)
    rng.shuffle(quads)  # detection order is arbitrary
    lines = lay_out_lines(page, quads)
    assert len(lines) == len(lefts)
    assert [line.indented for line in lines] == [True, False, False, False, True, False, False]
    tops = [line.box[1] for line in lines]
    assert tops == sorted(tops)
    for line in lines:
        assert line.crop.ndim == 3
        assert line.crop.shape[2] == 3
        # An upright crop of one line: about 6 words wide, one word high plus margins.
        height, width = line.crop.shape[:2]
        assert 20 <= height <= 32
        assert 460 <= width <= 500


def test_iqr_rule_on_left_edges() -> None:
    assert indented_flags([50, 51, 49, 50, 90], 20.0) == [False, False, False, False, True]
    # Jitter of a flush margin (less than a text height) is no indent.
    assert not any(indented_flags([50, 58, 44, 53, 47], 20.0))
    # Several paragraphs: the indented lines need not be rare for the rule to hold.
    flags = indented_flags([90, 50, 50, 90, 50, 50, 90, 50], 20.0)
    assert flags == [True, False, False, True, False, False, True, False]
    assert indented_flags([50, 90], 20.0) == [False, False]  # too few lines to judge


def test_no_words_no_lines() -> None:
    assert lay_out_lines(np.zeros((10, 10, 3), np.uint8), []) == []
