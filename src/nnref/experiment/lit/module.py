"""The LightningModule: any model, trained with a loss, optimizer and penalties from the registry.

Everything is built from the references; ``impl="torch"`` swaps the whole module (the model, the
loss, the output activation) and picks torch's optimizer and clipping, all in
:mod:`nnref.experiment.impl`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
import torchmetrics
from torch import nn

from nnref.experiment.impl import to_impl
from nnref.experiment.objective import DEFAULT_LOSS, SCHEDULERS, Recipe

__all__ = ["LitModel", "DEFAULT_LOSS", "SCHEDULERS"]

log = logging.getLogger(__name__)


class LitModel(L.LightningModule):
    r"""Train ``model`` for one of the tasks ``multiclass``, ``binary``, ``multilabel``,
    ``regression``.

    The objective is the registry loss plus optional penalties,

    .. math:: J(w) = \frac{1}{N}\sum_i \ell(f_w(x_i), y_i) + \lambda_1 \sum |w|
        + \lambda_2 \sum w^2,

    minimised by the registry optimizer, with gradients clipped to ``clip_grad_norm`` (global
    L2 norm) before each step. Optimization is manual (``automatic_optimization = False``): the
    same zero_grad / backward / step, with callbacks' ``on_before_optimizer_step`` still called,
    at a fraction of Lightning's automatic-loop cost per step.

    Logs ``train/loss_step`` (every ``log_every_n_steps``), ``train/loss_epoch`` (epoch mean
    of the data loss), ``val/loss``, ``test/loss`` and, for classification, ``train/acc``,
    ``val/acc``, ``test/acc`` (torchmetrics for the last two).

    Args:
        model: the network (its output is logits for classification).
        task: one of :data:`nnref.experiment.data.TASKS`.
        num_outputs: classes (multiclass) or labels (multilabel); 1 otherwise.
        loss: the ``loss`` config group: ``name`` (a registry loss or ``"auto"``,
            :data:`DEFAULT_LOSS`) and its ``kwargs``.
        optim: the ``optim`` config group: ``name`` (a registry optimizer), ``lr``, ``kwargs``,
            ``scheduler`` (``None`` or a key of :data:`SCHEDULERS`, stepped once per epoch,
            ``plateau`` on ``val/loss``) and ``scheduler_kwargs``.
        regularization: the ``regularization`` group: ``l1``, ``l2`` (penalty weights
            :math:`\lambda_1, \lambda_2 \ge 0`, weights only: no biases, no norm scales) and
            ``clip_grad_norm`` (max global gradient norm, or ``None``).
        impl: ``"reference"`` or ``"torch"``: swaps ``model`` too.

    Missing keys take the groups' defaults (:data:`nnref.experiment.objective.OPTIM` ...).

    Raises:
        ArgumentError: (a ``ValueError``) named by the config key (``optim.lr``) with what is
            allowed.
    """

    def __init__(self, model: nn.Module, task: str = "multiclass", num_outputs: int = 10,
                 loss: Mapping[str, Any] | None = None, optim: Mapping[str, Any] | None = None,
                 regularization: Mapping[str, Any] | None = None,
                 impl: str = "reference") -> None:
        super().__init__()
        self.recipe = Recipe.check(task, num_outputs, loss, optim, regularization, impl)
        # logger=False: the training script logs hparams once, at the end, with final metrics
        self.save_hyperparameters(ignore=["model"], logger=False)
        self.automatic_optimization = False
        self.model = model
        self.task, self.impl = task, impl
        self.loss_fn, self.output_act = self.recipe.build_loss()
        metrics = {"multiclass": {"num_classes": num_outputs},
                   "multilabel": {"num_labels": num_outputs}, "binary": {}}
        self.acc = nn.ModuleDict({
            split: torchmetrics.Accuracy(task=task, **metrics[task])
            for split in ("val_", "test_")
        }) if task in metrics else None
        # Epoch sums of the training loss and of correct predictions, as plain tensors: a
        # torchmetrics update per step costs a sizeable part of a small model's step.
        self._epoch_sums: torch.Tensor | None = None
        to_impl(self, impl)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        pred = out if self.output_act is None else self.output_act(out)
        return self.loss_fn(pred, y)

    def _eval_step(self, batch, split: str) -> torch.Tensor:
        x, y = batch
        out = self.model(x)
        loss = self._loss(out, y)
        self.log(f"{split}/loss", loss, prog_bar=True)
        if self.acc is not None:
            acc = self.acc[split + "_"]
            acc.update(out if self.task == "multiclass" else out.sigmoid(),
                       y if self.task == "multiclass" else y.long())
            self.log(f"{split}/acc", acc, prog_bar=True)
        return loss

    def _correct(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Correct predictions in a batch: the argmax class (multiclass), or each label's
        probability thresholded at 0.5, i.e. the logit's sign (binary, multilabel: micro)."""
        if self.task == "multiclass":
            return (out.argmax(1) == y).sum()
        return ((out > 0) == (y > 0.5)).sum()

    def objective(self, batch) -> torch.Tensor:
        """The training objective of a batch: data loss plus penalties (logged, and summed
        into the epoch's loss and accuracy)."""
        x, y = batch
        out = self.model(x)
        loss = self._loss(out, y)
        with torch.no_grad():
            n = loss.new_tensor(float(len(x)))
            correct = (self._correct(out, y).to(loss) if self.acc is not None
                       else loss.new_zeros(()))
            sums = torch.stack([loss.detach() * n, n, correct, loss.new_tensor(float(y.numel()))])
            self._epoch_sums = sums if self._epoch_sums is None else self._epoch_sums + sums
        penalty = self.recipe.penalty(self.model)
        # self.log costs about a millisecond, as much as a whole step of a small MLP: call it
        # only on the steps Lightning writes to the loggers (every log_every_n_steps).
        trainer = self._trainer
        if trainer is not None and ((self.global_step + 1) % trainer.log_every_n_steps == 0
                                    or trainer.should_stop):
            self.log("train/loss_step", loss, prog_bar=True)
            if penalty is not None:
                self.log("train/penalty", penalty)
        return loss if penalty is None else loss + penalty

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        total = self.objective(batch)
        # Manual optimization: Lightning's automatic loop (closure, per-step hook plumbing)
        # costs about as much as a whole step of a small MLP. The optimizer still calls
        # Lightning's closure, which runs on_before_optimizer_step (clipping, callbacks).
        opt = self.optimizers()
        opt.zero_grad(set_to_none=True)
        self.manual_backward(total)
        opt.step()
        return total

    def on_train_epoch_end(self) -> None:
        if self._epoch_sums is None:
            return
        loss_sum, n, correct, targets = self._epoch_sums
        self._epoch_sums = None
        self.log("train/loss_epoch", loss_sum / n, sync_dist=True)
        # the steps run, among the metrics a spawned process hands back (the parent's trainer
        # keeps global_step 0 under ddp_spawn); not a TensorBoard scalar
        self.log("steps", float(self.global_step), logger=False)
        if self.acc is not None:
            self.log("train/acc", correct / targets, sync_dist=True)
        scheduler = self.lr_schedulers()
        if scheduler is not None:  # manual optimization steps schedulers itself, per epoch
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                metrics = self.trainer.callback_metrics
                scheduler.step(metrics.get("val/loss", loss_sum / n))
            else:
                scheduler.step()

    def validation_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._eval_step(batch, "test")

    def on_fit_start(self) -> None:
        # Small data sets live where the model is: move them once, slice batches there.
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and hasattr(dm, "to_device"):
            dm.to_device(self.device)

    def on_test_start(self) -> None:
        self.on_fit_start()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Lightning saves no random state: without it a resumed run draws other dropout masks
        # and noise than the uninterrupted run would have.
        checkpoint["nnref_rng"] = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        rng = checkpoint.get("nnref_rng")
        if rng is None:
            return
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])

    def on_before_optimizer_step(self, optimizer) -> None:
        self.recipe.clip([p for p in self.parameters() if p.grad is not None])

    def configure_optimizers(self):
        optimizer = self.recipe.build_optimizer(self.parameters())
        scheduler = self.recipe.build_scheduler(optimizer)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss"}}
