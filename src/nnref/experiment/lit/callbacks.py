"""Callbacks that look inside training: gradient flow per layer, and a divergence guard.

Both work with any LightningModule: layers are found by type (every module with a weight matrix
or kernel), activations by the registry (every module whose class is a registered activation,
reference or built-in).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict

import lightning as L
import torch
from torch import nn

from nnref import registry
from nnref.regularization import max_norm_

__all__ = ["GradientFlowMonitor", "DivergenceGuard", "MaxNormConstraint", "gradient_flow_figure"]

log = logging.getLogger(__name__)


def _activation_specs() -> dict[type, registry.Spec]:
    table = {}
    for s in registry.ACTIVATIONS.values():
        for cls in (s.reference, s.builtin):
            if isinstance(cls, type):
                table[cls] = s
    return table


def _layers(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(name, weight) of every layer with a weight matrix/kernel, input side first."""
    return [(name, m.weight) for name, m in module.named_modules()
            if isinstance(getattr(m, "weight", None), nn.Parameter) and m.weight.dim() >= 2]


def _tensorboard(trainer: L.Trainer):
    """The first logger's SummaryWriter if it is TensorBoard (histograms and figures)."""
    for logger in trainer.loggers:
        exp = getattr(logger, "experiment", None)
        if hasattr(exp, "add_histogram"):
            return exp
    return None


class GradientFlowMonitor(L.Callback):
    r"""Log how gradients flow through the layers of any LightningModule.

    Every ``every_n_steps`` training steps, for each layer with a weight matrix :math:`W_l`:

    - ``grad_norm/<layer>`` :math:`\lVert \partial J / \partial W_l \rVert_2` and
      ``weight_norm/<layer>`` :math:`\lVert W_l \rVert_2` (scalars);
    - ``grad_norm_ratio/first_over_last``: first layer's gradient norm over the last's
      (:math:`\ll 1` when gradients vanish toward the input, :math:`\gg 1` when they explode);
    - for every registered activation module: ``saturated/<module>``, the fraction of outputs
      within ``saturation`` of the bounds of a function with a bounded output range
      (``Spec.output_range``, where :math:`f' \approx 0`), or ``dead/<module>``, the fraction of
      units (features/channels) with output :math:`\le 0` on the whole batch for a function
      whose units can die (``Spec.dies``: the ReLU and ELU families);
    - with ``histograms``: weight, gradient and activation histograms (TensorBoard only).

    At each epoch end, a bar chart of the epoch's mean gradient norm per layer (log scale) is
    logged as the image ``gradient_flow`` (TensorBoard only).

    Args:
        every_n_steps: sampling period in optimizer steps (>= 1). Default: 25.
        histograms: also log histograms. Default: ``True``.
        figure: log the per-epoch gradient-flow bar chart. Default: ``True``.
        saturation: closeness to a bound, as a fraction of the output range. Default: 0.01.
    """

    def __init__(self, every_n_steps: int = 25, histograms: bool = True, figure: bool = True,
                 saturation: float = 0.01) -> None:
        if not isinstance(every_n_steps, int) or every_n_steps < 1:
            raise ValueError(f"every_n_steps must be an integer >= 1, got {every_n_steps!r}")
        if not 0.0 < saturation < 0.5:
            raise ValueError(f"saturation must be in (0, 0.5), got {saturation!r}")
        self.every_n_steps, self.histograms, self.figure = every_n_steps, histograms, figure
        self.saturation = saturation
        self._hooks: list = []
        self._capture = False
        self._outputs: dict[str, torch.Tensor] = {}
        self._epoch_norms: dict[str, list[float]] = defaultdict(list)

    # -- set-up -------------------------------------------------------------------------------
    def on_fit_start(self, trainer, pl_module) -> None:
        specs = _activation_specs()
        self._acts: dict[str, registry.Spec] = {}
        for name, m in pl_module.named_modules():
            s = specs.get(type(m))
            if s is not None and name:
                self._acts[name] = s
                self._hooks.append(m.register_forward_hook(self._hook(name)))

    def on_fit_end(self, trainer, pl_module) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks.clear()

    def _hook(self, name: str):
        def record(module, args, output):
            if self._capture and isinstance(output, torch.Tensor):
                self._outputs[name] = output.detach()
        return record

    def _due(self, trainer) -> bool:
        return trainer.global_step % self.every_n_steps == 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._capture = self._due(trainer)
        self._outputs.clear()

    # -- measurements -------------------------------------------------------------------------
    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        # callbacks run before the module's own hook: these are the norms before clipping
        if not self._due(trainer):
            return
        self._capture = False
        step = trainer.global_step
        metrics: dict[str, float] = {}
        norms = {}
        writer = _tensorboard(trainer) if self.histograms else None
        for name, w in _layers(pl_module):
            if w.grad is None:
                continue
            g = float(w.grad.detach().float().norm())
            norms[name] = g
            metrics[f"grad_norm/{name}"] = g
            metrics[f"weight_norm/{name}"] = float(w.detach().float().norm())
            self._epoch_norms[name].append(g)
            if writer is not None:
                writer.add_histogram(f"weights/{name}", w.detach().float().cpu(), step)
                writer.add_histogram(f"grads/{name}", w.grad.detach().float().cpu(), step)
        if len(norms) >= 2:
            first, last = next(iter(norms.values())), list(norms.values())[-1]
            metrics["grad_norm_ratio/first_over_last"] = first / last if last > 0 else math.inf
        for name, out in self._outputs.items():
            s = self._acts[name]
            if s.output_range is not None:
                lo, hi = s.output_range
                band = self.saturation * (hi - lo)
                sat = ((out <= lo + band) | (out >= hi - band)).float().mean()
                metrics[f"saturated/{name}"] = float(sat)
            elif s.dies and out.dim() >= 2:
                per_unit = (out <= 0).transpose(0, 1).reshape(out.shape[1], -1).all(1)
                metrics[f"dead/{name}"] = float(per_unit.float().mean())
            if writer is not None:
                writer.add_histogram(f"activations/{name}", out.float().cpu(), step)
        self._outputs.clear()
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        norms = {k: sum(v) / len(v) for k, v in self._epoch_norms.items() if v}
        self._epoch_norms.clear()
        writer = _tensorboard(trainer)
        if not (self.figure and norms and writer is not None):
            return
        writer.add_figure("gradient_flow", gradient_flow_figure(norms,
                          f"epoch {trainer.current_epoch}"), trainer.global_step)


def gradient_flow_figure(norms: dict[str, float], title: str = ""):
    """Bar chart of per-layer gradient norms (log scale), input layer on the left."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(norms) + 2), 3.2))
    values = [max(v, 1e-30) for v in norms.values()]
    ax.bar(range(len(values)), values, color="tab:blue")
    ax.set_yscale("log")
    ax.set_xticks(range(len(values)), list(norms), rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("mean gradient L2 norm")
    ax.set_title(f"gradient flow {title}".strip())
    fig.tight_layout()
    return fig


class DivergenceGuard(L.Callback):
    """Stop a run cleanly when the loss or a gradient becomes NaN/inf.

    The run is marked (``diverged = 1``, ``diverged_step``), the metric ``diverged`` is logged,
    and ``trainer.should_stop`` ends it after the current step, so one exploding job of a sweep
    finishes like the others and reports instead of raising.
    """

    def __init__(self) -> None:
        self.diverged = 0
        self.diverged_step: int | None = None

    def _trip(self, trainer, why: str) -> None:
        if self.diverged:
            return
        self.diverged, self.diverged_step = 1, trainer.global_step
        trainer.should_stop = True
        log.warning("run diverged at step %d (%s); stopping it", trainer.global_step, why)
        for logger in trainer.loggers:
            logger.log_metrics({"diverged": 1.0}, step=trainer.global_step)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        for p in pl_module.parameters():
            if p.grad is not None and not torch.isfinite(p.grad).all():
                self._trip(trainer, "non-finite gradient")
                # a step with NaN gradients would poison every weight; skip it
                for q in pl_module.parameters():
                    q.grad = None
                return

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor) and not torch.isfinite(loss).all():
            self._trip(trainer, "non-finite loss")

    def state_dict(self) -> dict:
        return {"diverged": self.diverged, "diverged_step": self.diverged_step}

    def load_state_dict(self, state_dict: dict) -> None:
        self.diverged = state_dict["diverged"]
        self.diverged_step = state_dict["diverged_step"]


class MaxNormConstraint(L.Callback):
    r"""Max-norm regularization (Srivastava et al. 2014): after every optimizer step, each
    unit's incoming weight vector of every layer with a weight matrix/kernel is projected back
    onto the ball :math:`\lVert w_j \rVert_2 \le c` (:func:`nnref.regularization.max_norm_`).

    Args:
        max_norm: the radius :math:`c > 0`.
    """

    def __init__(self, max_norm: float = 3.0) -> None:
        if not max_norm > 0:
            raise ValueError(f"max_norm must be > 0, got {max_norm!r}")
        self.max_norm = max_norm

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        with torch.no_grad():
            for _, w in _layers(pl_module):
                max_norm_(w, self.max_norm)
