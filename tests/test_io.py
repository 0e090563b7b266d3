import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from modelprint.models.io import ModelFileError, load_model, read_state_dict
from modelprint.testing import TinyZoo


class Exploit:
    """Pickles into a call of os.system: what a hostile model file does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    with open(path, "wb") as fh:
        pickle.dump({"weight": Exploit(marker)}, fh)
    with pytest.raises(ModelFileError, match="refused"):
        read_state_dict(path)
    assert not marker.exists()


def test_torch_saved_module_is_refused_but_state_dict_loads(tmp_path: Path) -> None:
    module = torch.nn.Linear(3, 2)
    torch.save(module, tmp_path / "full.pt")
    with pytest.raises(ModelFileError):
        read_state_dict(tmp_path / "full.pt")
    torch.save(module.state_dict(), tmp_path / "sd.pt")
    state = read_state_dict(tmp_path / "sd.pt")
    assert torch.equal(state["weight"], module.weight)


def test_truncated_safetensors_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_file({"w": torch.randn(100, 100)}, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="safetensors"):
        read_state_dict(path)


def test_stored_model_round_trip_and_hash_check(tiny: TinyZoo, tmp_path: Path) -> None:
    src = tiny.store.path(tiny.source)
    model = load_model(src)
    x = tiny.data().images[:32]
    assert torch.equal(model(x), tiny.load(tiny.source)(x))
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "card.json").write_bytes((src / "card.json").read_bytes())
    weights = bytearray((src / "weights.safetensors").read_bytes())
    weights[-5] ^= 0xFF  # flip a bit in the last tensor
    (copy / "weights.safetensors").write_bytes(bytes(weights))
    with pytest.raises(ModelFileError, match="hash mismatch"):
        load_model(copy)


def test_weights_for_another_architecture_give_a_clear_error(tiny: TinyZoo, tmp_path: Path) -> None:
    from modelprint.models.archs import build_arch
    from modelprint.models.io import load_weights

    state = read_state_dict(tiny.store.path(tiny.source) / "weights.safetensors")
    with pytest.raises(ModelFileError, match="do not fit"):
        load_weights(build_arch("mlp", in_channels=1, num_classes=10, image_size=8), state)
