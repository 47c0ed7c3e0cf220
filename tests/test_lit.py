"""nnref.experiment.lit: the LightningModule (tasks, impl switch, penalties, clipping) and
callbacks."""

from __future__ import annotations

import math
import types

import lightning as L
import pytest
import torch
from torch import nn

from nnref import registry
from nnref.experiment.data import Digits, Regression1D, TensorData, ToyClassification
from nnref.experiment.impl import to_impl
from nnref.experiment.lit import (
    STORY_LAYOUT,
    DataModule,
    DivergenceGuard,
    EpochLine,
    GradientFlowMonitor,
    GradientThroughTime,
    LitModel,
    gradient_flow_figure,
)
from nnref.experiment.models import MLP


def _trainer(steps, callbacks=(), **kwargs):
    return L.Trainer(max_steps=steps, accelerator="cpu", logger=kwargs.pop("logger", False),
                     enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
                     callbacks=list(callbacks), **kwargs)


class _Losses(L.Callback):
    def __init__(self):
        self.losses = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(outputs["loss"].detach().clone())


def _curve(impl, optim, steps=30):
    # Continuous inputs: a feature constant within a batch (a blank digits pixel) has a weight
    # gradient that is 0 in exact arithmetic under batch norm, i.e. round-off, which adaptive
    # optimizers turn into lr-sized steps of either sign, so the two curves would part.
    torch.manual_seed(0)
    dm = build("spirals")
    net = MLP(2, 3, width=32, depth=2, activation="tanh", norm="batch", dropout=0.2)
    lit = LitModel(net, num_outputs=3, optim={"name": optim, "lr": 0.05}, impl=impl)
    rec = _Losses()
    torch.manual_seed(1)
    _trainer(steps, [rec]).fit(lit, datamodule=DataModule(dm))
    return torch.stack(rec.losses), lit


_WITH_BUILTIN = [n for n in registry.names("optim")
                 if registry.spec("optim", n).builtin is not None]


@pytest.mark.parametrize("optim", _WITH_BUILTIN)
def test_reference_and_torch_give_the_same_loss_curve(optim):
    ref, lit_ref = _curve("reference", optim)
    builtin, lit_torch = _curve("torch", optim)
    assert type(lit_torch.model.hidden1.norm) is nn.BatchNorm1d
    assert type(lit_torch.model.hidden1.act) is nn.Tanh
    assert type(lit_torch.model.hidden1.drop) is nn.Dropout
    assert type(lit_ref.model.hidden1.act) is registry.spec("activation", "tanh").reference
    assert type(lit_torch.loss_fn) is nn.CrossEntropyLoss
    assert type(lit_ref.loss_fn) is registry.spec("loss", "cross_entropy").reference
    assert len(ref) == 30
    torch.testing.assert_close(ref, builtin)
    assert ref[-1] < ref[0]


def test_optimizer_without_builtin_falls_back_to_the_reference():
    missing = [n for n in registry.names("optim") if registry.spec("optim", n).builtin is None]
    if not missing:
        pytest.fail("expected an optimizer without a torch built-in (lars) to be registered")
    lit = LitModel(MLP(4, 2), optim={"name": missing[0], "lr": 0.1}, impl="torch")
    opt = lit.configure_optimizers()
    assert isinstance(opt, registry.spec("optim", missing[0]).reference)


class _Multilabel(TensorData):
    task = "multilabel"

    def load(self):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(80, 5, generator=g)
        return x, (x[:, :3] > 0).float()


@pytest.mark.parametrize("dm, loss", [
    (lambda: build("moons"), "auto"), (lambda: build("moons"), "bce"),
    (lambda: build("sine"), "auto"), (lambda: build("sine"), "huber"),
    (lambda: _Multilabel(batch_size=16), "auto"), (lambda: build("spirals"), "nll"),
])
def test_every_task_trains(dm, loss):
    dm = dm()
    dm.setup()
    lit = LitModel(MLP(dm.input_shape[0], dm.num_outputs, width=16), task=dm.task,
                   num_outputs=dm.num_outputs, loss={"name": loss},
                   optim={"name": "adam", "lr": 0.01})
    trainer = L.Trainer(max_epochs=4, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(lit, datamodule=DataModule(dm))
    first = trainer.callback_metrics["val/loss"]
    trainer.fit_loop.max_epochs = 12
    trainer.fit(lit, datamodule=DataModule(dm))
    assert trainer.callback_metrics["val/loss"] < first
    if dm.task != "regression":
        assert 0.5 < trainer.callback_metrics["val/acc"] <= 1.0


def build(name):
    cls = Regression1D if name == "sine" else ToyClassification
    return cls(name, n_samples=600 if name == "spirals" else 200, batch_size=32)


def test_nll_and_bce_get_the_matching_output_activation():
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 1, 0, 2])
    net = MLP(4, 3, width=5)
    ce = LitModel(net, num_outputs=3, loss={"name": "cross_entropy"})
    nll = LitModel(net, num_outputs=3, loss={"name": "nll"})
    torch.testing.assert_close(nll._loss(net(x), y), ce._loss(net(x), y))
    expected = nn.functional.cross_entropy(net(x), y)
    torch.testing.assert_close(ce._loss(net(x), y), expected)


def test_penalties_are_added_to_the_loss():
    net = MLP(4, 3, width=5)
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 1, 0, 2])
    lit = LitModel(net, num_outputs=3, regularization={"l1": 0.01, "l2": 0.1})
    weights = [m.weight for m in (net.hidden1.linear, net.hidden2.linear, net.out)]
    expected = (nn.functional.cross_entropy(net(x), y)
                + 0.01 * sum(w.abs().sum() for w in weights)
                + 0.1 * sum((w ** 2).sum() for w in weights))
    torch.testing.assert_close(lit.objective((x, y)), expected)


@pytest.mark.parametrize("impl", ["reference", "torch"])
def test_gradient_clipping(impl):
    net = MLP(4, 3, width=5)
    lit = LitModel(net, num_outputs=3, regularization={"clip_grad_norm": 0.01}, impl=impl)
    lit.objective((torch.randn(6, 4) * 100, torch.tensor([0, 1, 2, 1, 0, 2]))).backward()
    lit.on_before_optimizer_step(None)
    total = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in net.parameters()]))
    torch.testing.assert_close(total, torch.tensor(0.01))


@pytest.mark.parametrize("kwargs, match", [
    ({"task": "ranking"}, "^task='ranking'"),
    ({"regularization": {"l1": -1.0}}, r"^regularization\.l1=-1\.0 is out of range"),
    ({"regularization": {"clip_grad_norm": 0.0}}, r"^regularization\.clip_grad_norm=0\.0"),
    ({"optim": {"scheduler": "warmup"}}, r"^optim\.scheduler='warmup'.*step"),
    ({"impl": "numpy"}, "^impl='numpy'.*torch"),
    ({"optim": {"name": "adamx"}}, r"^optim\.name='adamx'.*did you mean 'adam"),
    ({"loss": {"name": "hinge"}}, r"^loss\.name='hinge'.*cross_entropy"),
    ({"optim": {"lr": float("inf")}}, r"^optim\.lr=inf is out of range"),
    ({"optim": {"lr": float("nan")}}, r"^optim\.lr=nan is out of range"),
    ({"optim": {"lr": "abc"}}, r"^optim\.lr='abc' is not a number"),
    ({"optim": {"kwargs": {"betas": (2.0, 0.9)}}}, r"^optim\.kwargs=.*betas.*beta"),
    ({"optim": {"kwargs": {"betaz": (0.9, 0.9)}}}, r"^optim\.kwargs=.*did you mean 'betas'"),
    ({"optim": {"lrr": 0.1}}, r"^optim\.lrr=0\.1 is not valid: not a key of optim.*'lr'"),
    ({"regularization": {"l2": float("inf")}}, r"^regularization\.l2=inf"),
])
def test_lit_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LitModel(MLP(4, 2), **kwargs)


class _Capture:
    def __init__(self):
        self.metrics = {}

    def log_metrics(self, metrics, step):
        self.metrics.update(metrics)


def _monitor_step(module, x, y, monitor):
    trainer = types.SimpleNamespace(global_step=0, loggers=[_Capture()])
    monitor.on_fit_start(trainer, module)
    monitor.on_train_batch_start(trainer, module, None, 0)
    nn.functional.cross_entropy(module(x), y).backward()
    monitor.on_before_optimizer_step(trainer, module, None)
    monitor.on_fit_end(trainer, module)
    return trainer.loggers[0].metrics


def test_gradient_flow_norms_ratio_saturation():
    net = MLP(4, 3, width=6, depth=3, activation="sigmoid")
    with torch.no_grad():
        net.hidden1.linear.weight.mul_(1000)  # drives layer 1 into saturation
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    m = _monitor_step(net, x, y, GradientFlowMonitor(every_n_steps=1, histograms=False))
    for name in ("hidden1.linear", "hidden2.linear", "hidden3.linear", "out"):
        layer = net.get_submodule(name)
        assert m[f"grad_norm/{name}"] == pytest.approx(float(layer.weight.grad.norm()))
        assert m[f"weight_norm/{name}"] == pytest.approx(float(layer.weight.detach().norm()))
    assert m["grad_norm_ratio/first_over_last"] == pytest.approx(
        float(net.hidden1.linear.weight.grad.norm() / net.out.weight.grad.norm()))
    h1 = torch.sigmoid(net.hidden1.linear(x))
    assert m["saturated/hidden1.act"] == pytest.approx(
        float(((h1 <= 0.01) | (h1 >= 0.99)).float().mean()))
    assert m["saturated/hidden1.act"] > 0.9


def test_gradient_flow_dead_units():
    net = to_impl(MLP(4, 3, width=8, depth=1, activation="relu"), "torch")
    assert type(net.hidden1.act) is nn.ReLU  # the spec, not the class, says units can die
    with torch.no_grad():
        net.hidden1.linear.bias[:3] = -1e3  # three units never fire
        net.hidden1.linear.bias[3:] = 1e3
    m = _monitor_step(net, torch.randn(16, 4), torch.randint(0, 3, (16,)),
                      GradientFlowMonitor(every_n_steps=1, histograms=False))
    assert m["dead/hidden1.act"] == pytest.approx(3 / 8)


def test_gradient_flow_writes_tensorboard_histograms_and_figure(tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = TensorBoardLogger(str(tmp_path), name="tb", version="")
    lit = LitModel(MLP(64, 10, width=8, activation="tanh"), optim={"name": "sgd", "lr": 0.1})
    _trainer(6, [GradientFlowMonitor(every_n_steps=2)], logger=logger).fit(
        lit, datamodule=DataModule(Digits(batch_size=300)))
    ev = EventAccumulator(str(tmp_path / "tb"), size_guidance={"histograms": 0, "images": 0})
    ev.Reload()
    tags = ev.Tags()
    assert {"grad_norm/model.hidden1.linear", "saturated/model.hidden1.act",
            "grad_norm_ratio/first_over_last"} <= set(tags["scalars"])
    assert {"grads/model.out", "weights/model.hidden2.linear",
            "activations/model.hidden1.act"} <= set(tags["histograms"])
    assert "gradient_flow" in tags["images"]
    assert [e.step for e in ev.Scalars("grad_norm/model.out")] == [0, 2, 4]
    for e, log10 in zip(ev.Scalars("grad_norm/model.out"),
                        ev.Scalars("grad_norm_log10/model.out"), strict=True):
        assert log10.value == pytest.approx(math.log10(e.value), rel=1e-5)
    assert "grad_norm_ratio/log10_first_over_last" in tags["scalars"]


def test_story_layout_puts_every_layer_on_one_chart(tmp_path):
    import re

    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.custom_scalar import layout_pb2

    logger = TensorBoardLogger(str(tmp_path), name="", version="")
    lit = LitModel(MLP(64, 10, width=8, depth=3, activation="sigmoid"),
                   optim={"name": "sgd", "lr": 0.1})
    _trainer(2, [GradientFlowMonitor(every_n_steps=1, histograms=False, figure=False)],
             logger=logger).fit(lit, datamodule=DataModule(Digits(batch_size=300)))
    ev = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    ev.Reload()
    [event] = ev.Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout.FromString(event.tensor_proto.string_val[0])
    assert [c.title for c in layout.category] == list(STORY_LAYOUT)
    assert [c.title for c in layout.category][:2] == ["1 loss and accuracy", "2 gradient flow"]
    charts = {ch.title: list(ch.multiline.tag) for c in layout.category for ch in c.chart}
    [pattern] = charts["log10 gradient L2 norm, every layer"]
    layers = [t for t in ev.Tags()["scalars"] if re.search(pattern, t)]
    assert len(layers) == 4 and all(t.startswith("grad_norm_log10/model.") for t in layers)


def test_gradient_flow_figure_spans_the_data_with_readable_labels():
    norms = {"model.hidden1.linear": 1e-6, "model.hidden2.linear": 1e-4, "model.out": 0.0}
    fig = gradient_flow_figure(norms, "epoch 3")
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert 1e-8 < lo < 1e-6 and 1e-4 < hi < 1e-2  # not from a fixed floor such as 1e-30
    assert [t.get_text() for t in ax.get_xticklabels()] == ["hidden1", "hidden2", "out"]
    assert ax.get_xlabel() and ax.get_ylabel() and "epoch 3" in ax.get_title()
    assert [t.get_text() for t in ax.texts] == ["0"]  # the zero gradient is marked, not hidden


def test_epoch_line_prints_one_line_per_epoch(capsys):
    lit = LitModel(MLP(64, 10, width=8), optim={"name": "sgd", "lr": 0.1})
    trainer = L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False,
                        enable_model_summary=False, limit_train_batches=2, limit_val_batches=1,
                        callbacks=[EpochLine()])
    trainer.fit(lit, datamodule=DataModule(Digits(batch_size=64)))
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("  ")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    last = float(lines[-1].split("train/loss ")[1].split()[0])
    assert last == pytest.approx(float(trainer.callback_metrics["train/loss_epoch"]), rel=1e-3)


def test_divergence_guard_stops_cleanly():
    guard = DivergenceGuard()
    lit = LitModel(MLP(64, 10, width=16, depth=3), optim={"name": "sgd", "lr": 1e6})
    trainer = _trainer(200, [guard])
    trainer.fit(lit, datamodule=DataModule(Digits(batch_size=64)))
    assert guard.diverged == 1
    assert trainer.global_step < 200 and guard.diverged_step <= trainer.global_step
    assert trainer.state.finished


def test_divergence_guard_checks_every_gradient_and_only_non_finite_ones():
    net = MLP(4, 3, width=5, depth=2)
    guard = DivergenceGuard()
    trainer = types.SimpleNamespace(global_step=7, loggers=[_Capture()], should_stop=False)
    guard.on_fit_start(trainer, net)
    params = list(net.parameters())
    for p in params:
        p.grad = torch.full_like(p, 3e38)  # huge but finite: a norm would overflow, no trip
    guard.on_before_optimizer_step(trainer, net, None)
    assert not guard.diverged and all(p.grad is not None for p in params)
    for bad in (math.inf, -math.inf, math.nan):
        guard = DivergenceGuard()
        guard.on_fit_start(trainer, net)
        for p in params:
            p.grad = torch.zeros_like(p)
        params[-1].grad.view(-1)[-1] = bad  # the last element of the last parameter
        guard.on_before_optimizer_step(trainer, net, None)
        assert guard.diverged == 1 and guard.diverged_step == 7 and trainer.should_stop
        assert all(p.grad is None for p in params)  # the poisoned step is skipped
        trainer.should_stop = False


def _figure_state(fig):
    ax = fig.axes[0]
    return ([round(b.get_height(), 12) for b in ax.patches], [b.get_y() for b in ax.patches],
            ax.get_ylim(), ax.get_title(), [t.get_text() for t in ax.texts],
            [t.get_text() for t in ax.get_xticklabels()])


def test_gradient_flow_figure_redrawn_in_place_shows_what_a_new_one_would():
    from nnref.experiment.lit.callbacks import _FlowFigure

    first = {"model.hidden1.linear": 2e-5, "model.hidden2.linear": 3e-4, "model.out": 0.0}
    later = {"model.hidden1.linear": 3e-5, "model.hidden2.linear": 0.0, "model.out": 5e-4}
    fig = _FlowFigure(first, "epoch 1")
    assert fig.update(later, "epoch 2")
    assert _figure_state(fig.fig) == _figure_state(gradient_flow_figure(later, "epoch 2"))
    # another axis range (its tick labels need a new layout) or other layers: a new figure
    assert not fig.update({**later, "model.out": 5.0}, "epoch 3")
    assert not fig.update({"model.out": 5e-4}, "epoch 3")
    fig.close()


def test_gradient_flow_logs_a_figure_every_epoch_from_one_layout(tmp_path, monkeypatch):
    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from nnref.experiment.lit import callbacks

    made, init = [], callbacks._FlowFigure.__init__

    def counting_init(self, norms, title):
        made.append(title)
        init(self, norms, title)

    monkeypatch.setattr(callbacks._FlowFigure, "__init__", counting_init)
    logger = TensorBoardLogger(str(tmp_path), name="tb", version="")
    # small steps: the norms keep their decade
    lit = LitModel(MLP(64, 10, width=8, activation="tanh"), optim={"name": "sgd", "lr": 1e-4})
    monitor = GradientFlowMonitor(every_n_steps=1, histograms=False)
    _trainer(4, [monitor], logger=logger).fit(lit, datamodule=DataModule(Digits(batch_size=629)))
    ev = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0})
    ev.Reload()
    assert [e.step for e in ev.Images("gradient_flow")] == [2, 4]  # 2 epochs of 2 steps
    assert made == ["epoch 1"] and monitor._figure is None  # closed at the end of the fit


@pytest.mark.parametrize("name", ["digits", "moons"])
def test_epoch_train_loss_and_accuracy(name):
    # lr = 0: the weights never change, so the epoch figures are those of the fixed model
    dm = Digits(batch_size=100) if name == "digits" else build(name)
    dm.setup()
    net = MLP(math.prod(dm.input_shape), dm.num_outputs, width=16)
    lit = LitModel(net, task=dm.task, num_outputs=dm.num_outputs, optim={"name": "sgd", "lr": 0.0})
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0)
    trainer.fit(lit, datamodule=DataModule(dm))
    x, y = dm.splits["train"]
    with torch.no_grad():
        out = net(x)
    if dm.task == "multiclass":
        loss, acc = nn.functional.cross_entropy(out, y), (out.argmax(1) == y).float().mean()
    else:
        loss = nn.functional.binary_cross_entropy_with_logits(out, y)
        acc = ((torch.sigmoid(out) >= 0.5).float() == y).float().mean()
    torch.testing.assert_close(trainer.callback_metrics["train/loss_epoch"], loss)
    torch.testing.assert_close(trainer.callback_metrics["train/acc"], acc)


@pytest.mark.parametrize("scheduler, kwargs", [("step", {"step_size": 1, "gamma": 0.5}),
                                               ("exponential", {"gamma": 0.5})])
def test_scheduler_steps_once_per_epoch(scheduler, kwargs):
    lit = LitModel(MLP(64, 10, width=8), optim={"name": "sgd", "lr": 0.4,
                                                           "scheduler": scheduler,
                                                           "scheduler_kwargs": kwargs})
    trainer = L.Trainer(max_epochs=3, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(lit, datamodule=DataModule(Digits(batch_size=256)))
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.4 * 0.5 ** 3)
    assert trainer.global_step == 3 * 5


def test_gradient_through_time_is_logged_against_t(tmp_path):
    """|dL/dh_t| of a recurrent layer for every t, TensorBoard's step = t; for a tanh RNN
    whose recurrent matrix is scaled well below 1 it must fall toward t = 1 by decades (the
    vanishing regime), and every value must equal the gradient autograd gives for h_t."""
    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from nnref.experiment.data import TensorData
    from nnref.experiment.models import RecurrentClassifier

    class Seq(TensorData):
        def load(self):
            g = torch.Generator().manual_seed(0)
            x = torch.randn(64, 30, generator=g)
            return x, (x[:, 0] > 0).long()

    torch.manual_seed(0)
    net = RecurrentClassifier((30,), 2, cell="rnn", hidden=16, radius=0.3)
    lit = LitModel(net, num_outputs=2, optim={"name": "sgd", "lr": 0.0})
    logger = TensorBoardLogger(str(tmp_path), name="tb", version="")
    _trainer(1, [GradientThroughTime(every_n_steps=1)], logger=logger).fit(
        lit, datamodule=DataModule(Seq(batch_size=64, val_fraction=0.1, test_fraction=0.1)))
    ev = EventAccumulator(str(tmp_path / "tb"))
    ev.Reload()
    [tag] = [t for t in ev.Tags()["scalars"] if t.startswith("grad_through_time/")]
    assert tag == "grad_through_time/rnn/step_0"
    logged = [(e.step, e.value) for e in ev.Scalars(tag)]
    assert [t for t, _ in logged] == list(range(1, 31))
    # the same norms from autograd directly, the batch the step saw (lr 0: weights unchanged)
    data = Seq(batch_size=64, val_fraction=0.1, test_fraction=0.1)
    data.setup()
    x, y = data.splits["train"]  # one batch holds it all (the order does not change a mean)
    r = net.rnn  # unrolled by hand from its weights: h_t = tanh(W x_t + b + U h_(t-1) + c)
    h, hs = torch.zeros(len(x), 16), []
    for t in range(30):
        h = torch.tanh(x[:, t:t + 1] @ r.weight_ih_l0.T + r.bias_ih_l0 + h @ r.weight_hh_l0.T
                       + r.bias_hh_l0)
        hs.append(h)
    loss = nn.functional.cross_entropy(net.out(hs[-1]), y)
    expected = [math.log10(float(g.norm())) for g in torch.autograd.grad(loss, hs)]
    assert [v for _, v in logged] == pytest.approx(expected, rel=1e-5)
    assert expected[-1] - expected[0] > 3  # vanishing: decades lost on the way to t = 1
