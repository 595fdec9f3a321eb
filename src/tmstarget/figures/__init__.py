"""Figures, one module per stage. Plotting never computes statistics: each function
receives finished numbers (data frames, arrays, images) and saves through
:func:`tmstarget.style.save_figure`."""
