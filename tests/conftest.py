"""Fixtures shared by the suite.

`device`: the engine's tensor tests run once per compute device this machine has (CPU always, CUDA when
PyTorch sees a GPU). This file is also loaded by the extension tests under Inkscape's own Python, which
has no torch: there the fixture simply has nothing to offer.

`inkscape_home`: a fresh HOME for the tests that drive real Inkscape.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest


def _devices() -> list[str]:
    if importlib.util.find_spec("torch") is None:
        return []
    import torch

    return ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.fixture(params=_devices())
def device(request: pytest.FixtureRequest) -> object:
    """A torch.device to run a tensor test on."""
    import torch

    return torch.device(request.param)


@pytest.fixture
def inkscape_home(tmp_path: Path) -> Iterator[Path]:
    """A fresh HOME for real Inkscape; the sketch server the extension starts there is stopped afterwards."""
    from tests.inkscape_home import stop_autostarted_server

    path = tmp_path / "home"
    path.mkdir()
    yield path
    stop_autostarted_server(path)
