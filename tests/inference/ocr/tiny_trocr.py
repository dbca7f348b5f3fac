"""A tiny random-weight TrOCR (ViT encoder + TrOCR decoder + character tokenizer).

Saved with ``save_pretrained`` so the service loads it exactly like a real checkpoint
directory. Random weights read nonsense: use it for shapes, batching and errors only.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import torch

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]


def tiny_trocr_parts(image_size: int = 32) -> tuple[Any, Any]:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        PreTrainedTokenizerFast,
        TrOCRConfig,
        TrOCRForCausalLM,
        TrOCRProcessor,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
        ViTModel,
    )

    vocab = {token: index for index, token in enumerate(SPECIALS)}
    for char in string.ascii_letters + string.digits + " .,'":
        vocab.setdefault(char, len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
    )
    encoder = ViTModel(
        ViTConfig(
            image_size=image_size,
            patch_size=8,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
        )
    )
    decoder = TrOCRForCausalLM(
        TrOCRConfig(
            vocab_size=len(vocab),
            d_model=32,
            decoder_layers=1,
            decoder_attention_heads=2,
            decoder_ffn_dim=64,
            max_position_embeddings=128,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
            decoder_start_token_id=1,
            cross_attention_hidden_size=32,
        )
    )
    torch.manual_seed(0)
    model = VisionEncoderDecoderModel(encoder=encoder, decoder=decoder)
    model.config.decoder_start_token_id = 1
    model.config.pad_token_id = 0
    model.config.eos_token_id = 2
    model.generation_config.decoder_start_token_id = 1
    model.generation_config.pad_token_id = 0
    model.generation_config.eos_token_id = 2
    image_processor = ViTImageProcessor(size={"height": image_size, "width": image_size})
    processor = TrOCRProcessor(  # type: ignore[no-untyped-call]
        image_processor=image_processor, tokenizer=tokenizer
    )
    return model, processor


def build_tiny_trocr(directory: Path, num_beams: int = 1) -> Path:
    """``num_beams`` > 1 saves a checkpoint whose generation config asks for beam search,
    as many fine-tuned TrOCR checkpoints (and the seed's) do."""
    model, processor = tiny_trocr_parts()
    model.generation_config.num_beams = num_beams
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
