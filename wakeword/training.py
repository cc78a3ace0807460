"""Training: fit a WakewordModel on a synthesized dataset, keep the best or the last epoch.

Selection. After every epoch the val split is scored as one long stream (examples laid
end to end, `dataset.split_truth`) and swept over thresholds; the metric is recall at
`train.val_false_accepts_per_hour` false accepts per hour. With `train.keep_epoch: best`
the best epoch's weights go to `model.npz`, and `train.early_stopping_patience` epochs
without gain end the run; with `last` every epoch replaces the one before and the
schedule runs to its end. Either way the kept epoch's operating point gives the
calibrated default threshold. With `train.weight_average` the weights validated and
saved are their moving average.

Long-stream stability. A model trained only on 10 s clips from a zero state never sees
the GRU states an hour of audio leads to, and may drift there. So training rows are
streams: each row starts from the GRU state its previous batch ended with (detached,
truncated back-propagation), kept with probability `train.stream_carry`, else zero.
Clips are independent, so a row's run of random clips is itself a valid stream; at 0.9
the streams last ten clips on average and minutes in their tail, while zero starts stay
common enough for the first seconds after start-up. Carrying state costs nothing, unlike
concatenating clips into longer sequences, which would also need labels re-derived
across clip seams. Validation scores its stream the same way (`VAL_STREAMS` rows, each
carrying its state from one example to the next), so selection sees carried states too.

Time budget. `train.max_minutes` caps the wall time of a run. A schedule cut off by the cap
would end with the learning rate still high, and `keep_epoch: last` would keep those
weights; so after every epoch the run checks how many epochs still fit at its mean epoch
time and, if that is fewer than planned, shortens the one-cycle schedule to end there.
It only ever shortens, and a run the cap does not bind trains exactly as without one.
The cap stays as a hard stop for an epoch that runs long.

Determinism and resume. Everything random comes from `config.seed`: the initial weights,
the per-rank torch generator (dropout) and augmentation generator, and the sampler's
per-epoch order. `checkpoint.pt` is written after every epoch and whenever a run stops
early (SIGINT/SIGTERM, `max_minutes`, `--max-steps`) and holds the position inside the
epoch, every rank's random states and carried GRU states, so `--resume` continues with
bit-identical weights on CPU.

Distributed. Under `torchrun` (WORLD_SIZE > 1) each process trains on its part of every
epoch (DistributedSampler) in a DDP model; only rank 0 validates, writes files and prints.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from .config import Config, FeatureConfig, TrainConfig, config_from_dict
from .dataset import Dataset, Split, check_compatible, load_dataset, split_truth
from .errors import ConfigError, ModelFileError, WakewordError
from .evaluation import Truth, best_at_false_accept_rate, sweep
from .fileio import atomic_write_bytes
from .features import mel_frequencies
from .model import WakewordModel, save_model
from .modelfile import LoadedModel, load_single_model
from .ptfile import atomic_torch_save
from .streaming_model import step_end_seconds

CHECKPOINT_FORMAT = "wakeword-checkpoint"
CHECKPOINT_VERSION = 1
# Validation runs the val examples as this many parallel streams (see the module doc).
VAL_STREAMS = 16
# Used when no threshold keeps val false accepts within budget.
FALLBACK_THRESHOLD = 0.5
# Ways a run ends; the first two finish it, the others leave it resumable.
FINISHED = ("completed", "early_stopping")
# Below this share of train.epochs, a schedule shortened to fit train.max_minutes is
# reported as a failure: one epoch of sixteen on a busy host gave val recall 0.43.
MIN_SCHEDULE_SHARE = 0.5
_STOP_REASONS = ("max_minutes", "max_steps", "interrupted")  # rising priority when ranks differ


@dataclass
class TrainResult:
    run_dir: Path
    stopped: str  # one of FINISHED or _STOP_REASONS
    epochs_done: int
    best: dict[str, Any] | None  # val metrics of the kept epoch (train.keep_epoch)
    is_main: bool  # rank 0 (the only one that reports)
    epochs_planned: int = 0  # the schedule's length, after train.max_minutes shortened it

    def cut_short(self, recipe_epochs: int) -> bool:
        return schedule_cut_short(self.epochs_planned, recipe_epochs)


def schedule_cut_short(planned: int, recipe_epochs: int) -> bool:
    """The time cap left the schedule under MIN_SCHEDULE_SHARE of the recipe's epochs:
    the model is likely undertrained, however the run ended."""
    return 0 < planned < MIN_SCHEDULE_SHARE * recipe_epochs


@dataclass
class _Progress:
    """Everything besides the model, optimizer and schedule that a resume restores."""

    epoch: int = 0  # epoch in progress, from 0
    batch: int = 0  # its batches done
    step: int = 0  # optimizer steps done in all
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    best_state: dict[str, torch.Tensor] | None = None
    since_best: int = 0
    stopped: str | None = None
    # Wall time spent training over every invocation: train.max_minutes budgets the run,
    # so a resume goes on with what is left instead of a fresh allowance.
    train_seconds: float = 0.0
    epochs_planned: int = 0  # the schedule's length once the time budget shortened it; 0: train.epochs


@dataclass
class _RankState:
    """What differs between ranks: random streams, carried GRU states, partial loss."""

    generator: torch.Generator  # augmentation and state-carry draws
    carry: list[torch.Tensor] | None = None
    loss_sum: float = 0.0


class _Ranks:
    """The process group, or a stand-in for one process; collectives are no-ops alone."""

    def __init__(self, device: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        self.device = _resolve_device(device, local_rank)
        if self.world > 1 and not dist.is_initialized():
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        # Before leaving the group after a finished run: a gloo rank that tears down its
        # pairs while a peer still sends on them can die at exit with SIGABRT
        # ("terminate called without an active exception"); PyTorch's own tests wait here too.
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()

    def max(self, value: int) -> int:
        if self.world == 1:
            return value
        t = torch.tensor([value], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t.item())

    def sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def gather(self, obj: Any) -> list[Any]:
        if self.world == 1:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def from_main(self, fn: Callable[[], Any]) -> Any:
        """Rank 0's `fn()` on every rank; a WakewordError it raises is raised on every rank."""
        if self.world == 1:
            return fn()
        box: list[Any] = [None]
        if self.main:
            try:
                box[0] = ("ok", fn())
            except WakewordError as exc:
                box[0] = ("error", exc)
        dist.broadcast_object_list(box, src=0)
        kind, value = box[0]
        if kind == "error":
            raise value
        return value

    def sync_buffers(self, model: nn.Module) -> None:
        """Give every rank rank 0's batch-norm statistics (DDP keeps them per rank)."""
        if self.world > 1:
            for buffer in model.buffers():
                dist.broadcast(buffer, src=0)


def epochs_within_budget(planned: int, done: int, seconds: float, budget: float) -> int:
    """How many epochs a run can finish: `planned`, or fewer when `done` epochs took
    `seconds` of a `budget` (seconds) and the rest at the same mean pace would overrun it."""
    if done == 0 or done >= planned:
        return planned
    pace = seconds / done
    # Half an epoch to spare: epoch times wander on a shared host, and an overrun is cut
    # off by the hard stop before the schedule's end.
    fit = done + math.floor((budget - seconds - pace / 2) / pace)
    return max(done, min(planned, fit))


def _resolve_device(name: str, local_rank: int) -> torch.device:
    if name not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r}: use cpu, cuda or auto")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: PyTorch sees no CUDA GPU here (CPU-only build or no driver): use --device cpu")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank)


class _Stateful(nn.Module):
    """DDP only wraps `forward`: this makes the state-returning pass the one it wraps."""

    def __init__(self, model: WakewordModel):
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor, hidden: list[torch.Tensor] | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.model.forward_with_state(features, hidden)


class _StopRequests:
    """SIGINT and SIGTERM ask the loop to stop after the current batch, not to die in it."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopRequests:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def spec_augment(features: torch.Tensor, config: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """SpecAugment: mask random mel bands and stretches of frames of every example with its mean."""
    batch, frames, bands = features.shape

    def masks(count: int, width: int, length: int) -> torch.Tensor:
        mask = torch.zeros(batch, length, dtype=torch.bool)
        positions = torch.arange(length)
        for _ in range(count):
            w = torch.randint(0, min(width, length) + 1, (batch, 1), generator=generator)
            start = (torch.rand(batch, 1, generator=generator) * (length - w + 1)).long()
            mask |= (positions >= start) & (positions < start + w)
        return mask

    time_mask = masks(config.time_masks, config.time_mask_width, frames)
    band_mask = masks(config.freq_masks, config.freq_mask_width, bands)
    mask = (time_mask[:, :, None] | band_mask[:, None, :]).to(features.device)
    return torch.where(mask, features.mean(dim=(1, 2), keepdim=True), features)


def band_centers_hz(features: FeatureConfig) -> torch.Tensor:
    """Centre frequency of each mel band, as the frontend's filterbank places them."""
    edges = mel_frequencies(features.n_mels + 2, features.fmin, features.fmax)
    return torch.as_tensor(edges[1:-1], dtype=torch.float32)


def vocal_tract_warp(features: torch.Tensor, centers_hz: torch.Tensor, warp: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
    """Vocal tract length perturbation: scale each example's frequency axis by its own factor.

    Band k takes the value of frequency centers_hz[k] / alpha, so alpha > 1 moves formants
    up (a shorter vocal tract) while the frame rate, and with it pitch contour and timing,
    stays put: timbre varies independently of pitch. Features are per-band (log or PCEN),
    so warping them after normalisation is close to normalising the warped spectrum.
    """
    low, high = warp
    if low == high == 1.0:
        return features
    batch, _, bands = features.shape
    log_alpha = math.log(low) + torch.rand(batch, 1, generator=generator) * math.log(high / low)
    source_hz = centers_hz[None, :] / torch.exp(log_alpha)  # (batch, bands)
    upper = torch.searchsorted(centers_hz, source_hz).clamp(1, bands - 1)
    lower = upper - 1
    frac = ((source_hz - centers_hz[lower]) / (centers_hz[upper] - centers_hz[lower])).clamp(0.0, 1.0)
    lower, upper, frac = (t.to(features.device)[:, None, :] for t in (lower, upper, frac))
    expand = (batch, features.shape[1], bands)
    below = features.gather(2, lower.expand(expand))
    above = features.gather(2, upper.expand(expand))
    return below + frac * (above - below)


def _start_hidden(carry: list[torch.Tensor] | None, batch: int, keep_prob: float, generator: torch.Generator) -> list[torch.Tensor] | None:
    """Each row's starting GRU state: the row's carried state with probability keep_prob, else zero."""
    if not carry:  # the first batch, or a model without GRUs
        return None
    keep = (torch.rand(batch, generator=generator) < keep_prob).to(carry[0])
    hidden = []
    for h in carry:
        h = h[:, :batch]
        if h.shape[1] < batch:  # after a short last batch
            h = torch.cat([h, h.new_zeros(h.shape[0], batch - h.shape[1], h.shape[2])], dim=1)
        hidden.append(h * keep[None, :, None])
    return hidden


def step_loss(logits: torch.Tensor, labels: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """Per-step binary cross-entropy, positives weighted by `pos_weight`; with
    `focal_gamma` > 0 each step's loss is scaled by (1 - p_true)^gamma (focal loss), so
    steps the model already gets right stop pulling their logits further out."""
    loss = nn.functional.binary_cross_entropy_with_logits(logits, labels, pos_weight=logits.new_tensor(config.pos_weight), reduction="none")
    if config.focal_gamma:
        p = torch.sigmoid(logits)
        p_true = labels * p + (1 - labels) * (1 - p)
        loss = loss * (1 - p_true).pow(config.focal_gamma)
    return loss


@torch.no_grad()
def score_split(model: WakewordModel, split: Split, config: TrainConfig, device: torch.device) -> tuple[np.ndarray, float]:
    """Probabilities (examples, steps) with GRU states carried across examples, and the mean loss."""
    was_training = model.training
    model.eval()
    rows = min(VAL_STREAMS, len(split))
    hidden: list[torch.Tensor] | None = None
    probs, loss = [], 0.0
    for start in range(0, len(split), rows):
        x = torch.from_numpy(split.features[start : start + rows]).to(device).float()
        y = torch.from_numpy(split.labels[start : start + rows]).to(device).float()
        logits, hidden = model.forward_with_state(x, hidden and [h[:, : len(x)] for h in hidden])
        loss += float(step_loss(logits, y, config).sum())
        probs.append(torch.sigmoid(logits).cpu().numpy())
    model.train(was_training)
    return np.concatenate(probs), loss / split.labels.size


def evaluate(model: WakewordModel, split: Split, truth: Truth, clip_s: float, config: Config, device: torch.device) -> dict[str, Any]:
    """Val metrics: loss, and recall at the false-accept budget with its threshold."""
    probs, loss = score_split(model, split, config.train, device)
    offsets = np.arange(len(split))[:, None] * clip_s
    times = (offsets + step_end_seconds(np.arange(probs.shape[1]), config.features, config.model)[None, :]).ravel()
    best = best_at_false_accept_rate(sweep(times, probs.ravel(), truth, config.detector), config.train.val_false_accepts_per_hour)
    return {
        "val_loss": loss,
        "val_recall": best.recall if best else 0.0,
        "val_false_accepts_per_hour": best.false_accepts_per_hour if best else None,
        "val_threshold": best.threshold if best else None,
        # Accepts on confusable words are kept apart from false accepts (wakeword.evaluation).
        "val_confusable_accept_rate": best.confusable_accept_rate if best and best.confusables else None,
        "val_positives": len(truth.positives),
        "val_hours": truth.duration_s / 3600,
    }


def _better(metrics: dict[str, Any], best: dict[str, Any] | None) -> bool:
    """Higher recall at the budget wins; on a tie (common once recall saturates), lower val loss."""
    if best is None:
        return True
    return (metrics["val_recall"], -metrics["val_loss"]) > (best["val_recall"], -best["val_loss"])


def _digest(model: nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _plot_learning_curve(history: list[dict[str, Any]], path: Path) -> None:
    # The object API with an Agg canvas: no pyplot, no global backend switch.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    FigureCanvasAgg(fig)
    loss_ax, recall_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train")
    loss_ax.plot(epochs, [h["val_loss"] for h in history], marker="o", label="val")
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    loss_ax.legend()
    recall_ax.plot(epochs, [h["val_recall"] for h in history], marker="o", color="tab:green")
    recall_ax.set(xlabel="epoch", ylabel="recall", ylim=(0, 1.02), title="val recall at the false-accept budget")
    for ax in (loss_ax, recall_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write_bytes(path, buf.getvalue())


class _Run:
    """One training run: its data, model, optimizer and files; `fit` is the loop."""

    def __init__(self, config: Config, data: Dataset, run_dir: Path, ranks: _Ranks, max_steps: int | None, log: Callable[[str], None],
                 init: LoadedModel | None = None):
        self.config, self.data, self.run_dir, self.ranks, self.max_steps = config, data, run_dir, ranks, max_steps
        self.log = log if ranks.main else (lambda line: None)
        tc = config.train
        device = ranks.device
        self.train_split, self.val_split = data.splits["train"], data.splits["val"]
        self.clip_s = data.config.synth.clip_s
        self.truth = split_truth(self.val_split, self.clip_s)
        if not self.truth.positives:
            raise ConfigError(f"{data.path}: the val split has no positives to measure recall on: regenerate with more examples")
        self.features = torch.from_numpy(self.train_split.features).to(device)
        self.labels = torch.from_numpy(self.train_split.labels).to(device)
        self.band_centers = band_centers_hz(config.features)

        torch.manual_seed(config.seed)  # the same initial weights on every rank
        self.model = WakewordModel(config.features.n_mels, config.model).to(device)
        if init is not None:
            self.model.load_state_dict(init.model.state_dict())
        seeds = np.random.SeedSequence([config.seed, ranks.rank]).generate_state(2)
        torch.manual_seed(int(seeds[0]))  # dropout, per rank
        self.rank_state = _RankState(torch.Generator().manual_seed(int(seeds[1])))
        stateful = _Stateful(self.model)
        self.net = DistributedDataParallel(stateful, device_ids=[device] if device.type == "cuda" else None) if ranks.world > 1 else stateful

        self.sampler = DistributedSampler(range(len(self.train_split)), num_replicas=ranks.world, rank=ranks.rank, shuffle=True, seed=config.seed)
        self.batches_per_epoch = math.ceil(len(self.sampler) / tc.batch_size)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=tc.learning_rate, weight_decay=tc.weight_decay)
        self.scheduler = self._one_cycle(tc.epochs)
        self.average = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(tc.weight_average), use_buffers=True) if tc.weight_average else None
        self.progress = _Progress()

    def _one_cycle(self, epochs: int, last_step: int = -1) -> torch.optim.lr_scheduler.OneCycleLR:
        """The learning-rate schedule over `epochs`; from `last_step` on when it replaces a longer one."""
        tc = self.config.train
        return torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=tc.learning_rate, total_steps=epochs * self.batches_per_epoch, pct_start=tc.warmup_share,
            last_epoch=last_step,
        )

    @property
    def epochs_planned(self) -> int:
        return self.progress.epochs_planned or self.config.train.epochs

    @property
    def judged(self) -> WakewordModel:
        """The weights that are validated and saved: the moving average when there is one."""
        return self.average.module if self.average else self.model

    # -- checkpoints -------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def _rank_snapshot(self) -> dict[str, Any]:
        device = self.ranks.device
        return {
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "generator": self.rank_state.generator.get_state(),
            "carry": [h.cpu() for h in self.rank_state.carry] if self.rank_state.carry else None,
            "loss_sum": self.rank_state.loss_sum,
            "digest": _digest(self.model),
        }

    def save_checkpoint(self) -> None:
        self.ranks.sync_buffers(self.model)
        ranks = self.ranks.gather(self._rank_snapshot())
        if not self.ranks.main:
            return
        if len({r["digest"] for r in ranks}) != 1:
            raise RuntimeError("DDP ranks hold different weights: this is a bug")
        atomic_torch_save(
            {
                "format": CHECKPOINT_FORMAT,
                "version": CHECKPOINT_VERSION,
                "config": self.config.to_dict(),
                "data_manifest_sha256": self.data.manifest_sha256,
                "world_size": self.ranks.world,
                "model": {k: v.cpu() for k, v in self.model.state_dict().items()},
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "average": self.average.state_dict() if self.average else None,
                "progress": dataclasses.asdict(self.progress),
                "ranks": ranks,
            },
            self.checkpoint_path,
        )

    def resume(self) -> None:
        blob = self.ranks.from_main(self._read_checkpoint)
        device = self.ranks.device
        self.model.load_state_dict(blob["model"])
        self.optimizer.load_state_dict(blob["optimizer"])
        self.scheduler.load_state_dict(blob["scheduler"])
        if self.average:
            self.average.load_state_dict(blob["average"])
        self.progress = _Progress(**blob["progress"])
        mine = blob["ranks"][self.ranks.rank]
        torch.set_rng_state(mine["torch_rng"])
        if mine["cuda_rng"] is not None and device.type == "cuda":
            torch.cuda.set_rng_state(mine["cuda_rng"], device)
        self.rank_state.generator.set_state(mine["generator"])
        self.rank_state.carry = [h.to(device) for h in mine["carry"]] if mine["carry"] else None
        self.rank_state.loss_sum = mine["loss_sum"]

    def _read_checkpoint(self) -> dict[str, Any]:
        path = self.checkpoint_path
        if not path.is_file():
            raise ConfigError(f"nothing to resume: {path} does not exist (drop --resume to start a new run)")
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch.load raises many types for damaged files
            raise ModelFileError(f"cannot read checkpoint {path} ({type(exc).__name__}): delete it to start over") from None
        if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT or blob.get("version") != CHECKPOINT_VERSION:
            raise ModelFileError(f"{path} is not a checkpoint this wakeword can resume: delete it to start over")
        try:
            settings, data_sha, world = config_from_dict(blob["config"]), blob["data_manifest_sha256"], blob["world_size"]
        except (KeyError, ConfigError):
            raise ModelFileError(f"{path} is not a checkpoint this wakeword can resume: delete it to start over") from None
        if _resume_key(settings) != _resume_key(self.config):
            raise ConfigError(f"{path} was made with other settings (config, --epochs or --seed): resume with the same ones")
        if data_sha != self.data.manifest_sha256:
            raise ConfigError(f"{path} was trained on other data than {self.data.path}: resume with the same --data")
        if world != self.ranks.world:
            raise ConfigError(f"{path} was made by {world} process(es), this run has {self.ranks.world}: resume with the same number")
        return blob

    # -- reporting ---------------------------------------------------------------

    def write_model(self, state: dict[str, torch.Tensor], metrics: dict[str, Any], epoch: int) -> None:
        model = WakewordModel(self.config.features.n_mels, self.config.model)
        model.load_state_dict(state)
        threshold = metrics["val_threshold"] if metrics["val_threshold"] is not None else FALLBACK_THRESHOLD
        p = self.progress
        summary = {"epoch": epoch, "val_false_accepts_per_hour_budget": self.config.train.val_false_accepts_per_hour, **metrics,
                   "epochs_trained": p.epoch, "train_minutes": round(p.train_seconds / 60, 2)}
        save_model(self.run_dir / "model.npz", model, self.config, threshold, self.data.manifest_sha256, summary)

    def write_reports(self) -> None:
        """metrics.json, the learning curve, and model.npz: the best weights so far, with how long the run has trained."""
        p = self.progress
        report = {"history": p.history, "best": p.best, "stopped": p.stopped, "epochs_planned": self.epochs_planned}
        atomic_write_bytes(self.run_dir / "metrics.json", (json.dumps(report, indent=2) + "\n").encode())
        if p.best_state is not None:
            self.write_model(p.best_state, {k: v for k, v in p.best.items() if k.startswith("val_")}, p.best["epoch"])
        if p.history:
            _plot_learning_curve(p.history, self.run_dir / "learning_curve.png")

    # -- the loop ----------------------------------------------------------------

    def _validate(self) -> dict[str, Any]:
        """Val metrics of the judged weights, measured on rank 0 and shared with every rank."""
        return self.ranks.from_main(lambda: evaluate(self.judged, self.val_split, self.truth, self.clip_s, self.config, self.ranks.device))

    def out_of_time(self) -> bool:
        limit = self.config.train.max_minutes
        return bool(limit) and self.progress.train_seconds > limit * 60

    def _stop_reason(self, stop: _StopRequests) -> str | None:
        local = 0
        if self.out_of_time():
            local = 1
        if self.max_steps is not None and self.progress.step >= self.max_steps:
            local = 2
        if stop.requested:
            local = 3
        code = self.ranks.max(local)  # every rank stops at the same batch
        return _STOP_REASONS[code - 1] if code else None

    def _train_batch(self, indices: list[int]) -> float:
        tc, rs = self.config.train, self.rank_state
        idx = torch.as_tensor(indices, device=self.ranks.device)
        x = vocal_tract_warp(self.features[idx].float(), self.band_centers, tc.vocal_tract_warp, rs.generator)
        x = spec_augment(x, tc, rs.generator)
        y = self.labels[idx].float()
        hidden = _start_hidden(rs.carry, len(indices), tc.stream_carry, rs.generator)
        logits, new_hidden = self.net(x, hidden)
        loss = step_loss(logits, y, tc).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip_norm:
            nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip_norm)
        self.optimizer.step()
        self.scheduler.step()
        if self.average:
            self.average.update_parameters(self.model)
        rs.carry = [h.detach() for h in new_hidden]
        return loss.item()

    def _end_epoch(self, started: float) -> None:
        p, tc = self.progress, self.config.train
        loss_sum, batches = self.ranks.sum([self.rank_state.loss_sum, float(self.batches_per_epoch)])
        self.ranks.sync_buffers(self.model)
        metrics = self._validate()
        p.epoch, p.batch, self.rank_state.loss_sum = p.epoch + 1, 0, 0.0
        seconds = time.monotonic() - started  # training and validation
        entry = {"epoch": p.epoch, "train_loss": loss_sum / batches, **metrics, "lr": self.scheduler.get_last_lr()[0], "steps": p.step, "seconds": round(seconds, 2)}
        p.history.append(entry)
        improved = self.config.train.keep_epoch == "last" or _better(metrics, p.best)
        if improved:
            p.best, p.since_best = entry, 0
            p.best_state = {k: v.detach().cpu().clone() for k, v in self.judged.state_dict().items()}
        else:
            p.since_best += 1
        fa = metrics["val_false_accepts_per_hour"]
        self.log(
            f"epoch {p.epoch}/{self.epochs_planned}  loss {entry['train_loss']:.4f}  val_loss {metrics['val_loss']:.4f}  "
            f"recall@{tc.val_false_accepts_per_hour:g}FA/h {metrics['val_recall']:.3f}  "
            f"threshold {metrics['val_threshold'] if metrics['val_threshold'] is not None else '-'}  "
            f"FA/h {fa if fa is None else round(fa, 2)}  {seconds:.1f}s{'  *kept' if improved else ''}"
        )
        if p.since_best >= tc.early_stopping_patience:
            p.stopped = "early_stopping"
        elif p.epoch >= self.epochs_planned:
            p.stopped = "completed"

    def _fit_schedule_to_budget(self) -> None:
        """Shorten the schedule when the epochs left would overrun train.max_minutes (module doc)."""
        p, tc = self.progress, self.config.train
        budget = tc.max_minutes * 60
        epochs = self.ranks.from_main(lambda: epochs_within_budget(self.epochs_planned, p.epoch, p.train_seconds, budget))
        if epochs >= self.epochs_planned:
            return
        line = (f"{self.epochs_planned} epochs do not fit in train.max_minutes ({tc.max_minutes:g}) at {p.train_seconds / p.epoch:.1f} s an epoch: "
                f"the learning-rate schedule now ends after epoch {epochs}")
        if schedule_cut_short(epochs, tc.epochs):
            line = f"WARNING: {line} of the recipe's {tc.epochs}; the model will be undertrained"
        self.log(line)
        p.epochs_planned = epochs
        if p.epoch >= epochs:
            p.stopped = "completed"
            return
        # The same one-cycle curve over fewer steps, picked up at the step the run has reached.
        self.scheduler = self._one_cycle(epochs, p.step - 1)

    def fit(self) -> str:
        p, tc = self.progress, self.config.train
        clock = time.monotonic()

        def tick() -> None:
            nonlocal clock
            now = time.monotonic()
            p.train_seconds += now - clock
            clock = now

        with _StopRequests() as stop:
            while p.stopped not in FINISHED:
                self.sampler.set_epoch(p.epoch)
                order = list(self.sampler)
                batches = [order[i : i + tc.batch_size] for i in range(0, len(order), tc.batch_size)]
                epoch_started = time.monotonic()
                bar = tqdm(total=len(batches), initial=p.batch, desc=f"epoch {p.epoch + 1}/{self.epochs_planned}", leave=False, disable=None if self.ranks.main else True)
                with bar:
                    for indices in batches[p.batch :]:
                        tick()
                        reason = self._stop_reason(stop)
                        if reason:
                            return self._stop(reason)
                        loss = self._train_batch(indices)
                        self.rank_state.loss_sum += loss
                        p.batch += 1
                        p.step += 1
                        bar.update()
                        bar.set_postfix(loss=f"{loss:.4f}")
                self._end_epoch(epoch_started)
                tick()
                if tc.max_minutes and p.stopped is None:
                    self._fit_schedule_to_budget()
                self.save_checkpoint()
                if self.ranks.main:
                    self.write_reports()
        return p.stopped

    def _stop(self, reason: str) -> str:
        """Save where the run is; a graceful stop (not an interrupt) also leaves a model.npz behind."""
        self.progress.stopped = reason
        self.save_checkpoint()
        if self.ranks.main:
            self.write_reports()
        if reason != "interrupted" and self.progress.best is None:
            # Not recorded as best: a resumed run must go on exactly as if never stopped.
            metrics = self._validate()
            if self.ranks.main:
                self.write_model(self.judged.state_dict(), metrics, self.progress.epoch)
        return reason


def _resume_key(config: Config) -> Config:
    """The settings a resumed run must share with its checkpoint (not threads or time budget)."""
    return dataclasses.replace(config, train=dataclasses.replace(config.train, num_threads=0, max_minutes=0.0))


def _prepare_run_dir(run_dir: Path, resume: bool) -> None:
    if not resume and (run_dir / "checkpoint.pt").exists():
        raise ConfigError(f"{run_dir} already holds a run: pass --resume to continue it, or choose another --out")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create run folder {run_dir}: {exc.strerror}") from None


def train(
    config: Config,
    data_dir: str | Path,
    run_dir: str | Path,
    *,
    resume: bool = False,
    device: str = "auto",
    max_steps: int | None = None,
    log: Callable[[str], None] = print,
    init: str | Path | None = None,
) -> TrainResult:
    """Train on the dataset in `data_dir`, writing model.npz, checkpoint.pt, metrics.json and
    learning_curve.png to `run_dir`; `resume` continues the run a checkpoint there holds;
    `init` starts from a model file's weights (a second stage, e.g. on mined hard negatives)."""
    run_dir = Path(run_dir)
    data = load_dataset(data_dir)
    check_compatible(data.config, config)
    start = load_single_model(init, "training from a model") if init is not None else None
    if start is not None and (start.config.features, start.config.model) != (config.features, config.model):
        raise ConfigError(f"{init} has other features or model sizes than the config: start from a model trained with this recipe")
    ranks = _Ranks(device)
    try:
        torch.set_num_threads(config.train.num_threads or max(1, len(os.sched_getaffinity(0)) // ranks.local_world))
        ranks.from_main(lambda: _prepare_run_dir(run_dir, resume))
        run = _Run(config, data, run_dir, ranks, max_steps, log, start)
        if resume:
            run.resume()
            if run.progress.stopped in FINISHED:
                run.log(f"{run_dir}: run already finished ({run.progress.stopped}); nothing to do")
            elif run.out_of_time():
                run.log(f"{run_dir}: run already used its train.max_minutes ({config.train.max_minutes:g}); "
                        "nothing to do (raise it to train on)")
            else:
                run.progress.stopped = None
        stopped = run.fit() if run.progress.stopped is None else run.progress.stopped
        best = run.progress.best
        if best is not None and stopped != "interrupted":
            go_on = "raise train.max_minutes and --resume to go on" if stopped == "max_minutes" else "--resume goes on"
            cut = "" if stopped in FINISHED else f"stopped by {stopped} in epoch {run.progress.epoch + 1} ({go_on}); "
            run.log(
                f"{cut}{config.train.keep_epoch} epoch {best['epoch']}: recall {best['val_recall']:.3f} at {config.train.val_false_accepts_per_hour:g} "
                f"false accepts/hour on val; model: {run_dir / 'model.npz'}"
            )
        result = TrainResult(run_dir, stopped, run.progress.epoch, best, ranks.main, run.epochs_planned)
        # Only on the way out of a run that every rank finished: after an error on one rank
        # the others would wait here for the group's timeout instead of failing now.
        ranks.barrier()
        return result
    finally:
        ranks.close()
