"""Lightning side of nnref (needs the ``sweeps`` extra): the training module and callbacks."""

from nnref.experiment.lit.callbacks import (
    STORY_LAYOUT,
    DivergenceGuard,
    EpochLine,
    GradientFlowMonitor,
    GradientThroughTime,
    MaxNormConstraint,
    gradient_flow_figure,
)
from nnref.experiment.lit.data import DataModule
from nnref.experiment.lit.module import DEFAULT_LOSS, SCHEDULERS, LitModel

__all__ = ["DataModule", "DivergenceGuard", "EpochLine", "GradientFlowMonitor",
           "GradientThroughTime", "MaxNormConstraint", "gradient_flow_figure", "STORY_LAYOUT",
           "LitModel", "DEFAULT_LOSS", "SCHEDULERS"]
