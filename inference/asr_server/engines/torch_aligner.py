"""Word times from Whisper's cross-attention in PyTorch float32, read from a CTranslate2 model.

CTranslate2's ``align`` runs the whole decoder over a window's text, with the vocabulary
projection of every token (51,864 logits each, for token probabilities the service never
reads), in its int8 GEMMs: on a Zen 3 EPYC with AVX2 only (one thread, tiny.en) 0.2 s a
window, a sixth of the window's time. Here the decoder runs only up to the last
alignment head and computes no logits, then takes the steps CTranslate2 and openai-whisper
take: the heads' attention softmaxed over the window's frames, each head normalised over
the tokens, a median filter over the frames, the heads averaged, and dynamic time warping
(the same tie rule; compiled by numba and cached on disk). Its word times are held to
CTranslate2's in tests/inference/asr/test_torch_aligner.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numba
import numpy as np

from inference.asr_server.engines.torch_encoder import read_weights

_MEDIAN_WIDTH = 7
_FRAMES_PER_SECOND = 50  # encoder states: 100 mel frames a second, halved by the stride


class TorchAligner:
    """``align(tokenizer, text_tokens, states [1500, d_model], mel_frames)`` -> word dicts
    (``word``, ``start``, ``end``) as faster-whisper's ``find_alignment`` gives them."""

    def __init__(self, model_dir: Path, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)  # per calling thread, as the encoder
        config = json.loads((model_dir / "config.json").read_text())
        heads = config.get("alignment_heads")
        if not heads:
            raise ValueError(f"{model_dir}: the model names no alignment heads")
        raw = read_weights(model_dir, "decoder/")
        self._heads = int(raw.pop("num_heads").reshape(-1)[0])
        self._w = {name: torch.from_numpy(a) for name, a in raw.items() if a.ndim > 0}
        # Only a window's rows of the embedding are read: it stays in half precision, as
        # stored (77 MB in float32).
        self._w["embeddings/weight"] = self._w["embeddings/weight"].half()
        self._alignment = [(int(layer), int(head)) for layer, head in heads]
        self._last = max(layer for layer, _ in self._alignment)
        # Compiled now (or read from numba's cache), not on the first request.
        _median_filter(np.zeros((1, 2, 9), dtype=np.float32), _MEDIAN_WIDTH)
        _warping_path(np.zeros((2, 3)))

    def align(
        self, tokenizer: Any, text: list[int], states: np.ndarray, mel_frames: int
    ) -> list[dict[str, Any]]:
        """``tokenizer`` is faster-whisper's; an empty ``text`` aligns nothing."""
        import torch

        if not text:
            return []
        start = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        tokens = [*start, *text, tokenizer.eot]
        with torch.inference_mode():
            scores = self._cross_scores(tokens, torch.from_numpy(states))
            weights = scores[:, :, : max(1, mel_frames // 2)].softmax(dim=-1)
            std, mean = torch.std_mean(weights, dim=-2, keepdim=True, unbiased=False)
            normalised = torch.nan_to_num((weights - mean) / std).numpy()  # std 0: no signal
        matrix = _median_filter(normalised, _MEDIAN_WIDTH).mean(axis=0)[len(start) - 1 : -1]
        path = _warping_path(-matrix.astype(np.float64))
        return _words(tokenizer, text, path[:, 0], path[:, 1])

    def _cross_scores(self, tokens: list[int], memory: Any) -> Any:
        """The alignment heads' cross-attention logits, [heads, tokens, 1500]."""
        import torch
        from torch.nn import functional as f

        w = self._w

        def norm(h: Any, name: str) -> Any:
            return f.layer_norm(h, (h.shape[-1],), w[f"{name}/gamma"], w[f"{name}/beta"], 1e-5)

        def linear(h: Any, name: str) -> Any:
            return f.linear(h, w[f"{name}/weight"], w[f"{name}/bias"])

        count, width = len(tokens), memory.shape[-1]
        size = width // self._heads

        def heads(h: Any, name: str, parts: int) -> Any:
            """[parts, heads, rows, size] of a fused projection."""
            return linear(h, name).view(-1, parts, self._heads, size).permute(1, 2, 0, 3)

        def merged(attended: Any) -> Any:
            return attended.transpose(0, 1).reshape(count, width)

        embedded = w["embeddings/weight"][torch.tensor(tokens)].float()
        x = embedded + w["position_encodings/encodings"][:count]
        found = []
        for index in range(self._last + 1):
            layer = f"layer_{index}"
            h = norm(x, f"{layer}/self_attention/layer_norm")
            q, k, v = heads(h, f"{layer}/self_attention/linear_0", 3)
            attended = f.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + linear(merged(attended), f"{layer}/self_attention/linear_1")
            h = norm(x, f"{layer}/attention/layer_norm")
            (q,) = heads(h, f"{layer}/attention/linear_0", 1)
            chosen = [head for at, head in self._alignment if at == index]
            if index == self._last:  # its keys only (the first half of the fused weight)
                weight, bias = (
                    w[f"{layer}/attention/linear_1/weight"],
                    w[f"{layer}/attention/linear_1/bias"],
                )
                k = f.linear(memory, weight[:width], bias[:width]).view(-1, self._heads, size)
                found.append((q[chosen] @ k.permute(1, 2, 0)[chosen]) / size**0.5)
                break
            k, v = heads(memory, f"{layer}/attention/linear_1", 2)
            if chosen:
                found.append((q[chosen] @ k[chosen].transpose(-1, -2)) / size**0.5)
            attended = f.scaled_dot_product_attention(q, k, v)
            x = x + linear(merged(attended), f"{layer}/attention/linear_2")
            h = norm(x, f"{layer}/ffn/layer_norm")
            x = x + linear(f.gelu(linear(h, f"{layer}/ffn/linear_0")), f"{layer}/ffn/linear_1")
        return torch.cat(found)


def _words(
    tokenizer: Any, text: list[int], text_indices: np.ndarray, time_indices: np.ndarray
) -> list[dict[str, Any]]:
    """Each word's start and end: where the warping path first reaches its first token and
    the next word's (the end of text's, for the last)."""
    words, word_tokens = tokenizer.split_to_word_tokens([*text, tokenizer.eot])
    if len(word_tokens) <= 1:
        return []
    boundaries = np.pad(np.cumsum([len(t) for t in word_tokens[:-1]]), (1, 0))
    jumps = np.pad(np.diff(text_indices), (1, 0), constant_values=1).astype(bool)
    jump_times = time_indices[jumps] / _FRAMES_PER_SECOND
    return [
        {"word": word, "start": float(jump_times[begin]), "end": float(jump_times[end])}
        for word, begin, end in zip(words, boundaries[:-1], boundaries[1:], strict=False)
    ]


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _median_filter(x: np.ndarray, width: int) -> np.ndarray:
    """The median of each ``width`` frames along the last axis of [heads, tokens, frames],
    the edges reflected (as CTranslate2 and openai-whisper filter)."""
    heads, rows, frames = x.shape
    half = width // 2
    if frames <= half:
        return x.copy()
    out = np.empty_like(x)
    window = np.empty(width, dtype=x.dtype)  # kept sorted as it slides
    padded = np.empty(frames + 2 * half, dtype=x.dtype)
    for h in range(heads):
        for i in range(rows):
            for k in range(frames + 2 * half):
                at = abs(k - half)
                padded[k] = x[h, i, at if at < frames else 2 * frames - at - 2]
            window[:] = np.sort(padded[:width])
            out[h, i, 0] = window[half]
            for j in range(1, frames):
                gone, value = padded[j - 1], padded[j + width - 1]
                m = 0
                while m < width - 1 and window[m] != gone:  # drop the value that left...
                    m += 1
                while m < width - 1:
                    window[m] = window[m + 1]
                    m += 1
                while m > 0 and window[m - 1] > value:  # ...and insert the one that came
                    window[m] = window[m - 1]
                    m -= 1
                window[m] = value
                out[h, i, j] = window[half]
    return out


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _warping_path(cost: np.ndarray) -> np.ndarray:
    """The least-cost monotonic path through ``cost`` [tokens, frames], from the first
    cell to the last, as (token, frame) rows; a diagonal step wins only when it is
    strictly the cheapest, then a step down the tokens, else one along the frames."""
    rows, columns = cost.shape
    total = np.full((rows + 1, columns + 1), np.inf)
    total[0, 0] = 0.0
    step = np.zeros((rows + 1, columns + 1), dtype=np.int8)
    for j in range(1, columns + 1):
        for i in range(1, rows + 1):
            diagonal, up, left = total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]
            if diagonal < up and diagonal < left:
                best, move = diagonal, 0
            elif up < diagonal and up < left:
                best, move = up, 1
            else:
                best, move = left, 2
            total[i, j] = cost[i - 1, j - 1] + best
            step[i, j] = move
    path = np.zeros((rows + columns, 2), dtype=np.int64)
    i, j, length = rows, columns, 0
    while i > 0 or j > 0:
        path[length, 0], path[length, 1] = i - 1, j - 1
        length += 1
        move = 2 if i == 0 else 1 if j == 0 else int(step[i, j])
        if move == 0:
            i, j = i - 1, j - 1
        elif move == 1:
            i -= 1
        else:
            j -= 1
    return path[:length][::-1]
