"""vitsim: a hardware/algorithm co-design simulator for sparse Vision-Transformer
accelerators (ViTCoD, HPCA 2023, and its peers).

The pipeline lives in the subpackages, one layer each::

    vitsim.models (torch) -> vitsim.workloads -> vitsim.simulator <- vitsim.hw_configs
                                                        |
                                                  vitsim.analysis (tables, sweeps, figures, CLI)

This root package is the ground every layer may stand on: ``errors`` (the error type and its
one-line form), ``atomic`` (new files and directories written atomically), ``strict_yaml``
(the one YAML reader) and ``progress`` (the progress bar). It imports no subpackage when
imported.
"""

from __future__ import annotations

from importlib import metadata as _metadata
from pkgutil import extend_path

# Run from a checkout's root (``python -m pytest``, ``python -m vitsim``), the folder
# ``vitsim/`` shadows the installed package; the subpackages (installed from the root
# folders ``simulator/``, ``workloads/``, ...) are then found through the installed copy.
__path__ = extend_path(__path__, __name__)

try:
    __version__: str = _metadata.version("vitsim")
except _metadata.PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
