"""The lessons tier: the notebooks run with papermill and nbval on real DinD swarms, and the
"now you try" checks. Helpers in this folder (nbtools) are importable by name."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
