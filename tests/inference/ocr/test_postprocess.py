"""CRAFT pre- and post-processing, without the network."""

from __future__ import annotations

import numpy as np

from inference.ocr_server.detectors.postprocess import (
    Thresholds,
    resize_for_craft,
    stack_padded,
    to_page_coordinates,
    word_boxes,
)


def test_resize_caps_at_the_canvas_and_pads_to_32() -> None:
    page = np.full((500, 1000, 3), 255, np.uint8)
    resized = resize_for_craft(page, canvas_size=640, mag_ratio=1.5)
    assert resized.scale == 0.64
    assert resized.image.shape == (320, 640, 3)
    small = resize_for_craft(np.zeros((100, 70, 3), np.uint8), canvas_size=640, mag_ratio=1.0)
    assert small.image.shape == (128, 96, 3)
    assert small.scale == 1.0


def test_stack_pads_with_normalised_black() -> None:
    a = resize_for_craft(np.full((64, 64, 3), 255, np.uint8), 640, 1.0).image
    b = resize_for_craft(np.full((32, 96, 3), 255, np.uint8), 640, 1.0).image
    batch = stack_padded([a, b])
    assert batch.shape == (2, 3, 64, 96)
    black = resize_for_craft(np.zeros((32, 32, 3), np.uint8), 640, 1.0).image[0, 0]
    assert np.allclose(batch[1, :, 40, 10], black)


def blob(shape: tuple[int, int], x0: int, y0: int, x1: int, y1: int, value: float) -> np.ndarray:
    region = np.zeros(shape, np.float32)
    region[y0:y1, x0:x1] = value
    return region


def test_separate_words_give_separate_clockwise_boxes() -> None:
    region = blob((60, 120), 10, 20, 40, 30, 0.9) + blob((60, 120), 60, 20, 100, 30, 0.9)
    boxes = word_boxes(region, np.zeros_like(region), Thresholds())
    assert len(boxes) == 2
    for box in sorted(boxes, key=lambda b: float(b[0, 0])):
        top_left, top_right, bottom_right, bottom_left = box
        assert top_left[0] < top_right[0]
        assert top_left[1] < bottom_left[1]
        assert bottom_right[0] > bottom_left[0]


def test_affinity_links_words_and_weak_text_is_dropped() -> None:
    region = blob((60, 120), 10, 20, 40, 30, 0.9) + blob((60, 120), 60, 20, 100, 30, 0.9)
    link = blob((60, 120), 35, 22, 65, 28, 0.8)
    assert len(word_boxes(region, link, Thresholds())) == 1
    faint = blob((60, 120), 10, 20, 40, 30, 0.5)  # above low_text, below text threshold
    assert word_boxes(faint, np.zeros_like(faint), Thresholds()) == []


def test_boxes_map_back_to_page_pixels() -> None:
    box = np.array([[10, 5], [20, 5], [20, 8], [10, 8]], np.float32)
    (mapped,) = to_page_coordinates([box], scale=0.5)
    assert np.allclose(mapped[0], [40, 20])
    assert np.allclose(mapped[2], [80, 32])
