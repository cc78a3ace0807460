"""`wakeword train`: train a model on a synthesized dataset (see wakeword.training)."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from ..config import Config, load_config
from ..errors import ConfigError

UNDERTRAINED_EXIT = 8

DESCRIPTION = """\
Train a wake-word model on a dataset made by `synth generate`.

Every epoch is validated as one long stream of the val split. train.keep_epoch
says which epoch is kept: the last one (the schedule run out), or the best by
recall at train.val_false_accepts_per_hour false accepts per hour, with early
stopping. The kept epoch's threshold at that operating point becomes the model's
default.

train.max_minutes caps the wall time of a run over all its resumes. When the
epochs left would overrun it at the pace so far, the learning-rate schedule is
shortened to end inside the cap, so the last epoch is still an annealed one; the
cap also stops an epoch that runs long (the kept model so far is saved). A run
that used it up goes on under --resume only with a larger cap. When the cap leaves
fewer than half the recipe's epochs (a busy or slow machine), the model is still
written but the command fails (exit 8), so scripts do not ship an undertrained
model: train again into a new RUN_DIR with a larger --max-minutes.

Ctrl-C stops after the current batch and saves a checkpoint; --resume continues
exactly where it stopped. Under torchrun (several processes or machines) training
is data-parallel (DDP) and only rank 0 prints and writes files.
"""

EPILOG = """files written to RUN_DIR:
  model.npz            the kept epoch's model (train.keep_epoch: best by val recall, or last), with
                       its calibrated threshold and the epochs and minutes the run has trained so
                       far (wakeword info RUN_DIR/model.npz)
  checkpoint.pt        everything --resume needs; written after every epoch and on Ctrl-C
  metrics.json         per-epoch loss and val metrics
  learning_curve.png   loss and val recall per epoch

examples:
  wakeword train --config configs/activate.yaml --data data/activate --out runs/activate
  wakeword train --config configs/activate.yaml --data data/activate --out runs/activate --resume
  wakeword train --config configs/tiny.yaml --data data/tiny --out runs/tiny --epochs 2 --seed 7
  torchrun --nproc_per_node 4 -m wakeword.cli train --config configs/activate.yaml --data data/activate --out runs/a --device cuda
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model on a dataset made by `synth generate`",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", required=True, metavar="YAML", help="recipe (features, model and train sections are used)")
    p.add_argument("--data", required=True, metavar="DATASET", help="dataset folder written by `synth generate`")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder for the model, checkpoint and metrics")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its checkpoint (same settings)")
    p.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto",
        help="where to train: cuda needs a GPU; auto (default) picks cuda when one is visible",
    )
    p.add_argument("--init", metavar="MODEL",
                   help="start from this model file's weights instead of random ones (fine-tuning, e.g. on mined hard negatives)")
    p.add_argument("--epochs", type=int, metavar="N", help="override train.epochs of the config")
    p.add_argument("--max-minutes", type=float, metavar="M", help="override train.max_minutes of the config (0: no cap)")
    p.add_argument("--seed", type=int, metavar="N", help="override the config's seed (same seed, config and data: same weights on CPU)")
    p.add_argument(
        "--max-steps", type=int, metavar="N",
        help="stop after N optimizer steps in all, keeping a resumable checkpoint (smoke tests)",
    )
    p.set_defaults(func=run)


def _with_overrides(config: Config, args: argparse.Namespace) -> Config:
    if args.epochs is not None:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=args.epochs))
    if args.max_minutes is not None:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, max_minutes=args.max_minutes))
    if args.seed is not None:
        config = dataclasses.replace(config, seed=args.seed)
    config.validate()
    return config


def run(args: argparse.Namespace) -> int:
    if args.max_steps is not None and args.max_steps < 1:
        raise ConfigError("--max-steps must be at least 1")
    from ..training import train

    config = _with_overrides(load_config(args.config), args)
    result = train(config, args.data, args.out, resume=args.resume, device=args.device, max_steps=args.max_steps, init=args.init)
    if result.stopped == "interrupted":
        if result.is_main:
            print(
                f"wakeword: training interrupted in epoch {result.epochs_done + 1}; checkpoint saved to "
                f"{result.run_dir / 'checkpoint.pt'}: continue with --resume",
                file=sys.stderr,
            )
        return 130
    if result.is_main and result.cut_short(config.train.epochs):
        print(
            f"wakeword: train.max_minutes ({config.train.max_minutes:g}) left {result.epochs_planned} of the recipe's "
            f"{config.train.epochs} epochs, so {result.run_dir / 'model.npz'} is undertrained; train again into a new --out "
            "with a larger --max-minutes (0: no cap), on a less busy machine",
            file=sys.stderr,
        )
        return UNDERTRAINED_EXIT
    return 0
