"""conf/experiment/mnist1d_paper.yaml: the mnist1d notebooks' terms through nnref's stack."""

from __future__ import annotations

from conftest import CONF
from hydra import compose, initialize_config_dir


def _cfg(*overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=["experiment=mnist1d_paper", *overrides])


def test_the_paper_preset_composes_the_notebooks_terms():
    cfg = _cfg()
    assert cfg.model._target_.endswith("SmallCNN") and cfg.model.channels == 25
    assert cfg.optim.name == "adam" and cfg.optim.lr == 0.01
    assert cfg.data.batch_size == 100 and cfg.data.standardize is False
    assert cfg.trainer.max_steps == 6000 and cfg.init.name is None  # torch's default init
    assert round(4000 * (1 - cfg.data.val_fraction)) == 3990
    assert "suite" not in cfg  # a preset, not part of run_experiments.sh
    mlp = _cfg("model=mlp", "model.width=100", "model.residual=true")  # the comment's command
    assert mlp.model.depth == 2 and mlp.model.residual is True


def test_the_paper_preset_feeds_one_fixed_order():
    from nnref.experiment.data import IndexBatches, TensorData

    assert _cfg().data.shuffle is False

    class Ten(TensorData):
        def load(self):
            import torch

            return torch.arange(10.0).unsqueeze(1), torch.zeros(10, dtype=torch.long)

    for shuffle in (False, True):
        data = Ten(batch_size=5, val_fraction=0.0, test_fraction=0.0, standardize=False,
                   shuffle=shuffle)
        loader = data.loader("train", True)
        assert isinstance(loader, IndexBatches)
        epochs = [[x.flatten().tolist() for x, _ in loader] for _ in range(2)]
        train = data.splits["train"][0].flatten().tolist()  # the order the split left
        assert (epochs[0] == epochs[1] == [train[:5], train[5:]]) is (not shuffle)
