"""Logging for the workflow's scripts: everything, including an uncaught exception's
traceback and Python warnings, goes to the job's log file, which Snakemake shows when a
job fails."""

from __future__ import annotations

import logging
import sys


def log_to_file(path: str) -> logging.Logger:
    """Send logging, warnings and uncaught exceptions of this process to ``path``.

    Logging goes to ``path`` at INFO (replacing any earlier configuration), Python warnings
    are captured into it, chatty libraries (fontTools, matplotlib, PIL, numexpr) are held
    at WARNING, and an uncaught exception is logged with its traceback before Python's own
    hook reports it.

    Parameters
    ----------
    path : str
        The job's log file (``snakemake.log[0]``).

    Returns
    -------
    logging.Logger
        The package's logger (``tmstarget``).
    """
    logging.basicConfig(
        filename=path,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    # Libraries that narrate at INFO (matplotlib's PDF font subsetting) would bury ours.
    for noisy in ("fontTools", "matplotlib", "PIL", "numexpr"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logger = logging.getLogger("tmstarget")

    def excepthook(kind, value, traceback):
        logger.error("failed: %s", value, exc_info=(kind, value, traceback))
        sys.__excepthook__(kind, value, traceback)

    sys.excepthook = excepthook
    return logger
