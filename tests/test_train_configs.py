"""The training configs shipped beside the models and in the docs load, and the CPU retraining
config of the polymer models keeps, with either objective, its shipped counterpart's data and
split, so that a retrained checkpoint's test frames and held-out families are the ones the docs
compare."""

from pathlib import Path

import pytest

from equipot.train.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "equipot" / "models").glob("*.yaml")) + sorted((ROOT / "docs" / "train").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_training_config_loads(path):
    config = TrainConfig.from_yaml(path)
    assert config.data, path
    assert abs(config.train_size + config.val_size + config.test_size - 1.0) < 1e-9 or config.train_size > 1


@pytest.mark.parametrize("name, objective", [("polymers-gfn2", {}), ("polymers-gfn2-fo", {"force_only": True})])
def test_cpu_retraining_keeps_the_shipped_split(name, objective):
    shipped = TrainConfig.from_yaml(ROOT / "equipot" / "models" / f"{name}.yaml")
    cpu = TrainConfig.from_yaml(ROOT / "docs" / "train" / "polymers-gfn2-cpu.yaml", objective)
    assert cpu.data == shipped.data
    assert not any("pmma" in d or "pva" in d for d in cpu.data)  # the held-out families stay out
    for key in ("train_size", "val_size", "test_size", "split_seed", "force_only"):
        assert getattr(cpu, key) == getattr(shipped, key), key
    assert cpu.out != shipped.out  # a retraining run does not overwrite the shipped model's run folder


def test_force_only_33_family_config_differs_from_the_shipped_one_only_by_its_objective():
    ef = TrainConfig.from_yaml(ROOT / "equipot" / "models" / "polymers33-gfn2.yaml")
    fo = TrainConfig.from_yaml(ROOT / "equipot" / "models" / "polymers33-gfn2-fo.yaml")
    assert fo.force_only and not ef.force_only and fo.out != ef.out
    assert not any(f in d for d in fo.data for f in ("/pmma_", "/pma_", "/paa_"))  # the acrylates stay out
    for key in ("data", "train_size", "val_size", "test_size", "split_seed", "model", "time_limit_minutes", "seed"):
        assert getattr(fo, key) == getattr(ef, key), key


def test_md17_started_33_family_config_differs_from_the_shipped_one_only_by_its_start():
    """polymers33-from-md17-gfn2 trains what polymers33-gfn2 trained, from md17-gfn2's weights:
    the same files, split, objective and budget, the acrylates held out."""
    ef = TrainConfig.from_yaml(ROOT / "equipot" / "models" / "polymers33-gfn2.yaml")
    pre = TrainConfig.from_yaml(ROOT / "equipot" / "models" / "polymers33-from-md17-gfn2.yaml")
    assert pre.init_from == "md17-gfn2" and ef.init_from is None and pre.out != ef.out
    assert pre.model["species"] == ef.model["species"]
    assert not any(f in d for d in pre.data for f in ("/pmma_", "/pma_", "/paa_"))
    for key in ("data", "train_size", "val_size", "test_size", "split_seed", "force_only", "energy_weight", "lr"):
        assert getattr(pre, key) == getattr(ef, key), key
    for key in ("time_limit_minutes", "seed", "batch_size", "warmup_epochs"):
        assert getattr(pre, key) == getattr(ef, key), key
