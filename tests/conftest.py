"""Shared fixtures: the tiny zoo is built once per test session by the real builder."""

from __future__ import annotations

import pytest
import torch

from modelprint.testing import TinyZoo, tiny_zoo


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyZoo:
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    return tiny_zoo(tmp_path_factory.mktemp("tiny-zoo"))
