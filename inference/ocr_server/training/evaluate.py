"""Character error rates: per line summed over a set, and per group (font family)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def normalised(text: str) -> str:
    return " ".join(text.split())


def cer(pairs: Iterable[tuple[str, str]]) -> float:
    """Edits over reference characters, for (truth, read) pairs; spaces collapsed."""
    edits = chars = 0
    for truth, read in pairs:
        truth, read = normalised(truth), normalised(read)
        edits += edit_distance(truth, read)
        chars += len(truth)
    return edits / chars if chars else 0.0


def cer_by_group(rows: Iterable[tuple[str, str, str]]) -> dict[str, float]:
    """CER of each group of (group, truth, read) rows, plus ``all``."""
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for group, truth, read in rows:
        groups[group].append((truth, read))
        groups["all"].append((truth, read))
    return {name: round(cer(pairs), 5) for name, pairs in sorted(groups.items())}
