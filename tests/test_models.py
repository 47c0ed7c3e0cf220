"""nnref.experiment.models and .impl: layer names, shapes, options, the impl switch, weight
tying, init."""

from __future__ import annotations

import logging
import math

import pytest
import torch
from torch import nn

from nnref import registry
from nnref.dropout import DropConnectLinear
from nnref.experiment.impl import component, to_impl
from nnref.experiment.models import MLP, SmallCNN, init_weights
from tests.conftest import DEVICES


def test_mlp_names_and_shapes():
    net = MLP(64, 10, width=16, depth=3, activation="tanh")
    assert [n for n, _ in net.named_children()] == ["hidden1", "hidden2", "hidden3", "out"]
    assert isinstance(net.hidden2.act, registry.spec("activation", "tanh").reference)
    assert net.hidden1.linear.weight.shape == (16, 64)
    assert net(torch.randn(5, 1, 8, 8)).shape == (5, 10)


@pytest.mark.parametrize("device", DEVICES)
def test_mlp_forward_matches_hand_composition(device):
    net = MLP(3, 2, width=4, depth=2, activation="sigmoid").to(device)
    x = torch.randn(6, 3, device=device)
    h = torch.sigmoid(x @ net.hidden1.linear.weight.T + net.hidden1.linear.bias)
    h = torch.sigmoid(h @ net.hidden2.linear.weight.T + net.hidden2.linear.bias)
    expected = h @ net.out.weight.T + net.out.bias
    torch.testing.assert_close(net(x), expected)


def test_mlp_reference_and_torch_share_state_dict_and_output():
    ref = MLP(8, 3, width=12, depth=3, activation="elu", norm="batch", dropout=0.3)
    builtin = to_impl(MLP(8, 3, width=12, depth=3, activation="elu", norm="batch",
                          dropout=0.3), "torch")
    assert isinstance(builtin.hidden1.act, nn.ELU)
    assert isinstance(builtin.hidden1.norm, nn.BatchNorm1d)
    assert isinstance(builtin.hidden1.drop, nn.Dropout)
    builtin.load_state_dict(ref.state_dict())
    x = torch.randn(7, 8)
    ref.eval()
    builtin.eval()
    torch.testing.assert_close(ref(x), builtin(x))


def test_residual_adds_the_input():
    net = MLP(5, 2, width=5, depth=2, activation="relu", residual=True)
    x = torch.randn(4, 5)
    h1 = torch.relu(net.hidden1.linear(x))
    h2 = h1 + torch.relu(net.hidden2.linear(h1))
    torch.testing.assert_close(net(x), net.out(h2))


def test_tie_hidden_shares_one_matrix():
    net = MLP(6, 2, width=8, depth=4, tie="hidden")
    assert net.hidden2.linear is net.hidden3.linear is net.hidden4.linear
    untied = MLP(6, 2, width=8, depth=4)
    n_params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n_params(untied) - n_params(net) == 2 * (8 * 8 + 8)


def test_tie_io_uses_the_transposed_input_weight():
    net = MLP(6, 6, width=3, depth=1, activation="identity", tie="io")
    x = torch.randn(2, 6)
    w = net.hidden1.linear.weight
    torch.testing.assert_close(net(x), (x @ w.T + net.hidden1.linear.bias) @ w + net.out_bias)
    net(x).sum().backward()
    assert w.grad is not None
    with pytest.raises(ValueError, match="tie='io'"):
        MLP(6, 3, tie="io")


@pytest.mark.parametrize("kwargs, match", [
    ({"dropout": 1.5}, "dropout"), ({"dropconnect": -0.1}, "dropconnect"),
    ({"depth": 0}, "depth"), ({"width": 2.5}, "width"), ({"norm": "layer"}, "norm"),
    ({"tie": "all"}, "tie"), ({"noise": float("inf")}, "noise=inf"),
    ({"dropout": float("nan")}, "dropout=nan"), ({"depth": True}, "depth=True"),
])
def test_mlp_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(4, 2, **kwargs)


def test_unknown_names_list_choices_and_the_nearest():
    with pytest.raises(ValueError, match=r"activation='relu6' is not valid; choose one of: "
                                         r".*leaky_relu.*\(did you mean 'relu'\?\)"):
        MLP(4, 2, activation="relu6")
    with pytest.raises(ValueError, match=r"init='he_normall' .*did you mean 'he_normal'"):
        MLP(4, 2, init="he_normall")
    with pytest.raises(ValueError, match=r"norm='layer' is not valid; choose one of: None, batch"):
        SmallCNN((1, 8, 8), 2, norm="layer")


def test_per_unit_activation_gets_num_features():
    net = MLP(4, 2, width=7, depth=1, activation="apl")
    assert net.hidden1.act.a.shape == (1, 7)  # (hinges, num_features)


def test_components_torch_lacks_stay_references_and_are_logged(caplog):
    with caplog.at_level(logging.INFO, logger="nnref.experiment.impl"):
        net = to_impl(MLP(4, 2, width=5, depth=2, activation="sqnl", dropconnect=0.5,
                          dropout=0.2, dropout_mode="classic"), "torch")
        opt = component("optim", "lars", "torch", lr=0.1)
    assert type(net.hidden1.linear) is DropConnectLinear
    assert type(net.hidden1.act) is registry.spec("activation", "sqnl").reference
    assert net.hidden1.drop.mode == "classic"
    assert opt.func is registry.spec("optim", "lars").reference
    for path in ("hidden1.linear", "hidden1.act", "hidden1.drop"):
        assert path in caplog.text
    assert "optim 'lars' has no torch built-in" in caplog.text


def test_to_impl_reference_is_the_identity_and_bad_impl_lists_choices():
    net = MLP(4, 2)
    assert to_impl(net, "reference") is net
    assert type(net.hidden1.act) is registry.spec("activation", "relu").reference
    with pytest.raises(ValueError, match=r"impl='numpy' is not valid; choose one of: "
                                         r"reference, torch"):
        to_impl(net, "numpy")


def test_init_weights_and_zero_bias():
    net = MLP(400, 3, width=300, depth=1, init="he_normal")
    w = net.hidden1.linear.weight
    assert w.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.05)
    assert torch.count_nonzero(net.hidden1.linear.bias) == 0
    zero = init_weights(MLP(4, 2), "zeros")
    assert all(torch.count_nonzero(p) == 0 for p in zero.parameters())


def test_mlp_takes_the_shape_of_a_sample():
    net = MLP((1, 8, 8), 10, width=4, depth=1)
    assert net.hidden1.linear.in_features == 64


def test_small_cnn_1d_layout_of_the_mnist1d_paper():
    net = SmallCNN((1, 40), 10)
    assert net.conv1.conv.kernel_size == (5,) and net.conv1.conv.out_channels == 25
    assert net.out.in_features == 25 * 5
    assert net(torch.randn(3, 40)).shape == net(torch.randn(3, 1, 40)).shape == (3, 10)


def test_small_cnn_2d_with_batch_norm():
    net = SmallCNN((1, 8, 8), 10, norm="batch", activation="tanh")
    assert isinstance(net.conv2.conv, nn.Conv2d)
    assert type(net.conv2.norm) is registry.spec("norm", "batch_norm2d").reference
    assert net(torch.randn(4, 1, 8, 8)).shape == (4, 10)
    with pytest.raises(ValueError, match="input_shape"):
        SmallCNN((40,), 10)
