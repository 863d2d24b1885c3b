"""Provider tests: the virtualbox provider against a docker-machine stand-in, the ssh provider
against Docker-in-Docker machines that also run sshd. Helpers here are importable by name."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
