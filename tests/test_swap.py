"""nnref.swap: torch models flipped to the references and back give the same numbers."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from nnref import dropout as D
from nnref import registry, swap
from nnref.verify import cases


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(10, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(32, 32), nn.Tanh(), nn.Dropout(0.2),
        nn.Linear(32, 16), nn.LeakyReLU(0.1), nn.Linear(16, 4), nn.LogSoftmax(dim=1),
    )


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout2d(0.2),
        nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8, momentum=None), nn.ELU(0.5),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        nn.Linear(32, 16), nn.SiLU(), nn.Dropout(0.5), nn.Linear(16, 16), nn.PReLU(16),
        nn.Linear(16, 5), nn.Softmax(dim=1),
    )


MODELS = [pytest.param(mlp, (8, 10), id="mlp"), pytest.param(small_cnn, (4, 3, 9, 9), id="cnn")]


def _run(model, x, seed=None):
    """Output and gradients w.r.t. the input and every parameter (by name)."""
    x = x.clone().requires_grad_(True)
    if seed is not None:
        torch.manual_seed(seed)
    y = model(x)
    up = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape)
    names, params = zip(*model.named_parameters(), strict=True)
    grads = torch.autograd.grad((y * up).sum(), [x, *params])
    return y.detach(), dict(zip(("input", *names), grads, strict=True))


def _assert_same(got, want):
    torch.testing.assert_close(got[0], want[0])
    assert got[1].keys() == want[1].keys()
    for k in want[1]:
        torch.testing.assert_close(got[1][k], want[1][k], msg=lambda m, k=k: f"{k}: {m}")


def _buffers(model):
    return {k: v.clone() for k, v in model.named_buffers()}


@pytest.mark.parametrize(("build", "shape"), MODELS)
def test_eval_outputs_and_gradients_equal_before_after_and_back(build, shape):
    torch.manual_seed(0)
    model = build()
    model(torch.randn(shape) * 2 + 1)  # non-trivial running statistics
    model.eval()
    x = torch.randn(shape)
    before = _run(model, x)
    original_types = [type(m) for m in model.modules()]

    report = swap.to_reference(model)
    assert report.replaced and not report.skipped
    _assert_same(_run(model, x), before)
    for m in model.modules():  # every module with a registered reference now is one
        assert type(m) not in swap.pairs("reference")

    back = swap.to_builtin(model)
    assert len(back.replaced) == len(report.replaced)
    assert [type(m) for m in model.modules()] == original_types
    _assert_same(_run(model, x), before)


@pytest.mark.parametrize(("build", "shape"), MODELS)
def test_training_with_equal_masks_matches_including_running_stats(build, shape):
    # on CPU the references draw the same masks as torch from the same seed
    torch.manual_seed(0)
    model = build().double()
    x = torch.randn(shape, dtype=torch.float64)
    twin = build().double()
    twin.load_state_dict(model.state_dict())
    want = _run(model, x, seed=7)
    swap.to_reference(twin)
    twin.train()
    _assert_same(_run(twin, x, seed=7), want)
    got_buffers, want_buffers = _buffers(twin), _buffers(model)
    for k in want_buffers:
        torch.testing.assert_close(got_buffers[k], want_buffers[k])


def test_parameters_and_buffers_are_the_same_objects_so_an_optimizer_keeps_working():
    model = mlp()
    params = list(model.parameters())
    bn_mean = model[1].running_mean
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    swap.to_reference(model)
    assert all(a is b for a, b in zip(model.parameters(), params, strict=True))
    assert model[1].running_mean is bn_mean
    before = model[1].weight.detach().clone()
    model(torch.randn(8, 10)).sum().backward()
    opt.step()
    assert not torch.equal(model[1].weight, before)


def test_train_eval_mode_dtype_and_requires_grad_are_kept():
    model = small_cnn().double().train()
    model[3].eval()
    model[1].weight.requires_grad_(False)
    swap.to_reference(model)
    assert model[1].training and not model[3].training
    assert model[1].running_var.dtype == torch.float64
    assert not model[1].weight.requires_grad
    assert isinstance(model[3], D.Dropout2d)


def _module_pairs():
    """(spec, case) for every registered module pair whose case the built-in accepts."""
    out = []
    for table in registry.KINDS.values():
        for spec in table.values():
            if not (inspect.isclass(spec.builtin) and issubclass(spec.builtin, nn.Module)
                    and issubclass(spec.reference, nn.Module)):
                continue
            accepted = inspect.signature(spec.builtin).parameters
            for i, case in enumerate(cases.of(spec).kwargs):
                if set(case) <= set(accepted):
                    out.append(pytest.param(spec, case, id=f"{spec.kind}-{spec.name}-{i}"))
    return out


@pytest.mark.parametrize(("spec", "case"), _module_pairs())
def test_every_registered_module_pair_round_trips(spec, case):
    # registry-driven: losses, activations, dropout and norm layers alike
    # the loss entries write tensor-valued arguments (weight, pos_weight) as tuples
    kwargs = {k: torch.tensor(v) if isinstance(v, tuple) else v
              for k, v in {**spec.defaults, **case}.items()}
    original = spec.builtin(**kwargs)
    holder = nn.ModuleDict({"m": original})
    report = swap.to_reference(holder)
    assert [r[0] for r in report.replaced] == ["m"], str(report)
    ref = holder["m"]
    assert type(ref) is swap.pairs("reference")[spec.builtin]
    assert repr(ref) == repr(original)  # same class name and constructor arguments
    for k, v in original.state_dict().items():
        assert ref.state_dict()[k] is not None
        torch.testing.assert_close(ref.state_dict()[k], v)
    swap.to_builtin(holder)
    assert type(holder["m"]) is spec.builtin
    assert repr(holder["m"]) == repr(original)


def test_pairs_cover_every_kind_with_module_builtins():
    pairs = swap.pairs("reference")
    assert pairs[nn.BatchNorm2d].__module__ == "nnref.normalization"
    assert pairs[nn.Dropout].__module__ == "nnref.dropout"
    assert pairs[nn.ReLU].__module__.startswith("nnref.activations")
    for spec in registry.LOSSES.values():
        if inspect.isclass(spec.builtin):
            assert pairs[spec.builtin] is spec.reference
    assert {v: k for k, v in pairs.items()} == swap.pairs("torch")


def test_loss_module_held_by_a_model_is_swapped_with_its_state():
    losses = {s.builtin for s in registry.LOSSES.values() if inspect.isclass(s.builtin)}
    if nn.CrossEntropyLoss not in losses:
        pytest.fail("cross_entropy is expected in the registry with nn.CrossEntropyLoss")
    holder = nn.Module()
    holder.loss = nn.CrossEntropyLoss(weight=torch.rand(5), label_smoothing=0.1)
    logits, target = torch.randn(6, 5), torch.randint(0, 5, (6,))
    want = holder.loss(logits, target)
    swap.to_reference(holder)
    assert type(holder.loss).__module__.startswith("nnref")
    torch.testing.assert_close(holder.loss(logits, target), want)


def test_report_lists_modules_without_counterpart_and_unconvertible_ones():
    model = nn.Sequential(nn.Linear(3, 3), D.Dropout(0.3, mode="classic"),
                          D.DropConnectLinear(3, 2))
    report = swap.to_builtin(model)
    assert report.replaced == []
    assert [(p, c) for p, c, _ in report.skipped] == [("1", "nnref.Dropout")]
    assert "mode='classic'" in report.skipped[0][2]
    assert report.no_counterpart == [("2", "nnref.DropConnectLinear")]  # Linear is torch's
    assert isinstance(model[1], D.Dropout)
    text = str(report)
    assert "skipped" in text and "DropConnectLinear" in text


def test_root_module_is_reported_not_replaced_and_convert_does_it():
    relu = nn.ReLU()
    report = swap.to_reference(relu)
    assert report.skipped and report.skipped[0][0] == ""
    new = swap.convert(nn.LeakyReLU(0.3), swap.pairs("reference")[nn.LeakyReLU])
    assert new.negative_slope == 0.3 and type(new).__module__.startswith("nnref")


def test_subclasses_are_left_alone_and_shared_modules_stay_shared():
    class MyReLU(nn.ReLU):
        pass

    act = nn.Tanh()
    model = nn.Sequential(MyReLU(), act, nn.Linear(2, 2), act)
    report = swap.to_reference(model)
    assert type(model[0]) is MyReLU
    assert [p for p, _ in report.no_counterpart] == ["0", "2"]
    assert model[1] is model[3] and type(model[1]).__module__.startswith("nnref")


def test_non_module_is_refused():
    with pytest.raises(TypeError, match="model"):
        swap.to_reference([nn.ReLU()])
