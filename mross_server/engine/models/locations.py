"""Where the loss networks' weights live on this machine, and the error for weights that are not there.

Every path is derived from the environment at call time, so a test or the installer can point a
process somewhere else with MROSS_WEIGHTS_DIR, MROSS_CLIP_DIR or XDG_CACHE_HOME.
"""

from __future__ import annotations

import os
from pathlib import Path

HED_FILENAME = "hed_bsds500.weights.h5"


class WeightsError(RuntimeError):
    """A weights file is missing where it is required, unreadable, or of the wrong model; one sentence."""


def cache_root() -> Path:
    """`$XDG_CACHE_HOME/mross`, defaulting to ~/.cache/mross."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mross"


def clip_dir() -> Path:
    """Where CLIP checkpoints (RN101.pt, ViT-B-32.pt) are looked up: $MROSS_CLIP_DIR or <cache>/clip."""
    return Path(os.environ.get("MROSS_CLIP_DIR") or cache_root() / "clip")


def weights_dir() -> Path:
    """Where the offline weights live: $MROSS_WEIGHTS_DIR or <cache>/weights."""
    return Path(os.environ.get("MROSS_WEIGHTS_DIR") or cache_root() / "weights")


def hed_weights_path() -> Path:
    """The default location of the VGG16/HED weights file."""
    return weights_dir() / HED_FILENAME
