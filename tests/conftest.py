"""Shared fixtures: the tiny zoo is built once per test session by the real builder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from modelprint.testing import TinyZoo, tiny_zoo


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyZoo:
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    return tiny_zoo(tmp_path_factory.mktemp("tiny-zoo"))


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One intra-op thread for a module of tiny models (``pytestmark = pytest.mark.usefixtures(...)``): their
    loops run many small batches, and on a shared 2-core machine two threads spin against other work and
    run up to 10x slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
