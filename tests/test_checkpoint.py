"""Checkpoints: round trip, weights_only loading, clear errors on bad files."""

import pytest
import torch

from equipot import AtomicGraph, Equiformer, EquiformerConfig, load_model, save_checkpoint
from equipot.checkpoint import read_checkpoint
from tests.conftest import make_model


def test_round_trip_preserves_predictions_and_metadata(tmp_path, aspirin):
    model = make_model()
    model.set_reference_energies({"H": -10.0, "C": -1000.0, "O": -2000.0})
    model.scale.fill_(0.5)
    path = tmp_path / "m.pt"
    save_checkpoint(model, path, metadata={"objective": "energy+forces", "epochs": 3})
    raw = torch.load(path, weights_only=True)  # loads without running pickled code
    assert raw["format"] == "equipot-checkpoint" and raw["format_version"] == 2
    assert raw["species"] == ["H", "C", "N", "O"]
    assert raw["reference_energies"]["C"] == -1000.0
    assert raw["scale"] == 0.5
    assert raw["metadata"]["objective"] == "energy+forces"
    loaded = load_model(path)
    g = AtomicGraph.from_atoms(aspirin, model.cutoff)
    assert loaded(g)["energy"].item() == pytest.approx(model(g)["energy"].item(), abs=1e-10)
    assert loaded.config == model.config


def test_bare_network_saves_as_a_potential_and_old_format_loads(tmp_path, aspirin):
    """A bare ``Equiformer`` network is saved with E0 = 0 and scale 1; a format-1 file (weights
    flat, as the shipped models were written) loads into the same potential."""
    torch.manual_seed(3)
    network = Equiformer(EquiformerConfig.preset("small", species=["H", "C", "O"], num_blocks=1))
    save_checkpoint(network, tmp_path / "net.pt")
    loaded = load_model(tmp_path / "net.pt")
    g = AtomicGraph.from_atoms(aspirin, loaded.cutoff).to(dtype=torch.float64)
    species = loaded.species_index(g.numbers)
    vectors = g.positions[g.edge_index[0]] - g.positions[g.edge_index[1]]
    direct = network.double()(species, vectors, g.edge_index).sum()
    zbl = loaded.repulsion(species, g.edge_index[0], g.edge_index[1], vectors.norm(dim=-1), len(species)).sum()
    assert loaded(g)["energy"].item() == pytest.approx((direct + zbl).item(), abs=1e-10)

    raw = torch.load(tmp_path / "net.pt", weights_only=True)
    raw["format_version"] = 1
    raw["state_dict"] = {k.removeprefix("network."): v for k, v in raw["state_dict"].items()}
    torch.save(raw, tmp_path / "v1.pt")
    assert load_model(tmp_path / "v1.pt")(g)["energy"].item() == pytest.approx(loaded(g)["energy"].item(), abs=1e-12)


def test_summary_that_disagrees_with_the_weights_is_an_error(tmp_path):
    save_checkpoint(make_model(), tmp_path / "m.pt")
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    raw["reference_energies"]["C"] = -5.0
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="reference energies"):
        load_model(tmp_path / "bad.pt")


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        load_model("/nonexistent/model.pt")


def test_truncated_file(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(make_model(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable equipot checkpoint"):
        load_model(path)


@pytest.mark.parametrize("content", [[1, 2, 3], {"state_dict": {}}, {"format": "other"}])
def test_foreign_torch_file(tmp_path, content):
    path = tmp_path / "foreign.pt"
    torch.save(content, path)
    with pytest.raises(ValueError, match="not an equipot checkpoint"):
        load_model(path)


def test_text_file(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello")
    with pytest.raises(ValueError):
        read_checkpoint(path)


def test_weights_not_matching_config(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(make_model(), path)
    data = torch.load(path, weights_only=True)
    data["config"]["num_blocks"] = 3
    torch.save(data, path)
    with pytest.raises(ValueError, match="weights do not match"):
        load_model(path)


def test_bad_configs_are_clear_errors():
    with pytest.raises(ValueError, match="natural parity"):
        EquiformerConfig(species=["H"], irreps_node="16x0e+8x1e")
    with pytest.raises(ValueError, match="lmax"):
        EquiformerConfig(species=["H"], irreps_node="16x0e+8x1o", lmax=4)
    with pytest.raises(ValueError, match="unknown element"):
        EquiformerConfig(species=["H", "Xx"])
    with pytest.raises(ValueError, match="divisible"):
        Equiformer(EquiformerConfig(species=["H"], irreps_node="16x0e+6x1o", num_heads=4))
    with pytest.raises(ValueError, match="list each irrep once"):
        Equiformer(EquiformerConfig(species=["H"], irreps_node="16x0e+8x1o+8x0e", num_heads=4))
    with pytest.raises(ValueError, match="preset"):
        EquiformerConfig.preset("huge", species=["H"])
    for bad in (0, -0.1, "small"):
        with pytest.raises(ValueError, match="residual_scale. must be"):
            EquiformerConfig(species=["H"], residual_scale=bad)
    assert EquiformerConfig(species=["H"], residual_scale="1e-1").residual_scale == 0.1  # as YAML reads it


def test_presets():
    small = EquiformerConfig.preset("small", species=["H", "C"])
    paper = EquiformerConfig.preset("md17", species=["H", "C"])
    assert paper == EquiformerConfig(species=["H", "C"])
    assert Equiformer(small).num_parameters() < Equiformer(paper).num_parameters() / 5
