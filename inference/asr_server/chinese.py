"""Chinese output in Traditional characters, as the seed produced (OpenCC, Taiwan by default)."""

from __future__ import annotations

import threading

CHINESE_LANGUAGES = frozenset({"zh", "yue"})


class ChineseConverter:
    """Wraps one OpenCC converter; ``s2twp`` also maps mainland vocabulary to Taiwan's."""

    def __init__(self, config: str = "s2twp") -> None:
        import opencc

        try:
            self._converter = opencc.OpenCC(config)
        except RuntimeError as exc:
            raise ValueError(f"unknown OpenCC configuration {config!r}") from exc
        self.config = config
        # OpenCC's C++ converter is not documented as thread-safe; conversions are cheap.
        self._lock = threading.Lock()

    def convert(self, text: str) -> str:
        with self._lock:
            return str(self._converter.convert(text))

    def applies_to(self, language: str | None) -> bool:
        return language in CHINESE_LANGUAGES
