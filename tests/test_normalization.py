"""Batch normalization against torch.nn.BatchNorm1d/2d, from the registry (checks shared with
``python -m nnref verify`` live in nnref.verify.normalization), plus API and error tests."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from conftest import DEVICES, specs_of
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from nnref import normalization as N
from nnref import registry
from nnref.verify import cases
from nnref.verify import normalization as V

SPECS = specs_of("norm")
CASES = [pytest.param(s, kw, shape, id=f"{s.name}-{i}-{'x'.join(map(str, shape))}")
         for s in SPECS for i, kw in enumerate(cases.of(s).kwargs)
         for shape in cases.of(s).shapes]
SHAPES = [pytest.param(s, shape, id=f"{s.name}-{'x'.join(map(str, shape))}")
          for s in SPECS for shape in cases.of(s).shapes]


def test_every_norm_has_cases_and_batch_norm_its_aliases():
    assert set(cases.table("norm")) == set(registry.names("norm"))
    for alias, name in (("bn1d", "batch_norm1d"), ("batchnorm2d", "batch_norm2d"),
                        ("BN2d", "batch_norm2d")):
        assert registry.spec("norm", alias).name == name


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize(("spec", "kwargs", "shape"), CASES)
def test_twenty_training_steps_then_eval_match_torch(spec, kwargs, shape, dtype, device):
    # outputs, input/weight/bias gradients and all buffers after every step, then eval
    V.check_steps(spec, kwargs, shape, dtype, device, steps=20)


@pytest.mark.parametrize(("spec", "kwargs", "shape"), CASES)
def test_channels_last_and_non_contiguous_inputs(spec, kwargs, shape):
    for layout in V.layouts(shape).values():
        V.check_steps(spec, kwargs, shape, torch.float32, steps=3, layout=layout)


@pytest.mark.parametrize(("spec", "shape"), SHAPES)
def test_gradcheck_and_gradgradcheck_training_and_eval(spec, shape):
    assert V.check_gradcheck(shape)


@pytest.mark.parametrize(("spec", "shape"), SHAPES)
def test_float32_is_as_accurate_as_torch_for_offset_channels(spec, shape):
    V.check_accuracy(shape)


@pytest.mark.parametrize("shape", [(256, 6, 64), (32, 6, 24, 24)], ids=str)
def test_large_inputs_reduced_in_chunks_match_torch(shape, monkeypatch):
    # Above nnref.normalization._DIRECT elements the CPU reductions run chunk by chunk (the
    # chunk size is lowered here so that moderate inputs, uneven last chunk included, take
    # that path). The
    # logic is compared with torch in float64; in float32, sums of ~1e4 terms of both signs
    # differ from torch's (differently ordered) ones by more than rtol=1.3e-6 of the result
    # for *any* two summation orders, so float32 is held to the float64 truth instead: at
    # least as accurate as torch's own kernel.
    monkeypatch.setattr(N, "_CHUNK", 5000)
    assert math.prod(shape) > max(N._DIRECT, N._CHUNK)
    spec = registry.spec("norm", "bn1d" if len(shape) == 3 else "bn2d")
    V.check_steps(spec, {"num_features": 6}, shape, torch.float64, steps=3)
    V.check_accuracy(shape, seeds=2)


@pytest.mark.parametrize(("spec", "kwargs", "shape"), CASES)
def test_saves_input_plus_per_channel_statistics_only(spec, kwargs, shape):
    V.check_saved_bytes(spec, kwargs, shape)


def test_backward_is_the_hand_written_function_not_autograd_through_ops():
    x = torch.randn(8, 3, requires_grad=True)
    y = N.BatchNorm1d(3)(x)
    assert type(y.grad_fn).__name__ == "_BatchNormFnBackward"


@pytest.mark.parametrize("momentum", [0.1, None])
def test_running_statistics_after_20_steps(momentum):
    # independent formula: EMA (or cumulative mean) of batch mean and unbiased variance
    bn = N.BatchNorm1d(4, momentum=momentum).double()
    mean, var = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    batches = [torch.randn(10, 4, dtype=torch.float64) * 2 + 1 for _ in range(20)]
    for t, x in enumerate(batches, 1):
        bn(x)
        m = 1 / t if momentum is None else momentum
        mean = (1 - m) * mean + m * x.mean(0)
        var = (1 - m) * var + m * x.var(0, unbiased=True)
    torch.testing.assert_close(bn.running_mean, mean)
    torch.testing.assert_close(bn.running_var, var)
    assert int(bn.num_batches_tracked) == 20
    if momentum is None:  # the cumulative average of all batches' statistics
        torch.testing.assert_close(bn.running_mean, torch.stack(batches).mean((0, 1)))


@pytest.mark.parametrize(("ref_cls", "torch_cls", "shape"), [
    (N.BatchNorm1d, nn.BatchNorm1d, (5, 3)), (N.BatchNorm2d, nn.BatchNorm2d, (4, 3, 2, 2))])
@pytest.mark.parametrize("kwargs", [{}, {"affine": False}, {"track_running_stats": False},
                                    {"bias": False}, {"momentum": None, "eps": 1e-3}])
def test_state_dict_loads_both_ways_and_repr_matches(ref_cls, torch_cls, shape, kwargs):
    ref, base = ref_cls(3, **kwargs), torch_cls(3, **kwargs)
    base(torch.randn(shape) * 3)  # non-default running stats
    assert repr(ref) == repr(base)
    assert list(ref.state_dict()) == list(base.state_dict())
    ref.load_state_dict(base.state_dict())
    back = torch_cls(3, **kwargs)
    back.load_state_dict(ref.state_dict())
    for k, v in base.state_dict().items():
        torch.testing.assert_close(back.state_dict()[k], v)
        torch.testing.assert_close(ref.state_dict()[k], v)


def test_old_state_dict_without_num_batches_tracked_loads_like_torch():
    base = nn.BatchNorm1d(3)
    sd = base.state_dict()
    del sd["num_batches_tracked"]
    sd._metadata[""]["version"] = 1
    ref = N.BatchNorm1d(3)
    ref.num_batches_tracked.fill_(5)
    ref.load_state_dict(sd)
    assert int(ref.num_batches_tracked) == 0


@pytest.mark.parametrize(("ref_cls", "torch_cls", "shape"), [
    (N.BatchNorm1d, nn.BatchNorm1d, (1, 3)), (N.BatchNorm1d, nn.BatchNorm1d, (1, 3, 1)),
    (N.BatchNorm2d, nn.BatchNorm2d, (1, 3, 1, 1))])
def test_one_value_per_channel_in_training_raises_like_torch(ref_cls, torch_cls, shape):
    x = torch.randn(shape)
    with pytest.raises(ValueError) as want:
        torch_cls(3)(x)
    with pytest.raises(ValueError) as got:
        ref_cls(3)(x)
    assert str(got.value) == str(want.value)
    ref_cls(3).eval()(x)  # eval uses running statistics: fine


@pytest.mark.parametrize(("cls", "shape"), [(N.BatchNorm1d, (0, 3)), (N.BatchNorm2d, (0, 3, 4, 4))])
def test_zero_size_batch_in_training_raises_and_counts_nothing(cls, shape):
    bn = cls(3)
    with pytest.raises(ValueError, match="zero-size batch"):
        bn(torch.randn(shape))
    assert int(bn.num_batches_tracked) == 0
    torch.testing.assert_close(bn.running_var, torch.ones(3))
    assert bn.eval()(torch.randn(shape)).shape == shape


@pytest.mark.parametrize(("cls", "shape", "match"), [
    (N.BatchNorm1d, (4, 3, 2, 2), "expected 2D or 3D input"),
    (N.BatchNorm1d, (4,), "expected 2D or 3D input"),
    (N.BatchNorm2d, (4, 3, 2), "expected 4D input"),
])
def test_wrong_rank_raises_like_torch(cls, shape, match):
    with pytest.raises(ValueError, match=match):
        cls(3)(torch.randn(shape))


@pytest.mark.parametrize("kwargs", [{}, {"affine": False, "track_running_stats": False}])
def test_wrong_number_of_channels_raises(kwargs):
    with pytest.raises(RuntimeError, match="expected 3 channels"):
        N.BatchNorm2d(3, **kwargs)(torch.randn(2, 4, 3, 3))


def test_functional_errors_name_the_argument():
    x = torch.randn(4, 3)
    with pytest.raises(RuntimeError, match="running_mean has 2 elements"):
        N.batch_norm(x, torch.zeros(2), torch.ones(3), training=True)
    with pytest.raises(RuntimeError, match="weight has 4 elements"):
        N.batch_norm(x, None, None, torch.ones(4), training=True)
    with pytest.raises(RuntimeError, match="must be given in evaluation mode"):
        N.batch_norm(x, None, None)
    with pytest.raises(ValueError, match="eps"):
        N.batch_norm(x, None, None, training=True, eps=0.0)
    with pytest.raises(RuntimeError, match="at least 2 dims"):
        N.batch_norm(torch.randn(3), None, None, training=True)
    with pytest.raises(TypeError, match="input"):
        N.batch_norm(torch.arange(6).reshape(2, 3), None, None, training=True)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_invalid_constructor_arguments_are_refused(spec):
    for kwargs, exc in cases.of(spec).invalid:
        with pytest.raises(exc, match="num_features|momentum|eps"):
            spec.reference(**kwargs)


def test_functional_signature_matches_torch():
    want = inspect.signature(torch.nn.functional.batch_norm).parameters
    got = inspect.signature(N.batch_norm).parameters
    assert [(n, p.default) for n, p in got.items()] == [(n, p.default) for n, p in want.items()]


def test_eval_without_running_stats_uses_batch_statistics_like_torch():
    x = torch.randn(6, 3) * 2 + 1
    ref, base = N.BatchNorm1d(3, track_running_stats=False), nn.BatchNorm1d(
        3, track_running_stats=False)
    torch.testing.assert_close(ref.eval()(x), base.eval()(x))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_float16_and_bfloat16_at_least_as_accurate_as_torch(dtype):
    # torch's CPU half kernels round intermediates (its output differs from a float64
    # evaluation by ~1 ulp); the reference computes in float32 and rounds once, so it is
    # compared with the float64 truth and must not be worse than torch.
    x = torch.randn(16, 4, 3).to(dtype)
    truth = nn.BatchNorm1d(4).double()(x.double())
    ref, base = N.BatchNorm1d(4).to(dtype), nn.BatchNorm1d(4).to(dtype)
    y, want = ref(x), base(x)
    assert y.dtype == dtype
    assert (y.double() - truth).abs().max() <= (want.double() - truth).abs().max()
    torch.testing.assert_close(ref.running_var, base.running_var)
    torch.testing.assert_close(ref.running_mean, base.running_mean)


def test_vmap_over_independent_batches_equals_a_loop():
    xs = torch.randn(3, 8, 4, dtype=torch.float64)
    w = torch.rand(4, dtype=torch.float64) + 0.5

    def f(x):
        return N.batch_norm(x, None, None, w, None, training=True)

    torch.testing.assert_close(torch.func.vmap(f)(xs), torch.stack([f(x) for x in xs]))
    g = torch.func.grad(lambda x: (f(x) ** 3).sum())
    torch.testing.assert_close(torch.func.vmap(g)(xs), torch.stack([g(x) for x in xs]))


def test_torch_compile_matches_torch_eager():
    ref, base = N.BatchNorm2d(4), nn.BatchNorm2d(4)
    compiled = torch.compile(ref, backend="aot_eager")
    x = torch.randn(4, 4, 3, 3)
    xr, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    torch.testing.assert_close(compiled(xr), base(xb))
    compiled(xr).pow(2).sum().backward()
    base(xb).pow(2).sum().backward()
    torch.testing.assert_close(xr.grad, xb.grad)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 9), c=st.integers(1, 5), length=st.integers(1, 4),
       momentum=st.one_of(st.none(), st.floats(0.0, 1.0)), eps=st.floats(1e-6, 1e-1),
       affine=st.booleans())
def test_property_random_shapes_and_hyper_parameters(n, c, length, momentum, eps, affine):
    kwargs = {"momentum": momentum, "eps": eps, "affine": affine}
    ref = N.BatchNorm1d(c, **kwargs).double()
    base = nn.BatchNorm1d(c, **kwargs).double()
    for _ in range(3):
        x = torch.randn(n, c, length, dtype=torch.float64) * 3 + 1
        xr, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        yr, yb = ref(xr), base(xb)
        torch.testing.assert_close(yr, yb)
        g = torch.randn_like(yr)
        yr.backward(g)
        yb.backward(g)
        torch.testing.assert_close(xr.grad, xb.grad)
        torch.testing.assert_close(ref.running_var, base.running_var)
        torch.testing.assert_close(ref.running_mean, base.running_mean)
