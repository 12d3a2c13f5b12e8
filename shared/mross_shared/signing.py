"""HMAC-SHA256 signatures over whole messages, and rejection of replayed ones.

Unlike Jupyter, which signs only the JSON parts, the signature covers every frame after it, image
bytes included, each prefixed with its length so bytes cannot be shifted between frames unnoticed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from mross_shared.errors import ErrorCode, ProtocolError


class Signer:
    """Signs and verifies frame sequences with one shared key (from the connection file)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the HMAC key must be at least 16 bytes")
        self._key = key

    def sign(self, frames: Sequence[bytes]) -> bytes:
        """Hex signature (ASCII bytes) of `frames`."""
        digest = hmac.new(self._key, digestmod=hashlib.sha256)
        for frame in frames:
            digest.update(len(frame).to_bytes(8, "big"))
            digest.update(frame)
        return digest.hexdigest().encode("ascii")

    def verify(self, signature: bytes, frames: Sequence[bytes]) -> None:
        """Raise `bad_signature` unless `signature` is the signature of `frames`."""
        if not signature:
            raise ProtocolError(ErrorCode.BAD_SIGNATURE, "the message is not signed")
        if not hmac.compare_digest(signature, self.sign(frames)):
            raise ProtocolError(ErrorCode.BAD_SIGNATURE, "the message signature does not match the shared key")


class ReplayGuard:
    """Remembers signatures seen within a time window and rejects any message seen before or too old.

    A message is accepted only if its own send time is within `window_s` of now; signatures are
    kept for twice the window, so a replay is either remembered or already too old. Memory is
    therefore bounded by the message rate times the window.
    """

    def __init__(self, window_s: float = 300.0, clock: Callable[[], float] = time.time) -> None:
        self._window_s = window_s
        self._clock = clock
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def check(self, signature: bytes, sent_at: float) -> None:
        """Record `signature`; raise `replayed` if it was seen, `stale` if `sent_at` is outside the window."""
        now = self._clock()
        while self._seen and next(iter(self._seen.values())) < now - 2 * self._window_s:
            self._seen.popitem(last=False)
        if abs(now - sent_at) > self._window_s:
            raise ProtocolError(
                ErrorCode.STALE,
                f"the message's timestamp is {abs(now - sent_at):.0f} s off this machine's clock; at most {self._window_s:.0f} s is allowed",
            )
        if signature in self._seen:
            raise ProtocolError(ErrorCode.REPLAYED, "this message was already received once (replayed)")
        self._seen[signature] = now
