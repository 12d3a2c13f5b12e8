"""One check for the tensor shapes the engine's public functions document, with one kind of message."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor


def check_shape(tensor: Tensor, spec: str, what: str, sizes: Mapping[str, int] | None = None) -> dict[str, int]:
    """Check `tensor` against a shape like "K,3,H,W"; return the sizes its letters took.

    Digits must match exactly; a letter takes whatever size it meets first, and must meet the same size
    again (within `spec`, and against `sizes`, e.g. the dict returned for an earlier tensor).

    Raises:
        ValueError: "{what} must be [K, 3, H, W], got [2, 4, 8, 8]."
    """
    names = [name.strip() for name in spec.split(",")]
    bound = dict(sizes or {})
    fits = tensor.dim() == len(names)
    for name, size in zip(names, tensor.shape):
        if name.isdigit():
            fits = fits and size == int(name)
        else:
            fits = fits and bound.setdefault(name, size) == size
    if not fits:
        known = {name: bound[name] for name in names if name in (sizes or {})}
        hint = f" with {', '.join(f'{n}={v}' for n, v in known.items())}" if known else ""
        raise ValueError(f"{what} must be [{', '.join(names)}]{hint}, got {list(tensor.shape)}.")
    return bound
