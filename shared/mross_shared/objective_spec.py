"""The objective expression a job may name, such as 'ink+2*edges' or 'clip + 0.05*vgg': grammar and bounds.

One parser serves both sides: the wire rejects a malformed or extreme expression with the field's
name (so the engine never sees a weight of 1e41), and the engine builds its loss from the same terms.
"""

from __future__ import annotations

import math
import re

#: Largest weight of one term (and of the ROI view): far beyond any useful value (presets use 0.05 to 2),
#: far below where a loss times its weight could overflow.
MAX_WEIGHT = 1000.0
#: Most terms in one expression.
MAX_TERMS = 8

# A term is `name` or `weight*name`; weights are plain decimals (no sign, no exponent).
_TERM = re.compile(r"(?:(\d+(?:\.\d*)?|\.\d+)\*)?([a-z]+)")


def parse_objective(spec: str) -> list[tuple[float, str]]:
    """'clip+vgg' or 'ink + 0.2*vgg' as [(weight, term name), ...].

    Raises:
        ValueError: one sentence naming the malformed term, or the weight beyond MAX_WEIGHT.
    """
    parts = spec.replace(" ", "").split("+")
    if len(parts) > MAX_TERMS:
        raise ValueError(f"the objective {spec!r} has {len(parts)} terms; at most {MAX_TERMS} are allowed")
    terms = []
    for part in parts:
        match = _TERM.fullmatch(part)
        if match is None:
            raise ValueError(f"cannot read objective term {part!r} in {spec!r} (expected e.g. 'ink+0.2*vgg')")
        weight = float(match.group(1) or 1.0)
        if not math.isfinite(weight) or weight > MAX_WEIGHT:
            raise ValueError(f"the weight of objective term {match.group(2)!r} must be at most {MAX_WEIGHT:g}")
        terms.append((weight, match.group(2)))
    return terms
