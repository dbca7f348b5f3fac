"""Splitting the model's final answer into ``details`` without losing a word of it."""

from __future__ import annotations

import pytest

from worker.mail import valid_address
from worker.summarize import split_sections

THREE = "## 重要觀念\n傅立葉轉換\n\n## 可能考題\n證明題\n\n## 考試時間與範圍\n第五章"


def test_three_titled_sections() -> None:
    assert split_sections(THREE) == [
        "## 重要觀念\n傅立葉轉換",
        "## 可能考題\n證明題",
        "## 考試時間與範圍\n第五章",
    ]


def test_sub_headings_stay_inside_their_section() -> None:
    reply = THREE.replace("傅立葉轉換", "### 定義\n傅立葉轉換\n### 性質\n線性")
    sections = split_sections(reply)
    assert len(sections) == 3
    assert "### 性質\n線性" in sections[0]


def test_a_lone_top_title_does_not_swallow_the_sections() -> None:
    sections = split_sections("# 期末複習\n" + THREE)
    assert sections[0] == "# 期末複習"
    assert len(sections) == 4


def test_bold_titles_split_when_there_are_no_headings() -> None:
    # A bold run that starts a line of content ("**注意**：...") is not a title.
    reply = (
        "**分數：**\n15/20\n**注意**：字數不足\n\n**詳細建議**\n多用連接詞\n\n**簡短鼓勵**\n加油！"
    )
    assert [s.splitlines()[0] for s in split_sections("前言\n" + reply)] == [
        "前言",
        "**分數：**",
        "**詳細建議**",
        "**簡短鼓勵**",
    ]


def test_text_before_the_first_title_is_kept() -> None:
    sections = split_sections("以下是整理：\n\n" + THREE)
    assert sections[0] == "以下是整理："
    assert "".join(sections).replace("\n", "") == ("以下是整理：" + THREE).replace("\n", "")


def test_untitled_and_empty_replies() -> None:
    assert split_sections("  just text \n") == ["just text"]
    assert split_sections("\n  \n") == []


@pytest.mark.parametrize(
    "address",
    [
        "@example.com",
        "a@.com",
        "student@example.com\n",
        " student@example.com",
        "Student <student@example.com>",
        "a@b@example.com",
        "no-at-sign",
        "a@localhost",
        "",
    ],
)
def test_addresses_that_are_not_a_bare_mail_are_refused(address: str) -> None:
    assert not valid_address(address)


def test_a_bare_address_is_accepted() -> None:
    assert valid_address("student.name+tag@mail.example.edu.tw")
