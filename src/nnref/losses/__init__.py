"""Loss functions: ``autograd.Function`` + functional form + ``nn.Module`` for each.

Names and signatures follow ``torch.nn`` / ``torch.nn.functional`` (``MSELoss``/``mse_loss``,
``CrossEntropyLoss``/``cross_entropy``); ``RMSELoss``/``rmse_loss`` has no torch counterpart.
Where the references are stricter than torch they raise instead of broadcasting or reading
out of range: input/target shape mismatch, probabilities or BCE targets outside [0, 1] (NaN
included), class index out of range.
"""

from nnref.losses.binary import (
    BCELoss,
    BCEWithLogitsLoss,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
)
from nnref.losses.categorical import CrossEntropyLoss, NLLLoss, cross_entropy, nll_loss
from nnref.losses.regression import (
    HuberLoss,
    L1Loss,
    MSELoss,
    RMSELoss,
    huber_loss,
    l1_loss,
    mse_loss,
    rmse_loss,
)

__all__ = [
    "BCELoss", "BCEWithLogitsLoss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "CrossEntropyLoss", "NLLLoss", "cross_entropy", "nll_loss", "HuberLoss", "L1Loss", "MSELoss",
    "RMSELoss", "huber_loss", "l1_loss", "mse_loss", "rmse_loss",
]
