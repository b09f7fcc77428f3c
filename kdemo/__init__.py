"""kdemo: make an English sentence-embedding model multilingual by knowledge distillation."""

from __future__ import annotations

from kdemo.errors import KdemoError

__all__ = ["KdemoError"]
__version__ = "0.1.0"
