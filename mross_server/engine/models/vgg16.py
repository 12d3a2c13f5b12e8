"""The VGG16 conv stack in the Caffe convention of the HED-trained weights (see hed_h5.py for loading)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: The 13 conv layers of VGG16 in forward order; `convB_I` is the I-th conv of block B.
VGG16_CONVS = (
    "conv1_1", "conv1_2",
    "conv2_1", "conv2_2",
    "conv3_1", "conv3_2", "conv3_3",
    "conv4_1", "conv4_2", "conv4_3",
    "conv5_1", "conv5_2", "conv5_3",
)
#: The last conv of each block: MROSS's loss layers and HED's side-output taps.
BLOCK_OUTPUTS = ("conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3")
#: Caffe's BGR pixel mean (0-255) that the HED/VGG16 weights were trained with.
CAFFE_BGR_MEAN = (104.00699, 116.66877, 122.67892)


@dataclass(frozen=True)
class ConvWeights:
    """One convolution's parameters in torch layout: `weight` [out, in, kh, kw], `bias` [out]."""

    name: str
    weight: Tensor
    bias: Tensor

    def to_conv(self) -> nn.Conv2d:
        """A frozen `nn.Conv2d` holding these weights, 'same' padding for odd kernels."""
        out_ch, in_ch, kh, kw = self.weight.shape
        conv = nn.Conv2d(in_ch, out_ch, (kh, kw), padding=(kh // 2, kw // 2))
        with torch.no_grad():
            conv.weight.copy_(self.weight)
            conv.bias.copy_(self.bias)  # type: ignore[union-attr]  # made with the default bias=True
        return conv.requires_grad_(False)


class VGG16Features(nn.Module):
    """VGG16's 13 convs (3x3, 'same' padding) with 2x2 max pools between blocks; frozen, eval mode."""

    bgr_mean: Tensor

    def __init__(self, convs: Sequence[ConvWeights]):
        super().__init__()
        names = tuple(c.name for c in convs)
        if names != VGG16_CONVS:
            raise ValueError(f"VGG16 needs the convs {', '.join(VGG16_CONVS)} in order, got {', '.join(names)}.")
        self.convs = nn.ModuleList(c.to_conv() for c in convs)
        self.register_buffer("bgr_mean", torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def forward(self, rgb: Tensor, layers: Sequence[str] = BLOCK_OUTPUTS) -> dict[str, Tensor]:
        """Pre-ReLU outputs of the named conv layers.

        `rgb` is [B, 3, H, W] in [0, 1] (any H, W); the Caffe BGR/0-255/mean convention is applied here.
        Returns {name: [B, C, H / 2^(block-1), W / 2^(block-1)]} (sizes rounded up, as Keras' 'same'
        pooling does), computing nothing past the deepest requested layer.
        """
        if not layers or not set(layers) <= set(VGG16_CONVS):
            raise ValueError(f"VGG16 layers must be one or more of {', '.join(VGG16_CONVS)}, got {list(layers)}.")
        deepest = max(VGG16_CONVS.index(name) for name in layers)
        x = rgb.flip(1) * 255.0 - self.bgr_mean
        out: dict[str, Tensor] = {}
        for index, (name, conv) in enumerate(zip(VGG16_CONVS, self.convs)):
            if name.endswith("_1") and index > 0:
                # Keras pools with padding='same': odd sizes keep their last row/column, as ceil_mode does.
                x = F.max_pool2d(x, 2, ceil_mode=True)
            x = conv(x)
            if name in layers:
                out[name] = x
            if index == deepest:
                break
            x = F.relu(x)
        return out
