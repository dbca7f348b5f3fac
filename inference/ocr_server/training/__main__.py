"""The training command: ``synth``, ``train``, ``export`` and ``triton`` (see __init__)."""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path

from inference.logs import configure_logging

log = logging.getLogger("inference.ocr_server.training")

# The share of synthetic training lines written in mixed hands (each letter from one of a
# few training fonts at one x-height): hands that no font has.
MIXED_SHARE = 0.3


def _synth(args: argparse.Namespace) -> int:
    from inference.ocr_server.training import fonts
    from inference.ocr_server.training.synth import synthesize

    validation = {fonts.family(name).name for name in args.validation}  # unknown: refused now
    if not 0.0 <= args.mixed_share < 1.0:
        raise ValueError(f"--mixed-share must be at least 0 and below 1, not {args.mixed_share}")
    train_names = [f.name for f in fonts.HANDWRITING if f.name not in validation]
    train_names += [f.name for f in fonts.PRINTED]
    val_names = [*args.validation, "dejavu"]
    for split, names, count in (
        ("train", train_names, args.train_lines),
        ("val", val_names, args.val_lines),
    ):
        families = fonts.installed(names)
        absent = sorted(set(names) - {f.name for f in families})
        if absent:
            log.warning(
                "font families not installed", extra={"families": absent, "hint": "make install"}
            )
        if not families:
            raise SystemExit(f"no font of {names} is installed: run make install")
        mixed = round(count * args.mixed_share) if split == "train" else 0
        per_family = max(1, (count - mixed) // len(families))
        print(
            synthesize(
                args.out / split,
                families,
                per_family,
                seed=args.seed + len(split),
                mixed_lines=mixed,
                workers=args.workers,
            )
        )
    return 0


def _train(args: argparse.Namespace) -> int:
    from inference.ocr_server.settings import packaged_weights
    from inference.ocr_server.training.labels import read_labels
    from inference.ocr_server.training.train import FROZEN_CONVS, TrainConfig, train

    train_set, train_problems = read_labels(args.train)
    val_set, val_problems = read_labels(args.val)
    config = TrainConfig(
        out=args.out,
        weights=args.weights or packaged_weights("english_g2.pth"),
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        patience=args.patience,
        seed=args.seed,
        device=args.device,
        precision=args.precision,
        threads=args.threads,
        max_train_lines=args.max_lines,
        frozen_convs=FROZEN_CONVS if args.frozen_convs is None else args.frozen_convs,
        time_budget_s=args.time_budget * 60 if args.time_budget else None,
    )
    report = train(config, train_set, val_set, [*train_problems, *val_problems])
    summary = {k: report[k] for k in ("before", "after", "best_epoch", "weights")}
    print(json.dumps(summary, indent=2))
    return 0 if report["weights"] else 1


def _export(args: argparse.Namespace) -> int:
    from inference.ocr_server.training.publish import export_checked

    for line in export_checked(args.weights, args.val, args.cache_dir, args.precision):
        print(line)
    return 0


def _triton(args: argparse.Namespace) -> int:
    from inference.ocr_server.training.publish import publish_to_triton

    version = publish_to_triton(
        args.weights,
        args.val,
        args.repository,
        model=args.model,
        max_cer=args.max_cer,
        weights_root=args.weights_root,
        swap_url=args.url if args.swap else None,
        admin_key_file=args.admin_key_file,
    )
    print(version)
    return 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m inference.ocr_server.training", description=__doc__
    )
    commands = main.add_subparsers(dest="command", required=True)
    synth = commands.add_parser("synth", help="render synthetic handwritten lines")
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--train-lines", type=int, default=20_000)
    synth.add_argument("--val-lines", type=int, default=1_200)
    synth.add_argument(
        "--mixed-share",
        type=float,
        default=MIXED_SHARE,
        help="share of the training lines in hands mixed letter by letter from several fonts",
    )
    synth.add_argument("--validation", nargs="+", default=None, help="held-out families")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--workers", type=int, default=0, help="processes; 0: one per core")
    synth.set_defaults(run=_synth)

    train = commands.add_parser("train", help="fine-tune the CRNN on labelled lines")
    train.add_argument("--train", type=Path, required=True, help="labels.tsv or its folder")
    train.add_argument("--val", type=Path, required=True, help="labels.tsv or its folder")
    train.add_argument(
        "--out", type=Path, required=True, help="run folder (resumes if it holds a checkpoint)"
    )
    train.add_argument("--weights", type=Path, default=None, help="start from; default: shipped")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--lr", type=float, default=2e-4)
    train.add_argument("--patience", type=int, default=3)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    train.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    train.add_argument("--threads", type=int, default=0)
    train.add_argument("--max-lines", type=int, default=None, help="train on a sample")
    train.add_argument(
        "--frozen-convs",
        type=int,
        default=None,
        help="first convolutions kept as shipped; default: train.FROZEN_CONVS (2)",
    )
    train.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="minutes; no epoch starts that would overrun it",
    )
    train.set_defaults(run=_train)

    export = commands.add_parser("export", help="ONNX graphs of trained weights, checked")
    export.add_argument("--weights", type=Path, required=True)
    export.add_argument("--val", type=Path, required=True, help="lines the graphs are checked on")
    export.add_argument("--cache-dir", type=Path, default=None)
    export.add_argument(
        "--precision", nargs="+", choices=("fp32", "int8"), default=["fp32", "int8"]
    )
    export.set_defaults(run=_export)

    triton = commands.add_parser("triton", help="write Triton version N+1 (and swap it in)")
    triton.add_argument("--weights", type=Path, required=True)
    triton.add_argument("--val", type=Path, required=True, help="lines for smoke.json")
    triton.add_argument("--repository", type=Path, required=True)
    triton.add_argument("--model", default="crnn")
    triton.add_argument(
        "--weights-root",
        type=Path,
        default=None,
        help="TRITON_MODELS_WEIGHTS_ROOT of the server; default: the repository itself",
    )
    triton.add_argument("--max-cer", type=float, default=0.05)
    triton.add_argument("--swap", action="store_true", help="promote it with the checked swap")
    triton.add_argument("--url", default="127.0.0.1:8000")
    triton.add_argument("--admin-key-file", type=Path, default=None)
    triton.set_defaults(run=_triton)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging("INFO", json_lines=False)
    if args.command == "synth" and args.validation is None:
        from inference.ocr_server.training.fonts import VALIDATION

        args.validation = list(VALIDATION)
    from inference.ocr_server.training.publish import PublishError

    try:
        code: int = args.run(args)
    except (ValueError, OSError, PublishError, RuntimeError, pickle.UnpicklingError) as exc:
        # Bad input, a missing file or a failed check: one readable line, no traceback.
        log.error("%s failed: %s", args.command, exc)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
