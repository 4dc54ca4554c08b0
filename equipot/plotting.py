"""Matplotlib for the PNG reports (training curves, parity plots, MD reports), no display needed."""

from __future__ import annotations


def pyplot():
    """``matplotlib.pyplot`` on the file-only Agg back end, imported on first use so that
    importing equipot never loads matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
