"""Benchmark section ``training``: steps/s of the LightningModule vs a plain PyTorch loop.

Both train the default digits MLP (``conf/model/mlp.yaml``: 2 hidden layers of 64 ReLU units,
Adam, lr 1e-3, batch 64) for the same number of optimizer steps on the same in-memory batches;
the Lightning side is a complete ``Trainer.fit`` (set-up, logging of loss and accuracy each
step, no validation, no checkpoints). Steps/s is the steady-state rate (the time difference
between a long and a short fit); the end-to-end ratio of the long fit, set-up included, is
reported beside it. Target: steps/s ratio >= 0.8.
"""

from __future__ import annotations

import logging

import lightning as L
import torch

from nnref import registry
from nnref.bench._harness import Table, measure, ratio
from nnref.experiment.data import Digits, IndexBatches
from nnref.experiment.impl import to_impl
from nnref.experiment.lit import DataModule, LitModel
from nnref.experiment.models import MLP

__all__ = ["run"]


def _plain(dm: Digits, device: torch.device, impl: str, steps: int):
    x, y = dm.splits["train"]

    def loop() -> None:
        torch.manual_seed(0)
        model = to_impl(MLP(64, 10, width=64, depth=2), impl).to(device)
        opt = registry.get("optim", "adam", impl=impl, lr=1e-3)(model.parameters())
        loss_fn = registry.get("loss", "cross_entropy", impl=impl)
        loader = IndexBatches(x, y, 64, shuffle=True)
        done = 0
        while done < steps:
            for xb, yb in loader:
                opt.zero_grad(set_to_none=True)
                loss_fn(model(xb), yb).backward()
                opt.step()
                done += 1
                if done == steps:
                    break
        float(loss_fn(model(x[:64]), y[:64]).detach())  # wait for the device

    return loop


def _lightning(dm: Digits, device: torch.device, impl: str, steps: int):
    accelerator = "gpu" if device.type == "cuda" else device.type

    def fit() -> None:
        torch.manual_seed(0)
        lit = LitModel(MLP(64, 10, width=64, depth=2), optim={"name": "adam", "lr": 1e-3},
                       impl=impl)
        trainer = L.Trainer(max_steps=steps, accelerator=accelerator, devices=1, logger=False,
                            enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, limit_val_batches=0,
                            num_sanity_val_steps=0)
        trainer.fit(lit, datamodule=DataModule(dm))

    return fit


def run(args) -> list[Table]:
    device = torch.device(args.device)
    # Two fit lengths: the difference of their times is the cost of the extra steps alone, so
    # steady-state steps/s excludes what every fit pays once (Trainer set-up, first batches).
    short, long = (100, 300) if args.quick else (200, 1200)
    repeats = args.reps
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    dm = Digits(batch_size=64)
    dm.to_device(device)
    t = Table("Training loop: Lightning against a plain loop",
              ["impl", "plain loop (steps/s)", "Lightning (steps/s)", "Lightning / plain",
               f"whole fit of {long} steps incl. set-up: Lightning / plain"])
    for impl in ("reference", "torch"):
        fns = {(label, n): make(dm, device, impl, n)
               for label, make in (("plain", _plain), ("lightning", _lightning))
               for n in (short, long)}
        # one whole fit per repetition, the four interleaved so a drift in load hits each alike
        times = dict(zip(fns, measure(list(fns.values()), device, None, repeats), strict=True))
        rate = {label: [(long - short) / (b - a)
                        for a, b in zip(times[label, short], times[label, long], strict=True)]
                for label in ("plain", "lightning")}
        t.add(impl, max(rate["plain"]), max(rate["lightning"]),
              ratio(rate["lightning"], rate["plain"]),
              ratio(times["plain", long], times["lightning", long]))
    t.note = (f"Default digits MLP (64-64-64-10, ReLU, Adam, batch 64), device {device}. "
              f"Steps/s from fits of {short} and {long} steps (time difference per "
              f"repetition; the table gives the best of {repeats} interleaved repetitions); "
              "ratios: median (min–max) of the per-repetition ratios; the last column is the "
              "plain loop's end-to-end time over Lightning's.")
    return [t]
