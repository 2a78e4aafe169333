"""Shared by every test package; keep it small.

`make build-dev` builds the extension in place (`maturin develop --skip-install`), so the
package is importable from `python/` without being installed; an installed automatosx (a
wheel under test) wins.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("automatosx") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
