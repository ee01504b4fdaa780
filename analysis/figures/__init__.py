"""Figures and reports: ``charts`` (comparison and sweep figures, each from a DataFrame),
``masks`` (a head's mask before and after polarization), ``report`` (the self-contained HTML
page of a run or sweep directory). Plot functions return a Figure and never call
``plt.show()``."""
