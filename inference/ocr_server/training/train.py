"""Fine-tune the CRNN line recognizer on labelled lines (CTC), from the shipped weights.

Keeps the shipped charset and architecture, so the result is a drop-in state dict for
``OCR_RECOGNIZER__CRNN_WEIGHTS``, the ONNX export cache and Triton's ``crnn`` model.
Each epoch: a pass over the training lines (augmented), then the validation CER per
group. The best epoch's weights are kept; training stops after ``patience`` epochs
without improvement. ``checkpoint.pt`` is written after each epoch (atomically), and a
run started again on the same ``--out`` resumes from it: batches and augmentation depend
only on the seed and the epoch, so a resumed run trains as the uninterrupted one would.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from inference.device import cpu_has_bf16
from inference.ocr_server.recognizers.crnn import greedy_ctc
from inference.ocr_server.recognizers.crnn_net import Crnn, load_crnn
from inference.ocr_server.training.data import Batch, Batches
from inference.ocr_server.training.evaluate import cer_by_group
from inference.ocr_server.training.labels import Problem, Sample

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
BEST = "best.pth"
REPORT = "report.json"
CURVES = "curves.png"


# The first two convolutions (edges and pen strokes, on the full-size line) keep the shipped
# weights: their backward pass is a quarter of a step, so training reads 1.35x the lines per
# second (bf16 on 2 AMX cores: 30 -> 41 lines/s), and what a new hand changes is in the
# later layers.
FROZEN_CONVS = 2


@dataclass(frozen=True)
class TrainConfig:
    out: Path
    weights: Path  # where training starts: the shipped english_g2.pth by default
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 2e-4
    patience: int = 3
    seed: int = 0
    device: str = "auto"  # auto, cpu or cuda
    precision: str = "auto"  # auto, fp32 or bf16
    threads: int = 0  # 0: the cores this process may use
    max_train_lines: int | None = None
    frozen_convs: int = FROZEN_CONVS  # the first convolutions keep the shipped weights
    time_budget_s: float | None = None  # no new epoch once the next would overrun it


@dataclass
class History:
    epochs: list[dict[str, Any]] = field(default_factory=list)
    before: dict[str, float] = field(default_factory=dict)
    best_epoch: int = 0
    best_cer: float = math.inf
    stale: int = 0
    out_of_time: bool = False


def _device(config: TrainConfig) -> tuple[torch.device, torch.dtype | None]:
    """Where to train and the autocast dtype (None: float32)."""
    cuda = torch.cuda.is_available() and config.device != "cpu"
    if config.device == "cuda" and not cuda:
        raise RuntimeError("device=cuda was requested but no CUDA device is visible")
    device = torch.device("cuda" if cuda else "cpu")
    if config.precision == "fp32":
        return device, None
    bf16 = torch.cuda.is_bf16_supported() if cuda else cpu_has_bf16()
    if config.precision == "bf16":
        if not bf16:
            raise RuntimeError("precision=bf16 needs bfloat16 support on the training device")
        return device, torch.bfloat16
    # auto: bf16 where it pays, a GPU or AMX tiles (2.9x float32 per step on 2 AMX cores);
    # AVX-512 BF16 without AMX trains in float32.
    amx = not cuda and bf16 and getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return device, torch.bfloat16 if (cuda and bf16) or amx else None


def _threads(config: TrainConfig) -> int:
    threads = config.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    return threads


def read_out(
    model: Crnn, batches: Batches, device: torch.device, dtype: torch.dtype | None
) -> dict[str, float]:
    """Validation CER per group with greedy decoding, as the service reads."""
    model.eval()
    rows = []
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=dtype, enabled=dtype is not None),
    ):
        for batch in batches.epoch(0):
            lines = batch.lines.to(device, memory_format=torch.channels_last)
            probabilities = model(lines).float().softmax(dim=2).cpu().numpy()
            # The whole padded width, as the service decodes its batches.
            for sequence, text, group in zip(probabilities, batch.texts, batch.groups, strict=True):
                rows.append((group, text, greedy_ctc(sequence).text))
    return cer_by_group(rows)


def _train_epoch(
    model: Crnn,
    batches: Iterator[Batch],
    total: int,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    device: torch.device,
    dtype: torch.dtype | None,
    desc: str,
) -> tuple[float, int, float]:
    """One pass of CTC training; (mean loss per line, lines, seconds). A tqdm bar shows
    the loss, lines/s and the ETA."""
    from tqdm import tqdm

    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    model.train()
    started, lines_seen, loss_sum = time.perf_counter(), 0, 0.0
    bar = tqdm(batches, total=total, desc=desc, unit="batch", dynamic_ncols=True, mininterval=2.0)
    for batch in bar:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits = model(batch.lines.to(device, memory_format=torch.channels_last))
        log_probs = logits.float().log_softmax(2).permute(1, 0, 2)
        loss = ctc(log_probs, batch.targets, batch.input_lengths, batch.target_lengths)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)  # frozen ones have no grad
        optimizer.step()
        scheduler.step()
        lines_seen += len(batch.texts)
        loss_sum += float(loss.detach()) * len(batch.texts)
        rate = lines_seen / (time.perf_counter() - started)
        bar.set_postfix(loss=f"{loss_sum / lines_seen:.3f}", lines_s=f"{rate:.0f}")
    return loss_sum / max(lines_seen, 1), lines_seen, time.perf_counter() - started


def freeze(model: Crnn, convolutions: int) -> None:
    """Keep the first ``convolutions`` convolutions of the feature extractor as they are."""
    convs = [m for m in model.FeatureExtraction.ConvNet if isinstance(m, nn.Conv2d)]
    if not 0 <= convolutions <= len(convs):
        raise ValueError(f"frozen_convs must be 0 to {len(convs)}, not {convolutions}")
    for conv in convs[:convolutions]:
        conv.requires_grad_(False)


def _save_atomic(obj: object, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    torch.save(obj, temporary)
    os.replace(temporary, path)


def train(
    config: TrainConfig, train_set: list[Sample], val_set: list[Sample], skipped: list[Problem]
) -> dict[str, Any]:
    """Train, write best.pth, report.json and curves.png under ``config.out``; the report."""
    if not train_set or not val_set:
        raise ValueError("training needs at least one training and one validation line")
    config.out.mkdir(parents=True, exist_ok=True)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    threads = _threads(config)
    device, dtype = _device(config)
    if config.max_train_lines:
        train_set = random.Random(config.seed).sample(
            train_set, min(len(train_set), config.max_train_lines)
        )
    train_batches = Batches(train_set, config.batch_size, seed=config.seed, train=True)
    val_batches = Batches(val_set, config.batch_size, seed=config.seed, train=False)
    # channels-last: the pooling and convolutions run 1.3x (fp32) to 1.8x (bf16) faster.
    model = load_crnn(config.weights).to(device)
    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    freeze(model, config.frozen_convs)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=config.learning_rate, weight_decay=1e-4)
    total_steps = config.epochs * len(train_batches)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.learning_rate, total_steps=max(total_steps, 1), pct_start=0.1
    )
    history = History()
    checkpoint = config.out / CHECKPOINT
    start = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = History(**state["history"])
        start = state["epoch"]
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed", extra={"checkpoint": str(checkpoint), "epoch": start})
    else:
        history.before = read_out(model, val_batches, device, dtype)
        log.info("before training", extra={"cer": history.before})
    run_started = time.monotonic()
    for epoch in range(start + 1, config.epochs + 1):
        if history.stale >= config.patience:
            break
        if config.time_budget_s and history.epochs:
            spent = time.monotonic() - run_started
            if spent + history.epochs[-1]["seconds"] * 1.1 > config.time_budget_s:
                history.out_of_time = True
                log.warning("time budget spent", extra={"epoch": epoch, "seconds": round(spent)})
                break
        loss, lines_seen, seconds = _train_epoch(
            model, train_batches.epoch(epoch), len(train_batches), optimizer, scheduler,
            device, dtype, desc=f"epoch {epoch}/{config.epochs} (best CER {history.best_cer:.4f})",
        )  # fmt: skip
        val = read_out(model, val_batches, device, dtype)
        row = {
            "epoch": epoch,
            "train_loss": round(loss, 4),
            "val_cer": val,
            "lines_per_s": round(lines_seen / seconds, 1),
            "seconds": round(seconds, 1),
        }
        history.epochs.append(row)
        if val["all"] < history.best_cer:
            history.best_cer, history.best_epoch, history.stale = val["all"], epoch, 0
            _save_atomic(model.state_dict(), config.out / BEST)
        else:
            history.stale += 1
        log.info("epoch", extra=row)
        _save_atomic(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "history": asdict(history),
                "epoch": epoch,
                "torch_rng": torch.get_rng_state(),
            },
            checkpoint,
        )
    report = _report(config, history, train_set, val_set, skipped, device, dtype, threads)
    (config.out / REPORT).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot(report, config.out / CURVES)
    return report


def _report(
    config: TrainConfig,
    history: History,
    train_set: list[Sample],
    val_set: list[Sample],
    skipped: list[Problem],
    device: torch.device,
    dtype: torch.dtype | None,
    threads: int,
) -> dict[str, Any]:
    from inference.tuning import cpu_model

    after = next(
        (e["val_cer"] for e in history.epochs if e["epoch"] == history.best_epoch), history.before
    )
    return {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "device": device.type,
        "precision": "bf16" if dtype is not None else "fp32",
        "threads": threads,
        "torch": torch.__version__,
        "cpu": cpu_model(),
        "train_lines": len(train_set),
        "val_lines": len(val_set),
        "train_groups": sorted({s.group for s in train_set}),
        "val_groups": sorted({s.group for s in val_set}),
        "skipped_rows": [str(p) for p in skipped],
        "before": history.before,
        "after": after,
        "best_epoch": history.best_epoch,
        "stopped_early": history.stale >= config.patience and len(history.epochs) < config.epochs,
        "stopped_by_time_budget": history.out_of_time,
        "epochs": history.epochs,
        "weights": str(config.out / BEST) if history.best_epoch else None,
    }


def plot(report: dict[str, Any], path: Path) -> None:
    """Training loss and validation CER per group, per epoch (skipped without matplotlib,
    as in the OCR image, which trains too but plots nothing)."""
    try:
        import matplotlib
    except ImportError:
        log.warning("matplotlib is not installed: no %s", path.name)
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = report["epochs"]
    xs = [0] + [e["epoch"] for e in epochs]
    figure, (loss_axis, cer_axis) = plt.subplots(1, 2, figsize=(11, 4))
    loss_axis.plot(xs[1:], [e["train_loss"] for e in epochs], marker="o")
    loss_axis.set(xlabel="epoch", ylabel="CTC loss (train)", title="training loss")
    for group in report["before"]:
        values = [report["before"][group]] + [e["val_cer"].get(group, math.nan) for e in epochs]
        cer_axis.plot(xs, values, marker="o", label=group, linewidth=2.5 if group == "all" else 1)
    cer_axis.set(
        xlabel="epoch (0: shipped weights)",
        ylabel="CER",
        title="validation CER per group",
        yscale="log",
    )
    cer_axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
