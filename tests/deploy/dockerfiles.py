"""A small Dockerfile reader for the lint tests (hadolint is not reachable here).

It joins continuation lines, resolves ``${ARG}`` from the ARG defaults declared before
the first FROM, and groups instructions by stage, which is all the checks need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass
class Stage:
    name: str
    base: str  # an image reference or the name of an earlier stage
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, keyword: str) -> str | None:
        found = [arg for kw, arg in self.instructions if kw == keyword]
        return found[-1] if found else None


def logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    return lines


def parse_dockerfile(path: Path) -> list[Stage]:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(path.read_text(encoding="utf-8")):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default.strip('"')
        elif keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            image = _VAR.sub(lambda m: args.get(m.group(1) or m.group(2), ""), words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name=name, base=image))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return stages


def stage_chain(stages: list[Stage], target: str) -> list[Stage]:
    """The target stage, then the stage it is built FROM, and so on."""
    by_name = {s.name: s for s in stages}
    chain = [by_name[target]]
    while chain[-1].base in by_name:
        chain.append(by_name[chain[-1].base])
    return chain


def inherited(stages: list[Stage], target: str, keyword: str) -> str | None:
    for stage in stage_chain(stages, target):
        value = stage.last(keyword)
        if value is not None:
            return value
    return None


def external_images(stages: list[Stage]) -> set[str]:
    names = {s.name for s in stages}
    images = {s.base for s in stages if s.base not in names}
    for stage in stages:
        for keyword, rest in stage.instructions:
            m = re.search(r"--from=(\S+)", rest) if keyword == "COPY" else None
            if m is not None and m.group(1) not in names:
                images.add(m.group(1))
    return images


def is_pinned(image: str) -> bool:
    """A tag with a version number (or a digest); never a bare name or `latest`."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag != "latest" and bool(re.search(r"\d", tag))
