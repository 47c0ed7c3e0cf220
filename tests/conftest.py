"""Shared pytest set-up: deterministic seeds and the CUDA device parameter."""

from __future__ import annotations

import pytest
import torch

CUDA = torch.cuda.is_available()

# Device parameter for tests that run everywhere the hardware allows: the CUDA variant is
# collected always and skipped, with the reason, on machines without a GPU.
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=[pytest.mark.cuda,
                                pytest.mark.skipif(not CUDA, reason="no CUDA device here")]),
]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
