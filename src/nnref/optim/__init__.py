"""Optimizers, ``torch.optim``-compatible: SGD (momentum, Nesterov), Adagrad, RMSprop, Adam,
AdamW and LARS.

Each is a :class:`torch.optim.Optimizer` subclass with torch's class name, argument names,
defaults, validation errors and state keys, so a state dict moves between ``torch.optim.X`` and
``nnref.optim.X`` both ways and LR schedulers drive them unchanged. Every update rule is written
twice, as a single-tensor loop and as ``torch._foreach_*`` calls, both in torch's order of
operations: a reference and its torch counterpart stay equal step for step.

torch's ``fused``, ``capturable`` and ``differentiable`` stay in the signatures, where torch
has them, so that positional calls bind the same arguments; turned on they raise
``NotImplementedError`` naming the option, as complex parameters do: the references are written
from plain real tensor ops and claim neither fused kernels, CUDA-graph capture nor autograd
through the step. A step called from a compiled function traces into one graph.

The notes' variants are options: ``SGD(ema=True)`` (moving-average momentum),
``SGD(lookahead=True)`` (look-ahead Nesterov, needs a closure) and
``RMSprop(eps_inside_sqrt=True)``.
"""

from nnref.optim.adagrad import Adagrad
from nnref.optim.adam import Adam, AdamW
from nnref.optim.lars import LARS
from nnref.optim.rmsprop import RMSprop
from nnref.optim.sgd import SGD

__all__ = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "LARS"]
