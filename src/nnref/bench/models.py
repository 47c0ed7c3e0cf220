"""Benchmark section ``models``: one whole training step (forward, loss, backward, optimizer
step) of small models built from references, against the same models on torch built-ins.

Each model is built once from ``torch.nn`` built-ins; the reference side is
``nnref.swap.to_reference`` of a deep copy, so both sides hold the same weights and differ only
in the implementation of batch norm, the activation, dropout and the loss (convolutions and
linear layers have no reference and are shared code). Models:

- CNN: three blocks of 3x3 convolution, batch norm and the activation (the second and third
  with stride 2), dropout, global average pooling, a linear classifier;
- MLP: flattened input, two hidden layers of 512 units with batch norm, the activation and
  dropout, a linear classifier.

Input 128 x 3 x 32 x 32 float32 (``--quick``: 16 images), 10 classes, cross-entropy loss.
Optimizers: momentum SGD and Adam, ``nnref.optim`` on the reference side and ``torch.optim``
on the built-in side. Eager, and with the model and loss under ``torch.compile`` (the
optimizer step stays eager, as with ``torch.compile(model)``), and the eager reference step
inside :func:`nnref.fused` (each Function's own formula compiled), with the time its first step
takes (the compilation). Bars: compiled 1.05x compiled torch, fused 1.1x eager torch, peak
memory 1.0x torch's in both modes.
"""

from __future__ import annotations

import copy
import time

import torch
from torch import nn

from nnref import optim as ref_optim
from nnref import registry
from nnref.bench._harness import Table, compile_fresh, measure, peak_memory, ratio, verdict
from nnref.bench.activations import backward_passes
from nnref.fusion import fused
from nnref.swap import to_reference

ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "elu": nn.ELU, "tanh": nn.Tanh}
OPTIMIZERS = {  # name -> (reference class, built-in class, arguments)
    "momentum SGD": (ref_optim.SGD, torch.optim.SGD, {"lr": 0.01, "momentum": 0.9}),
    "Adam": (ref_optim.Adam, torch.optim.Adam, {"lr": 1e-3}),
}
CLASSES = 10
COMPILED_BAR, FUSED_BAR, MEMORY_BAR = 1.05, 1.1, 1.0


def _fused(step):
    def run():
        with fused():
            step()
    return run


class Classifier(nn.Module):
    """A network and its loss in one module, so that swapping the model swaps the loss too."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body
        self.loss = nn.CrossEntropyLoss()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss(self.body(x), y)


def cnn(act: type[nn.Module], width: int = 32) -> Classifier:
    blocks, channels = [], 3
    for i, out in enumerate((width, 2 * width, 4 * width)):
        blocks += [nn.Conv2d(channels, out, 3, stride=1 if i == 0 else 2, padding=1, bias=False),
                   nn.BatchNorm2d(out), act()]
        channels = out
    return Classifier(nn.Sequential(*blocks, nn.Dropout(0.2), nn.AdaptiveAvgPool2d(1),
                                    nn.Flatten(), nn.Linear(channels, CLASSES)))


def mlp(act: type[nn.Module], inputs: int = 3 * 32 * 32, width: int = 512) -> Classifier:
    layers, features = [nn.Flatten()], inputs
    for _ in range(2):
        layers += [nn.Linear(features, width), nn.BatchNorm1d(width), act(), nn.Dropout(0.2)]
        features = width
    return Classifier(nn.Sequential(*layers, nn.Linear(features, CLASSES)))


def _pair(build, act, device) -> tuple[Classifier, Classifier]:
    torch.manual_seed(0)
    base = build(ACTIVATIONS[act]).to(device).train()
    ref = copy.deepcopy(base)
    report = to_reference(ref)
    if report.skipped or not report.replaced:
        raise RuntimeError(f"the swap did not convert the benchmark model:\n{report}")
    return ref, base


def _step(loss_fn, opt, x, y):
    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(x, y).backward()
        opt.step()
    return step


def run(args) -> list[Table]:
    device = args.device
    batch = 16 if args.quick else 128
    min_run = 0.05 if args.quick else 0.6
    models = [("CNN", cnn, act) for act in ACTIVATIONS] + [("MLP", mlp, "relu")]
    if args.quick:
        models = models[:1] + models[-1:]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, CLASSES, (batch,), generator=g).to(device)

    head = ["model", "optimizer", "reference ms", "torch ms", "eager ratio",
            "act bwd passes ref", "act bwd passes torch"]
    mem_head = ["model", "reference MiB", "torch MiB", "ratio", "bar"]
    if not args.no_compile:
        head += ["compiled ref ms", "compiled torch ms", "compiled ratio",
                 "compiled ref / eager torch", "bar", "fused ref ms", "fused first step s",
                 "fused ref / eager torch", "fused bar"]
        mem_head += ["fused reference MiB", "fused ratio", "fused bar"]
    timing = Table("Models, one training step", head)
    memory = Table("Models, peak memory of one training step (eager and fused)", mem_head)
    for kind, build, act in models:
        ref, base = _pair(build, act, device)
        passes = backward_passes(registry.spec("activation", act), {})
        losses = {"eager": (ref, base)}
        if not args.no_compile:
            losses["compiled"] = tuple(compile_fresh(ref, base))
        for opt_name, (ref_cls, base_cls, kwargs) in OPTIMIZERS.items():
            opts = (ref_cls(ref.parameters(), **kwargs), base_cls(base.parameters(), **kwargs))
            steps = [_step(fn, opt, x, y) for pair in losses.values()
                     for fn, opt in zip(pair, opts, strict=True)]
            if not args.no_compile:
                steps.append(_fused(_step(ref, opts[0], x, y)))
                start = time.perf_counter()
                steps[-1]()  # the first fused step compiles each Function's formula
                first = time.perf_counter() - start
            t = measure(steps, device, min_run, args.reps)
            row = [f"{kind} {act}", opt_name, min(t[0]) * 1e3, min(t[1]) * 1e3,
                   ratio(t[0], t[1]), *passes]
            if not args.no_compile:
                compiled = ratio(t[2], t[3])
                fused_ratio = ratio(t[4], t[1])
                row += [min(t[2]) * 1e3, min(t[3]) * 1e3, compiled, ratio(t[2], t[1]),
                        verdict(compiled, COMPILED_BAR), min(t[4]) * 1e3, first, fused_ratio,
                        verdict(fused_ratio, FUSED_BAR)]
            timing.add(*row)
            if kind == "CNN" and opt_name == "momentum SGD":
                # the peak comes in backward, before the optimizer's temporaries: one optimizer
                # stands for both. zero_grad before the window, so new gradients count.
                peaks = []
                pairs = [(steps[0], opts[0]), (steps[1], opts[1])]
                if not args.no_compile:
                    pairs.append((steps[4], opts[0]))
                for step, opt in pairs:
                    opt.zero_grad(set_to_none=True)
                    peaks.append(peak_memory(step, device))
                row = [f"{kind} {act}", peaks[0] / 2**20, peaks[1] / 2**20]
                for peak in [peaks[0], *peaks[2:]]:
                    r = peak / peaks[1]
                    row += [r, f"{MEMORY_BAR}x " + ("ok" if r <= MEMORY_BAR else "over")]
                if len(peaks) == 3:
                    row.insert(5, peaks[2] / 2**20)
                memory.add(*row)

    timing.note = (
        f"One training step (zero_grad, forward, cross-entropy, backward, optimizer step) on "
        f"a {batch}x3x32x32 float32 batch on {device}, training mode. Times: fastest of "
        f"{args.reps} alternating repetitions (torch.utils.benchmark); ratios: median (min–max) "
        "of the per-repetition ratios, reference / torch, > 1 means the reference is slower. "
        "'act bwd passes': the activation's backward alone, kernels touching a full-size "
        "tensor / full-size tensors read + written (nnref.bench._passes): the eager gap's "
        "count."
        + ("" if args.no_compile else
           " Compiled: model and loss under torch.compile, optimizer step eager; bar "
           f"{COMPILED_BAR}x, 'ok' only if the whole interval is under it. Fused: the eager "
           "reference step inside nnref.fused() (each Function's own formula compiled; the "
           "first step pays the compilation: 'fused first step s'), against eager torch, bar "
           f"{FUSED_BAR}x."))
    memory.note = (
        "Peak memory allocated during one eager training step with momentum SGD (activations "
        "kept for backward, gradients, temporaries; weights and optimizer state excluded), "
        + ("torch.cuda.max_memory_allocated." if torch.device(device).type == "cuda" else
           "from the allocations and frees the torch profiler records (deterministic: no "
           "interval)."))
    return [timing, memory]
