"""English text for the synthetic lines: varied sentences with essay punctuation.

Two sources: Debian's ``fortunes`` package (quotations and prose on education, science,
work, literature..., installed by make install) and a few essay paragraphs written here,
so student vocabulary, capitals, digits and punctuation all occur. Every character is
mapped into the recognizer's charset (curly quotes to straight ones, dashes to ``-``);
what cannot be mapped is dropped.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path

from inference.ocr_server.recognizers.crnn_net import ENGLISH_G2_CHARACTERS

FORTUNES = Path("/usr/share/games/fortunes")
# Prose categories (the others hold verse, ASCII art or offensive jokes).
CATEGORIES = (
    "education", "food", "literature", "people", "pets", "platitudes", "science",
    "wisdom", "work", "kids", "humorists", "miscellaneous", "love",
)  # fmt: skip
ESSAYS = (
    "In my opinion, homework should be shorter but more meaningful. Students need time to "
    "rest, play sports and talk with their families; however, practice at home helps us "
    "remember what we learned in class.",
    "Last year our school started a recycling program. At first only 12 classes joined, "
    "but by December almost every student was sorting paper, plastic and cans!",
    "Why do people love smartphones so much? They connect us with friends, give us news "
    "in seconds and even help us learn new languages. Still, I think we should put them "
    "away at dinner.",
    "My grandmother was born in 1948 in a small village near the coast. She often tells me "
    "about her childhood: fishing with her father, walking 5 km to school and reading by "
    "candlelight.",
    "There are three reasons why I want to study abroad. First, I could improve my English. "
    "Second, I would meet people from different cultures. Finally, living alone would make "
    "me more independent.",
    "The library is the quietest place on campus, so I go there every Tuesday and Thursday "
    "afternoon. I usually borrow two or three novels (mostly mysteries) and return them "
    "before the due date.",
    "Climate change affects everyone, not only scientists. If each of us saved energy, used "
    "public transport and ate less meat, the world would be a healthier place for our "
    "children.",
    "Dear Mr. Chen, thank you for your advice on my essay. I rewrote the introduction, added "
    "two examples and checked the spelling. Could you read it again before Friday?",
    "Volunteering taught me that small actions matter. On Saturday mornings we cleaned the "
    "park, planted 40 trees and painted the benches; the neighbours thanked us with cakes.",
    "Some people say that video games are a waste of time. I disagree: many games teach "
    "teamwork, planning and quick thinking, although playing too long is clearly harmful.",
)
REPLACEMENTS = {
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
    "\u2014": "-", "\u2026": "...", "\t": " ", "\u00a0": " ",
}  # fmt: skip
_ALLOWED = frozenset(ENGLISH_G2_CHARACTERS)
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """``text`` within the charset, spaces collapsed."""
    for old, new in REPLACEMENTS.items():
        text = text.replace(old, new)
    kept = "".join(ch for ch in text if ch in _ALLOWED or ch.isspace())
    return _SPACES.sub(" ", kept).strip()


def fortunes(root: Path = FORTUNES) -> list[str]:
    """Prose fortunes (attributions dropped), one paragraph each."""
    paragraphs: list[str] = []
    for name in CATEGORIES:
        path = root / name
        if not path.is_file():
            continue
        for entry in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            body = entry.split("\t\t--")[0].split("\n\t\t-")[0]
            if not body.strip() or sum(ch.isalpha() for ch in body) < 0.6 * len(body.strip()):
                continue  # empty, or drawings and tables
            paragraphs.append(normalise(body))
    return [p for p in paragraphs if len(p) >= 20]


def paragraphs() -> list[str]:
    """Every paragraph of the corpus (the essays at least, when fortunes is missing)."""
    return [*(normalise(e) for e in ESSAYS), *fortunes()]


def lines(rng: random.Random, count: int, min_chars: int = 8, max_chars: int = 64) -> Iterator[str]:
    """``count`` line texts cut at word boundaries to random lengths, as lines of an essay
    page are: mostly full lines, some paragraph ends and short lines."""
    source = paragraphs()
    produced = 0
    while produced < count:
        words = rng.choice(source).split()
        starts = [0, *(i + 1 for i, w in enumerate(words[:-1]) if w[-1] in ".!?")]
        # Half the lines begin a sentence (capitals), the rest anywhere in it.
        start = rng.choice(starts) if rng.random() < 0.5 else rng.randrange(len(words))
        # Mostly full lines; a quarter are paragraph ends or short lines.
        full = rng.random() < 0.75
        target = (
            rng.randint(max_chars // 2, max_chars) if full else rng.randint(min_chars, max_chars)
        )
        line: list[str] = []
        for word in words[start:]:
            if line and len(" ".join([*line, word])) > target:
                break
            line.append(word)
        text = " ".join(line)[:max_chars].strip()
        if len(text) >= min(min_chars, 3):
            produced += 1
            yield text
