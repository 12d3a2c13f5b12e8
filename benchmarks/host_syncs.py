"""Count the operations that make the host wait for the device, without a GPU.

On CUDA each of these stalls the host until the device's queue drains: reading a value
(`item`, `float()`, `bool()`, `.tolist()` through `_local_scalar_dense` or a copy to the CPU),
ops whose output size depends on the data (`nonzero`, `unique`, boolean-mask indexing,
`repeat_interleave` without `output_size`), and tensors built from Python data (`torch.tensor`,
an H2D copy that PyTorch follows with a stream synchronization). A `TorchDispatchMode` sees
these ops on the CPU too, so a CPU test can hold the GPU step loop to its sync budget.

Two blind spots, both handled by convention: on the CPU every tensor is a host tensor, so the
counter cannot tell the ones that stay on the host in a CUDA run; scalar reads made by code that
keeps its tensors on the host by design (`HOST_RESIDENT`) are counted apart, as `host_reads`.
And `.cpu()`, `.tolist()` and `.numpy()` of a CPU tensor dispatch nothing, so the engine reads
device values through a real copy (`tensor.to("cpu", copy=True)`), which is counted.
"""

from __future__ import annotations

import traceback
from collections import Counter
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

_ALWAYS = {
    "aten::_local_scalar_dense",
    "aten::nonzero",
    "aten::_unique2",
    "aten::unique_dim",
    "aten::unique_consecutive",
    "aten::masked_select",
    "aten::lift_fresh",
    "aten::is_nonzero",
    "aten::equal",
}
_MASK_INDEXING = {"aten::index", "aten::index_put_", "aten::index_put", "aten::_index_put_impl_"}
_COPIES = {"aten::_to_copy", "aten::copy_"}
#: Code whose scalar reads are of host tensors in a CUDA run too: torch.optim's step counters (kept on
#: the CPU unless `capturable`/`fused`), kornia's check of a Python sigma (made on the host on purpose).
HOST_RESIDENT = ("torch/optim/", "kornia/filters/gaussian.py")


def _is_mask(index: object) -> bool:
    return isinstance(index, torch.Tensor) and index.dtype in (torch.bool, torch.uint8)


def syncs_of(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether the op `name` (e.g. "aten::nonzero") called with these arguments makes the host wait on CUDA."""
    if name in _ALWAYS:
        return True
    if name == "aten::repeat_interleave":
        return kwargs.get("output_size") is None and (len(args) < 4 or args[3] is None)
    if name in _MASK_INDEXING:
        indices = args[1] if len(args) > 1 else kwargs.get("indices", ())
        return any(_is_mask(index) for index in indices or ())
    if name == "aten::copy_":
        non_blocking = args[2] if len(args) > 2 else kwargs.get("non_blocking", False)
        return not non_blocking and args[0].device.type == "cpu" and args[1].device.type != "cpu"
    if name in _COPIES:
        device = kwargs.get("device")
        return device is not None and torch.device(device).type == "cpu"
    return False


class HostSyncCounter(TorchDispatchMode):
    """Counts host syncs while active: `with HostSyncCounter() as syncs: ...`, then `syncs.total`, `syncs.by_op`."""

    def __init__(self) -> None:
        super().__init__()
        self.by_op: Counter[str] = Counter()
        self.host_reads = 0

    @property
    def total(self) -> int:
        """Syncs counted so far (host reads of host-resident tensors excluded)."""
        return sum(self.by_op.values())

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        name = func._schema.name
        if syncs_of(name, args, kwargs):
            if name in ("aten::_local_scalar_dense", "aten::lift_fresh") and _from_host_resident_code():
                self.host_reads += 1
            else:
                self.by_op[name] += 1
        return func(*args, **kwargs)


def _from_host_resident_code() -> bool:
    return any(part in frame.filename.replace("\\", "/") for frame in traceback.extract_stack() for part in HOST_RESIDENT)
