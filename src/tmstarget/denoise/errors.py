"""The preprocessing stage's one error type (every module of :mod:`tmstarget.denoise`
raises it)."""

from __future__ import annotations


class PreprocessingError(ValueError):
    """Bad input to the preprocessing stage. The message names the input and what to fix."""
