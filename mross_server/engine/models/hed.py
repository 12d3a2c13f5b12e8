"""HED edge maps (Xie & Tu 2015): five VGG16 side outputs, upsampled and fused into one edge probability."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mross_server.engine.models.vgg16 import BLOCK_OUTPUTS, ConvWeights, VGG16Features
from mross_server.engine.shapes import check_shape


class HedEdges(nn.Module):
    """The HED network: a VGG16 trunk, one 1x1 side conv per block and a 1x1 fusion conv; frozen."""

    def __init__(self, vgg: VGG16Features, sides: Sequence[ConvWeights], fuse: ConvWeights):
        super().__init__()
        if len(sides) != len(BLOCK_OUTPUTS):
            raise ValueError(f"HED needs {len(BLOCK_OUTPUTS)} side outputs, got {len(sides)}.")
        self.vgg = vgg
        self.sides = nn.ModuleList(side.to_conv() for side in sides)
        self.fuse = fuse.to_conv()
        self.eval()

    @torch.no_grad()
    def forward(self, image: Tensor) -> Tensor:
        """Edge probability [H, W] in [0, 1] of one RGB image [1, 3, H, W] in [0, 1] (any H, W)."""
        return self.side_and_fused(image)[-1]

    @torch.no_grad()
    def side_and_fused(self, image: Tensor) -> Tensor:
        """The five side outputs (fine to coarse) and the fused map, as probabilities in [0, 1].

        The coarse side outputs (4 and 5) see large receptive fields: they mark the outlines of
        objects and stay quiet on fine texture, which makes them a cue for what the scene is about.

        Shape:
            - image: [1, 3, H, W], RGB in [0, 1], any H and W
            - output: [6, H, W]
        """
        check_shape(image, "1,3,H,W", "the image for HED")
        size = image.shape[-2:]
        # The Keras VGG16 convs that feed the side outputs end in a ReLU; VGG16Features returns pre-ReLU maps.
        blocks = self.vgg(image, BLOCK_OUTPUTS)
        sides = torch.cat([
            F.interpolate(side(F.relu(blocks[name])), size=size, mode="bilinear", align_corners=False)
            for name, side in zip(BLOCK_OUTPUTS, self.sides)
        ], dim=1)
        return torch.sigmoid(torch.cat([sides, self.fuse(sides)], dim=1))[0]
