"""CLIP RN101 / ViT-B-32 image towers through open_clip, from the first place that holds OpenAI's weights.

Looked up in an explicit path, then the CLIP cache directory, then downloaded only when allowed.
Missing CLIP weights are not an error: the result says so in one sentence (see docs/weights.md).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import torch
from open_clip import load_openai_model
from open_clip.modified_resnet import ModifiedResNet
from open_clip.transformer import VisionTransformer
from torch import nn

from mross_server.engine.models.clip_download import fetch_clip_weights
from mross_server.engine.models.locations import WeightsError, clip_dir

#: CLIP towers we load, their class, and what the product does without them.
CLIP_MODELS = MappingProxyType({
    "RN101": (ModifiedResNet, "using the offline objective"),
    "ViT-B-32": (VisionTransformer, "placing strokes without CLIP saliency"),
})
@dataclass(frozen=True)
class LoadedBackbone:
    """The outcome of looking for a CLIP model's weights.

    `model` is the image tower (frozen, eval mode, fp32) or None when no weights were found; `source`
    is the file the weights came from ("" when none); `note` is one sentence for the log and the job's
    metadata, e.g. "CLIP weights not found at …; using the offline objective".
    """

    name: str
    model: nn.Module | None
    source: str
    note: str

    @property
    def found(self) -> bool:
        """Whether weights were loaded."""
        return self.model is not None


def load_clip(
    name: str,
    path: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    allow_download: bool = False,
    device: str | torch.device = "cpu",
) -> LoadedBackbone:
    """Load CLIP `name` ("RN101" or "ViT-B-32") from the first place that has it.

    Looks in `path` (a checkpoint file, or a directory holding `<name>.pt`), then in `cache_dir`
    (default `clip_dir()`), then, only with `allow_download`, fetches OpenAI's file into `cache_dir`
    (verified, resumable: clip_download.py). Raises WeightsError when a file is found but cannot be
    loaded as that model.
    """
    if name not in CLIP_MODELS:
        raise ValueError(f"unknown CLIP model {name!r}; choose one of {', '.join(CLIP_MODELS)}.")
    cache = Path(cache_dir) if cache_dir is not None else clip_dir()
    places = [cache / f"{name}.pt"]
    if path is not None:
        explicit = Path(path)
        places.insert(0, explicit / f"{name}.pt" if explicit.is_dir() else explicit)
    for place in places:
        if place.is_file():
            return LoadedBackbone(name, _clip_tower(name, place, device), str(place), f"CLIP {name} from {place}")
    _, without = CLIP_MODELS[name]
    missing = f"CLIP weights not found at {' or '.join(str(p) for p in places)}"
    if not allow_download:
        return LoadedBackbone(name, None, "", f"{missing}; {without}")
    try:
        [fetched] = fetch_clip_weights((name,), cache)
    except WeightsError as err:
        return LoadedBackbone(name, None, "", f"{missing} and the download failed ({err}); {without}")
    return LoadedBackbone(name, _clip_tower(name, fetched.path, device), str(fetched.path), f"CLIP {name} downloaded to {fetched.path}")


def _openai_tower(path: str, device: str | torch.device) -> nn.Module:
    """The image tower of an OpenAI CLIP checkpoint file, frozen."""
    with warnings.catch_warnings():
        # open_clip opens every checkpoint with torch.jit.load first, whose deprecation notice nobody can act on.
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.load` is deprecated", category=FutureWarning)
        model = load_openai_model(path, precision="fp32", device=device)
    tower: nn.Module = model.visual.eval().requires_grad_(False)
    return tower


def _clip_tower(name: str, path: Path, device: str | torch.device) -> nn.Module:
    try:
        tower = _openai_tower(str(path), device)
    # Unreadable checkpoints fail in many ways (pickle, zip, key and shape errors); all mean "not this model".
    except Exception as err:
        reason = " ".join(str(err).split())  # load_state_dict reports over several lines
        raise WeightsError(f"{path} is not a readable OpenAI CLIP checkpoint ({type(err).__name__}: {reason}).") from err
    tower_class, _ = CLIP_MODELS[name]
    expected = isinstance(tower, tower_class)  # not narrowed: open_clip's classes are untyped
    if not expected:
        raise WeightsError(f"{path} holds a {type(tower).__name__} image tower, not CLIP {name}.")
    return tower
