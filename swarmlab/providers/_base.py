"""Moved to :mod:`swarmlab.providers.base`. Kept only while ``swarmlab/exercises.py`` (being
edited by someone else) still imports ``LABEL_LAB`` from here; delete once it imports
``.providers.base``."""

from .base import LABEL_LAB

__all__ = ["LABEL_LAB"]
