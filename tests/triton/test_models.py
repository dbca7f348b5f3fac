"""Each model loads and answers through Triton; batching and readiness are real."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from inference.batcher import DynamicBatcher
from inference.errors import InvalidRequest
from inference.ocr_server.recognizers import Recognition
from inference.ocr_server.recognizers.triton import TritonRecognizer
from inference.triton_client import TritonModelClient
from tests.inference.asr import media as speech
from tests.triton import media
from tests.triton.server import TritonServer


def infer(server: TritonServer, model: str, **inputs: np.ndarray) -> dict[str, np.ndarray]:
    import tritonclient.http as httpclient
    from tritonclient.utils import np_to_triton_dtype

    tensors = []
    for name, array in inputs.items():
        tensor = httpclient.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    with server.client(network_timeout=300.0) as client:
        result = client.infer(model, tensors)
        names = [o["name"] for o in result.get_response()["outputs"]]
        return {name: result.as_numpy(name) for name in names}


def text_of(array: np.ndarray) -> str:
    return str(array.reshape(-1)[0].decode())


def test_readiness_follows_the_model_state(triton: TritonServer) -> None:
    base = triton.base
    assert httpx.get(f"{base}/v2/health/ready").status_code == 200
    assert httpx.get(f"{base}/v2/models/crnn/ready").status_code != 200
    triton.load("crnn")
    assert httpx.get(f"{base}/v2/models/crnn/ready").status_code == 200
    assert httpx.get(f"{base}/v2/models/crnn/versions/1/ready").status_code == 200
    with triton.client() as client:
        client.unload_model("crnn")
        # Unloading is asynchronous: the model leaves the ready state shortly after.
        for _ in range(100):
            if not client.is_model_ready("crnn"):
                break
            time.sleep(0.1)
        assert not client.is_model_ready("crnn")
    assert httpx.get(f"{base}/v2/models/crnn/ready").status_code != 200
    triton.load("crnn")
    assert httpx.get(f"{base}/v2/models/crnn/ready").status_code == 200


def test_crnn_reads_lines_and_a_bad_request_fails_alone(triton: TritonServer) -> None:
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    triton.load("crnn")
    good = [media.line_crop(line) for line in media.LINES[:4]]
    crops = [*good[:2], np.zeros((1, 1, 3), dtype=np.uint8), *good[2:]]
    with triton.client(concurrency=len(crops), network_timeout=300.0) as client:
        pending = []
        for crop in crops:  # in flight together, so the bad one shares a batch
            image = httpclient.InferInput("IMAGE", [1, *crop.shape], "UINT8")
            image.set_data_from_numpy(crop[np.newaxis])
            pending.append(client.async_infer("crnn", [image]))
        results = [pending[i].get_result() for i in (0, 1, 3, 4)]
        with pytest.raises(InferenceServerException, match="smaller than 2x2") as refused:
            pending[2].get_result()
    assert refused.value.status() == "400"  # INVALID_ARG: the request's fault, not retried
    assert [text_of(r.as_numpy("TEXT")) for r in results] == media.LINES[:4]
    assert all(0.5 < float(r.as_numpy("CONFIDENCE").reshape(-1)[0]) <= 1.0 for r in results)


def test_whisper_transcribes_a_window(triton: TritonServer, tmp_path: Path) -> None:
    triton.load("whisper")
    text = speech.SENTENCES[0]
    audio = speech.read_wav(speech.speak(text, tmp_path / "s.wav"))
    out = infer(triton, "whisper", AUDIO=audio[np.newaxis])
    import jiwer

    heard = text_of(out["TEXT"]).lower().replace(".", "")
    assert jiwer.wer(text.lower().replace(".", ""), heard) < 0.4, heard
    segments = json.loads(text_of(out["SEGMENTS"]))
    assert segments
    assert segments[-1]["end"] <= audio.shape[0] / 16_000 + 0.01
    assert text_of(out["DETECTED_LANGUAGE"]) == "en"
    assert not bool(out["MULTILINGUAL"].reshape(-1)[0])  # tiny.en


def test_concurrent_requests_reach_execute_in_batches(triton: TritonServer) -> None:
    import tritonclient.http as httpclient

    triton.load("crnn")
    crops = [media.line_crop(line) for line in media.LINES * 3]
    with triton.client(concurrency=len(crops), network_timeout=300.0) as client:
        pending = []
        for crop in crops:
            image = httpclient.InferInput("IMAGE", [1, *crop.shape], "UINT8")
            image.set_data_from_numpy(crop[np.newaxis])
            pending.append(client.async_infer("crnn", [image]))
        texts = [text_of(p.get_result().as_numpy("TEXT")) for p in pending]
        # Triton records a batch's statistics after its responses have gone out, so a
        # loaded host can answer every request before the last batch is counted.
        deadline = time.monotonic() + 30.0
        while True:
            sizes = batch_sizes(client.get_inference_statistics("crnn")["model_stats"])
            executed = sum(size * count for size, count in sizes.items())
            if executed >= len(crops) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert texts == media.LINES * 3  # each answer went back to its own request
    assert max(sizes) > 1, f"no batch larger than one: {sizes}"
    assert executed >= len(crops), sizes


def batch_sizes(stats: list[dict[str, Any]]) -> dict[int, int]:
    """{batch size: executions} from Triton's model statistics."""
    return {
        int(b["batch_size"]): int(b["compute_infer"]["count"])
        for s in stats
        for b in s.get("batch_stats", [])
    }


def test_a_bad_crop_fails_alone_through_the_ocr_service_engine(triton: TritonServer) -> None:
    triton.load("crnn")
    recognizer = TritonRecognizer(TritonModelClient(triton.url, "crnn", timeout_s=300.0))
    good = [media.line_crop(line) for line in media.LINES[:3]]
    bad = np.zeros((1, 1, 3), dtype=np.uint8)
    with pytest.raises(InvalidRequest, match="smaller than 2x2"):  # 400, not "not ready"
        recognizer.recognize([good[0], bad])

    async def through_the_batcher() -> list[Recognition | BaseException]:
        batcher = DynamicBatcher("triton-crnn", recognizer.recognize, max_batch_size=8)
        await batcher.start()
        try:
            crops = [good[0], bad, good[1], good[2]]
            return await asyncio.gather(*map(batcher.submit, crops), return_exceptions=True)
        finally:
            await batcher.stop()

    outcomes = asyncio.run(through_the_batcher())
    assert isinstance(outcomes[1], InvalidRequest)
    texts = [o.text for o in outcomes if isinstance(o, Recognition)]
    assert texts == media.LINES[:3]
    # A line longer than the model takes is shrunk to fit, as the in-process path reads it.
    (long_line,) = recognizer.recognize([np.tile(good[0], (1, 40, 1))])
    assert long_line.text
