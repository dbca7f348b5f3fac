"""Prompt templates of the two LLM modes, kept as editable text files.

Files use :class:`string.Template` placeholders (``$content``, ``$topic``...).
Substitution is a single pass, so user text containing ``$`` is never expanded. An
operator can point ``PROMPT_DIR`` at a folder holding edited copies; any file missing
there falls back to the packaged one.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

PACKAGED = Path(__file__).resolve().parent


class PromptBook:
    """Reads every template once at start-up."""

    def __init__(self, override_dir: Path | None = None) -> None:
        self._templates: dict[str, Template] = {}
        for path in sorted(PACKAGED.glob("*.txt")):
            chosen = override_dir / path.name if override_dir else path
            source = chosen if chosen.is_file() else path
            self._templates[path.stem] = Template(source.read_text(encoding="utf-8").strip())

    def text(self, name: str, **values: str) -> str:
        return self._templates[name].substitute(values)
