"""Callbacks that look inside training: gradient flow per layer, and a divergence guard.

Both work with any LightningModule: layers are found by type (every module with a weight matrix
or kernel), activations by the registry (every module whose class is a registered activation,
reference or built-in).
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict

import lightning as L
import torch
from lightning.pytorch.callbacks import ProgressBar, RichProgressBar
from torch import nn

from nnref import registry
from nnref.regularization import max_norm_

__all__ = ["GradientFlowMonitor", "DivergenceGuard", "MaxNormConstraint", "EpochLine",
           "gradient_flow_figure", "STORY_LAYOUT", "GradientThroughTime", "EpochBar"]

log = logging.getLogger(__name__)

# TensorBoard's Custom Scalars tab, in this order: what the run learned, then how the gradient
# reached each layer. Every layer's log10 gradient norm shares one chart, so a vanishing
# gradient reads as lines fanning out downward toward the input layers.
STORY_LAYOUT = {
    "1 loss and accuracy": {
        "loss": ["Multiline", [r"^train/loss_epoch$", r"^val/loss$", r"^test/loss$"]],
        "accuracy": ["Multiline", [r"^train/acc$", r"^val/acc$", r"^test/acc$"]],
    },
    "2 gradient flow": {
        "log10 gradient L2 norm, every layer": ["Multiline", [r"^grad_norm_log10/"]],
        "log10 first layer / last layer gradient norm":
            ["Multiline", [r"^grad_norm_ratio/log10_first_over_last$"]],
    },
    "4 gradient through time": {
        "log10 |dL/dh_t| against t, one line per measured step":
            ["Multiline", [r"^grad_through_time/"]],
    },
    "3 saturated and dead units": {
        "fraction of saturated outputs": ["Multiline", [r"^saturated/"]],
        "fraction of dead units": ["Multiline", [r"^dead/"]],
    },
}


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

    - ``grad_norm/<layer>`` :math:`\lVert \partial J / \partial W_l \rVert_2`, its
      ``grad_norm_log10/<layer>``, and ``weight_norm/<layer>`` :math:`\lVert W_l \rVert_2`;
    - ``grad_norm_ratio/first_over_last``: first layer's gradient norm over the last's
      (:math:`\ll 1` when gradients vanish toward the input, :math:`\gg 1` when they explode),
      and its ``log10_first_over_last``;
    - for every registered activation module: ``saturated/<module>``, the fraction of outputs
      within ``saturation`` of the bounds of a function with a bounded output range
      (``Spec.output_range``, where :math:`f' \approx 0`), or ``dead/<module>``, the fraction of
      units (features/channels) with output :math:`\le 0` on the whole batch for a function
      whose units can die (``Spec.dies``: the ReLU and ELU families);
    - with ``histograms``: weight, gradient and activation histograms (TensorBoard only).

    At each epoch end, a bar chart of the epoch's mean gradient norm per layer (log scale) is
    logged as the image ``gradient_flow`` (TensorBoard only). With TensorBoard, the run also
    carries :data:`STORY_LAYOUT` (the Custom Scalars tab): loss and accuracy first, then
    every layer's log10 gradient norm on one chart beside the first/last ratio.

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
        self._layers: list[tuple[str, nn.Parameter]] = []
        self._figure: _FlowFigure | None = None

    # -- set-up -------------------------------------------------------------------------------
    def on_fit_start(self, trainer, pl_module) -> None:
        writer = _tensorboard(trainer)
        if writer is not None and trainer.is_global_zero:
            writer.add_custom_scalars(STORY_LAYOUT)
        self._layers = _layers(pl_module)  # walked once, not at every sampled step
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
        if self._figure is not None:
            self._figure.close()
            self._figure = None

    def on_exception(self, trainer, pl_module, exception) -> None:
        # a failed job of a sweep leaves no hooks on its model and no open figure behind
        self.on_fit_end(trainer, pl_module)

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
        layers = [(name, w) for name, w in self._layers if w.grad is not None]
        # every norm in one tensor, read back at once: one host sync, not two per layer
        values = torch.stack([t.detach().float().norm() for _, w in layers
                              for t in (w.grad, w)]).tolist() if layers else []
        norms = dict(zip([name for name, _ in layers], values[0::2], strict=True))
        writer = _tensorboard(trainer) if self.histograms else None
        for (name, w), g, wn in zip(layers, values[0::2], values[1::2], strict=True):
            metrics[f"grad_norm/{name}"] = g
            metrics[f"grad_norm_log10/{name}"] = math.log10(g) if g > 0 else -math.inf
            metrics[f"weight_norm/{name}"] = wn
            self._epoch_norms[name].append(g)
            if writer is not None:
                _histogram(writer, f"weights/{name}", w, step)
                _histogram(writer, f"grads/{name}", w.grad, step)
        if len(norms) >= 2:
            first, last = next(iter(norms.values())), list(norms.values())[-1]
            ratio = first / last if last > 0 else math.inf
            metrics["grad_norm_ratio/first_over_last"] = ratio
            metrics["grad_norm_ratio/log10_first_over_last"] = (math.log10(ratio) if ratio > 0
                                                                else -math.inf)
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
                _histogram(writer, f"activations/{name}", out, step)
        self._outputs.clear()
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        norms = {k: sum(v) / len(v) for k, v in self._epoch_norms.items() if v}
        self._epoch_norms.clear()
        writer = _tensorboard(trainer)
        if not (self.figure and norms and writer is not None):
            return
        title = f"epoch {trainer.current_epoch + 1}"
        if self._figure is None or not self._figure.update(norms, title):
            if self._figure is not None:
                self._figure.close()
            self._figure = _FlowFigure(norms, title)
        # the figure is redrawn in place next epoch: laying out a new one costs more than
        # rendering it
        writer.add_figure("gradient_flow", self._figure.fig, trainer.global_step, close=False)


def _short_names(names: list[str]) -> list[str]:
    """Layer names without what they all share (``model.hidden3.linear`` -> ``hidden3``)."""
    parts = [n.split(".") for n in names]
    while len(parts) > 1 and all(len(p) > 1 for p in parts) and len({p[0] for p in parts}) == 1:
        parts = [p[1:] for p in parts]
    return [".".join(p[:-1]) if len(p) > 1 and p[-1] == "linear" else ".".join(p) for p in parts]


def _span(values: list[float]) -> tuple[float, float]:
    """Log-axis limits around the positive finite values, with a decade of margin."""
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    lo = 10 ** math.floor(math.log10(min(positive)) - 0.5) if positive else 1e-3
    hi = 10 ** math.ceil(math.log10(max(positive)) + 0.3) if positive else 1.0
    return lo, hi


def _histogram(writer, tag: str, values: torch.Tensor, step: int) -> None:
    """A histogram of the finite values (TensorBoard's raises on a tensor of NaN, as a run
    without the divergence guard leaves its weights); none if no value is finite."""
    v = values.detach().float().flatten().cpu()
    v = v[torch.isfinite(v)]
    if v.numel():
        writer.add_histogram(tag, v, step)


class _FlowFigure:
    """The gradient-flow bar chart, kept open so later epochs redraw its bars in place."""

    def __init__(self, norms: dict[str, float], title: str) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        self.layers = list(norms)
        names, values = _short_names(self.layers), list(norms.values())
        self.span = _span(values)
        # One size for every depth up to 30 layers (720 x 400 pixels): TensorBoard scales an
        # image to its card, so a figure that widened with depth had its labels shrunk away.
        self.fig, self.ax = plt.subplots(figsize=(7.2, 4.0), dpi=100)
        ax = self.ax
        self.bars = ax.bar(range(len(values)), [0.0] * len(values), bottom=self.span[0],
                           color="tab:blue")
        ax.set_yscale("log")
        ax.set_ylim(*self.span)
        many = len(values) > 8
        ax.set_xticks(range(len(values)), names, rotation=90 if many else 0,
                      ha="center", fontsize=9 if len(values) <= 20 else 8)
        ax.set_xlabel("layer (input side on the left)")
        ax.set_ylabel("mean gradient L2 norm")
        ax.grid(axis="y", which="major", alpha=0.3)
        self._draw(values, title)
        self.fig.tight_layout()

    def update(self, norms: dict[str, float], title: str) -> bool:
        """Show ``norms``; ``False`` (nothing changed) when a new figure is needed: other
        layers, or other axis limits, whose tick labels need a new layout."""
        values = list(norms.values())
        if list(norms) != self.layers or _span(values) != self.span:
            return False
        self._draw(values, title)
        return True

    def _draw(self, values: list[float], title: str) -> None:
        lo = self.span[0]
        for bar, v in zip(self.bars, values, strict=True):
            bar.set_height(v - lo if v > lo and math.isfinite(v) else 0.0)
        for text in list(self.ax.texts):
            text.remove()
        for i, v in enumerate(values):
            if not v > 0:
                self.ax.annotate("0", (i, lo), ha="center", va="bottom", color="tab:red")
        self.ax.set_title(f"gradient flow {title}".strip())

    def close(self) -> None:
        import matplotlib.pyplot as plt

        plt.close(self.fig)


def gradient_flow_figure(norms: dict[str, float], title: str = ""):
    """Bar chart of per-layer gradient norms, input layer on the left.

    The log axis spans the data (a decade of margin), so bars of similar height differ
    visibly; a layer whose gradient is exactly zero is marked ``0`` on the floor.
    """
    return _FlowFigure(norms, title).fig


class GradientThroughTime(L.Callback):
    r"""Log how the gradient reaches each time step of every nnref recurrent layer.

    Every ``every_n_steps`` training steps (the first included), for each
    :mod:`nnref.recurrent` layer ``<name>``, the scalars
    ``grad_through_time/<name>/step_<k>`` hold :math:`\log_{10} \lVert \partial L /
    \partial h_t \rVert` (the last layer's state, summed over the batch) with
    :math:`t = 1 \dots T` as TensorBoard's step: one line per measured training step ``k`` in
    the Custom Scalars chart *gradient through time*. A line falling toward ``t = 1`` is a
    gradient that vanishes through time; one rising, a gradient that explodes.

    Args:
        every_n_steps: measure every this many optimizer steps (>= 1). Default: 100.
    """

    def __init__(self, every_n_steps: int = 100) -> None:
        if not (isinstance(every_n_steps, int) and every_n_steps >= 1):
            raise ValueError(f"every_n_steps must be an integer >= 1, got {every_n_steps!r}")
        self.every_n_steps = every_n_steps
        self._layers: list[tuple[str, nn.Module]] = []

    def on_fit_start(self, trainer, pl_module) -> None:
        from nnref.recurrent import GRU, LSTM, RNN

        self._layers = [(n, m) for n, m in pl_module.named_modules()
                        if isinstance(m, (RNN, LSTM, GRU))]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step % self.every_n_steps == 0:
            for _, layer in self._layers:
                layer.kept_states = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        for name, layer in self._layers:
            kept, layer.kept_states = layer.kept_states, None
            if not kept:
                continue
            norms = torch.stack([h.grad.norm() if h.grad is not None else h.new_zeros(())
                                 for h in kept]).tolist()
            tag = f"grad_through_time/{name.removeprefix('model.')}/step_{trainer.global_step}"
            for t, g in enumerate(norms, start=1):
                for logger in trainer.loggers:
                    logger.log_metrics({tag: math.log10(g) if g > 0 else -math.inf}, step=t)


class EpochBar(RichProgressBar):
    """Lightning's Rich bar on a terminal, counting epochs from 1 as the log lines do
    (``epoch 3/10``, not Lightning's ``Epoch 2/9``)."""

    def _get_train_description(self, current_epoch: int) -> str:
        last = self.trainer.max_epochs if self.trainer.max_epochs not in (None, -1) else "?"
        text = f"epoch {current_epoch + 1}/{last}"
        return f"{text:{max(len(text), len(self.validation_description))}}"


class EpochLine(ProgressBar):
    """Progress for logs and CI: one line per epoch, instead of a bar redrawn in place.

    ``epoch 3/10  train/loss    0.4120  val/loss    0.3980  val/acc    0.9120  (1.4 s)``: the
    epoch's loss and accuracy metrics (fixed width), and the time the epoch took.
    """

    def __init__(self) -> None:
        super().__init__()
        self._enabled = True
        self._start = 0.0
        self._epoch: int | None = None

    def enable(self) -> None:
        self._enabled = True

    def disable(self) -> None:
        self._enabled = False

    def print(self, *args, **kwargs) -> None:
        print(*args, **kwargs)

    # The module logs the epoch's training figures after every callback's on_train_epoch_end,
    # so an epoch's line is written when the next epoch starts, or when training ends.
    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._report(trainer)
        self._start, self._epoch = time.perf_counter(), trainer.current_epoch

    def on_train_end(self, trainer, pl_module) -> None:
        self._report(trainer)

    def _report(self, trainer) -> None:
        if self._epoch is None or not self._enabled or not trainer.is_global_zero:
            return
        from nnref.experiment.console import metrics_text

        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()
                   if isinstance(v, torch.Tensor) and v.numel() == 1}
        last = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?"
        text = metrics_text(metrics, ("train/loss_epoch", "train/acc", "val/loss", "val/acc"))
        print(f"epoch {self._epoch + 1}/{last}  {text}  "
              f"({time.perf_counter() - self._start:.1f} s)", flush=True)
        self._epoch = None

class DivergenceGuard(L.Callback):
    """Stop a run cleanly when the loss or a gradient becomes NaN/inf.

    The run is marked (``diverged = 1``, ``diverged_step``), the metric ``diverged`` is logged,
    and ``trainer.should_stop`` ends it after the current step, so one exploding job of a sweep
    finishes like the others and reports instead of raising.
    """

    def __init__(self) -> None:
        self.diverged = 0
        self.diverged_step: int | None = None
        self._params: list[nn.Parameter] = []

    def _trip(self, trainer, why: str) -> None:
        if self.diverged:
            return
        self.diverged, self.diverged_step = 1, trainer.global_step
        trainer.should_stop = True
        log.warning("run diverged at step %d (%s); stopping it", trainer.global_step, why)
        for logger in trainer.loggers:
            logger.log_metrics({"diverged": 1.0}, step=trainer.global_step)

    def on_fit_start(self, trainer, pl_module) -> None:
        self._params = list(pl_module.parameters())

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        grads = [p.grad.reshape(-1) for p in self._params if p.grad is not None]
        # one check over every gradient (three ops and one host sync per step), not two ops
        # and a sync per parameter
        if grads and not torch.isfinite(torch.cat(grads)).all():
            self._trip(trainer, "non-finite gradient")
            # a step with NaN gradients would poison every weight; skip it
            for p in self._params:
                p.grad = None

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
        self._weights: list[nn.Parameter] = []

    def on_fit_start(self, trainer, pl_module) -> None:
        self._weights = [w for _, w in _layers(pl_module)]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        with torch.no_grad():
            for w in self._weights:
                max_norm_(w, self.max_norm)
