"""Fold docs/env/*.md into README.md and write .env.example from the same tables.

Run after changing a settings object: `python scripts/render_env_docs.py`.
tests/test_docs.py fails when README.md or .env.example drift from the settings classes.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["worker", "asr", "ocr", "triton", "demo", "deploy"]
BEGIN, END = "<!-- env:begin -->", "<!-- env:end -->"
ROW = re.compile(r"^\|\s*(`[A-Z][A-Z0-9_]*`[^|]*)\|\s*([^|]*)\|\s*(.*)\|\s*$")
NAME = re.compile(r"`([A-Z][A-Z0-9_]*)`")


def sections() -> list[tuple[str, str]]:
    files = sorted((ROOT / "docs" / "env").glob("*.md"))
    ranked = sorted(files, key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else 99, p.stem))
    return [(path.stem, path.read_text().strip()) for path in ranked]


def readme_block() -> str:
    parts = []
    for _, text in sections():
        # Inside the README's "Configuration" section every heading goes two levels down.
        parts.append(re.sub(r"^(#+) ", r"\1## ", text, flags=re.MULTILINE))
    return "\n\n".join(parts)


def env_example() -> str:
    lines = [
        "# Every setting, with its default. Copy to .env and change what you need.",
        "# Generated from docs/env/*.md by scripts/render_env_docs.py.",
    ]
    for name, text in sections():
        lines.append(f"\n# --- {name} ---")
        for row in text.splitlines():
            match = ROW.match(row)
            if not match:
                continue
            variable, *others = NAME.findall(match.group(1))
            default = match.group(2).strip().strip("`")
            meaning = match.group(3).strip().replace("`", "")
            literal = default and " " not in default and not default.startswith(("unset", "*("))
            value = default if literal and default != "empty" else ""
            also = f" (also read as {', '.join(others)})" if others else ""
            lines.append(f"# {meaning}{also}" + ("" if literal else f" (default: {default})"))
            lines.append(f"# {variable}={value}")
    return "\n".join(lines) + "\n"


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    readme.write_text(f"{head}{BEGIN}\n{readme_block()}\n{END}{tail}")
    (ROOT / ".env.example").write_text(env_example())


if __name__ == "__main__":
    main()
