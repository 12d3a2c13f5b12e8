"""Where the Inkscape extension lives, made importable the way Inkscape imports it (as top-level modules).

Inkscape runs `mross_sketch.py` from its own folder, so the extension imports `mross_ext` as a top-level
package; tests must see the same module names or exception classes would exist twice.
"""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
EXTENSION_DIR = REPO_ROOT / "inkscape_extension"
TEST_DATA = REPO_ROOT / "tests" / "data"

if str(EXTENSION_DIR) not in sys.path:
    sys.path.insert(0, str(EXTENSION_DIR))
