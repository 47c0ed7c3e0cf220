"""Lightning side of nnref (needs the ``sweeps`` extra): the training module and callbacks."""

from nnref.experiment.lit.callbacks import (
    DivergenceGuard,
    GradientFlowMonitor,
    MaxNormConstraint,
    gradient_flow_figure,
)
from nnref.experiment.lit.module import DEFAULT_LOSS, SCHEDULERS, LitModel

__all__ = ["DivergenceGuard", "GradientFlowMonitor", "MaxNormConstraint", "gradient_flow_figure",
           "LitModel", "DEFAULT_LOSS", "SCHEDULERS"]
