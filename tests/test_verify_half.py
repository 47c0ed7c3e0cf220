"""The float16/bfloat16 rule (:func:`nnref.verify.half_accurate`) fails a derivative one rounding
off: each reference backward scaled by about one ulp of the dtype is refused, the unscaled one
passes."""

from __future__ import annotations

import pytest
import torch

from nnref import registry
from nnref.activations import rectifiers, sigmoidal, smooth
from nnref.verify import activations as V
from nnref.verify import half_accurate, half_ulp

FUNCTIONS = {"sigmoid": sigmoidal._SigmoidFn, "tanh": sigmoidal._TanhFn,
             "silu": smooth._SwishFn, "elu": rectifiers._ELUFn, "softplus": smooth._SoftplusFn}
# about one ulp of each dtype: 2^-8 is half bfloat16's eps (2^-7), 2^-11 half float16's (2^-10)
SCALE = {torch.bfloat16: 1 + 2.0**-8, torch.float16: 1 + 2.0**-11}
DTYPES = pytest.mark.parametrize("dtype", list(SCALE), ids=str)
NAMES = pytest.mark.parametrize("name", list(FUNCTIONS))


@DTYPES
@NAMES
def test_unchanged_reference_passes(name, dtype):
    V.check_parity(registry.KINDS["activation"][name], {}, dtype)


@DTYPES
@NAMES
def test_derivative_scaled_by_one_ulp_fails(name, dtype, monkeypatch):
    fn = FUNCTIONS[name]
    original = fn.backward

    def scaled(ctx, grad, *rest):
        # upstream in float32 times the scale: the derivative itself scaled, rounded once
        return original(ctx, grad.float() * SCALE[dtype], *rest)

    monkeypatch.setattr(fn, "backward", staticmethod(scaled))
    with pytest.raises(AssertionError, match="grad input"):
        V.check_parity(registry.KINDS["activation"][name], {}, dtype)


def _rounded(dtype, n=4096):
    exact = torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return exact, exact.to(dtype)


@DTYPES
def test_a_bias_no_element_shows_is_refused(dtype):
    exact, _ = _rounded(dtype)
    ulp = half_ulp(exact, dtype)
    # a torch that errs by up to 1.5 ulps, unbiased: the element-wise bound is that loose
    noise = torch.rand(len(exact), generator=torch.Generator().manual_seed(1),
                       dtype=torch.float64) * 2 - 1
    want = (exact + noise * ulp).to(dtype)
    half_accurate(want, want, [exact])
    # scaled by about one ulp, then every element the element-wise bound would refuse put
    # back: what is left passes element by element, and only the mean shows the scale
    scaled = (exact * SCALE[dtype]).to(dtype)
    bound = (want.double() - exact).abs() + ulp / 2
    scaled = torch.where((scaled.double() - exact).abs() <= bound, scaled, want)
    assert (scaled != want).sum() > len(exact) // 4
    with pytest.raises(AssertionError, match="mean error away from zero"):
        half_accurate(scaled, want, [exact])


@DTYPES
def test_element_wise_bound(dtype):
    exact, want = _rounded(dtype, 8)
    half_accurate(want, want, [exact])
    bad = want.clone()
    bad[3] = bad[3] * 2
    with pytest.raises(AssertionError, match="1 of 8 elements"):
        half_accurate(bad, want, [exact])
    nan = want.clone()
    nan[0] = float("nan")
    with pytest.raises(AssertionError, match="1 of 8 elements"):
        half_accurate(nan, want, [exact])
    # one truth met suffices: the exact value of the rounded saved tensors, say
    half_accurate(bad, want, [exact, bad.double()])
