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
optimizer step stays eager, as with ``torch.compile(model)``).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from nnref import optim as ref_optim
from nnref.bench._harness import compare, compile_fresh, peak_memory, table
from nnref.swap import to_reference

ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "elu": nn.ELU, "tanh": nn.Tanh}
OPTIMIZERS = {  # name -> (reference class, built-in class, arguments)
    "momentum SGD": (ref_optim.SGD, torch.optim.SGD, {"lr": 0.01, "momentum": 0.9}),
    "Adam": (ref_optim.Adam, torch.optim.Adam, {"lr": 1e-3}),
}
CLASSES = 10


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


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}"


def run(args) -> str:
    device = args.device
    batch = 16 if args.quick else 128
    min_run, rounds = (0.3, 2) if args.quick else (3.0, 5)
    models = [("CNN", cnn, act) for act in ACTIVATIONS] + [("MLP", mlp, "relu")]
    if args.quick:
        models = models[:1] + models[-1:]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, CLASSES, (batch,), generator=g).to(device)

    rows, memory = [], []
    for kind, build, act in models:
        ref, base = _pair(build, act, device)
        losses = {"eager": (ref, base)}
        if not args.no_compile:
            losses["compiled"] = tuple(compile_fresh(ref, base))
        for opt_name, (ref_cls, base_cls, kwargs) in OPTIMIZERS.items():
            opts = (ref_cls(ref.parameters(), **kwargs), base_cls(base.parameters(), **kwargs))
            steps = [_step(fn, opt, x, y) for pair in losses.values()
                     for fn, opt in zip(pair, opts, strict=True)]
            t = compare(steps, device, min_run, rounds)
            row = [f"{kind} {act}", opt_name, f"{t[0] * 1e3:.1f}", f"{t[1] * 1e3:.1f}",
                   _ratio(t[0], t[1])]
            if not args.no_compile:
                row += [f"{t[2] * 1e3:.1f}", f"{t[3] * 1e3:.1f}", _ratio(t[2], t[3]),
                        _ratio(t[2], t[1])]
            rows.append(row)
            if kind == "CNN" and opt_name == "momentum SGD":
                # the peak comes in backward, before the optimizer's temporaries: one optimizer
                # stands for both. zero_grad before the window, so new gradients count.
                peaks = []
                for step, opt in zip(steps[:2], opts, strict=True):
                    opt.zero_grad(set_to_none=True)
                    peaks.append(peak_memory(step, device))
                memory.append([f"{kind} {act}", f"{peaks[0] / 2**20:.1f}",
                               f"{peaks[1] / 2**20:.1f}", _ratio(*peaks)])

    head = ["model", "optimizer", "reference ms", "torch ms", "eager ratio"]
    if not args.no_compile:
        head += ["compiled ref ms", "compiled torch ms", "compiled ratio",
                 "compiled ref / eager torch"]
    shape = f"{batch}x3x32x32"
    timing = table(head, rows, (
        f"One training step (zero_grad, forward, cross-entropy, backward, optimizer step) on "
        f"a {shape} float32 batch on {device}, training mode; best of {rounds} alternating "
        f"medians (torch.utils.benchmark). Ratio: reference / torch, > 1 means the reference "
        f"is slower."
        + ("" if args.no_compile else
           " Compiled: model and loss under torch.compile, optimizer step eager.")))
    peak = table(["model", "reference MiB", "torch MiB", "ratio"], memory, (
        "Peak memory allocated during one eager training step with momentum SGD (activations "
        "kept for backward, gradients, temporaries; weights and optimizer state excluded), "
        + ("torch.cuda.max_memory_allocated." if torch.device(device).type == "cuda" else
           "from the allocations and frees the torch profiler records.")))
    return timing + "\n\n" + peak
