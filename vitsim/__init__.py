"""vitsim: a hardware/algorithm co-design simulator for sparse Vision-Transformer
accelerators (ViTCoD, HPCA 2023, and its peers).

The pipeline lives in the subpackages, one layer each::

    vitsim.models (torch) -> vitsim.workloads -> vitsim.simulator <- vitsim.hw_configs
                                                        |
                                                  vitsim.analysis (tables, sweeps, figures, CLI)

The facade for notebooks and scripts (:mod:`vitsim.api`)::

    import vitsim
    r = vitsim.simulate("vitcod", model="deit-tiny", sparsity=0.9)
    vitsim.compare("vitcod", model="deit-tiny", sparsity=0.9)    # a DataFrame
    vitsim.sweep({"base": {...}, "axes": {...}})                   # a DataFrame
    vitsim.reproduce("vitcod-reproduction")                        # ViTCoD's comparison

This root package is also the ground every layer may stand on: ``errors`` (the error type
and its one-line form), ``atomic`` (new files and directories written atomically),
``strict_yaml`` (the one YAML reader) and ``progress`` (the progress bar). It imports no
subpackage when imported: the facade's functions import them when called.
"""

from __future__ import annotations

from importlib import metadata as _metadata
from pkgutil import extend_path
from typing import TYPE_CHECKING, Any

# Run from a checkout's root (``python -m pytest``, ``python -m vitsim``), the folder
# ``vitsim/`` shadows the installed package; the subpackages (installed from the root
# folders ``simulator/``, ``workloads/``, ...) are then found through the installed copy.
__path__ = extend_path(__path__, __name__)

try:
    __version__: str = _metadata.version("vitsim")
except _metadata.PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__", "compare", "hardware", "reproduce", "simulate", "sweep", "trace"]
_FACADE = frozenset(__all__) - {"__version__"}

if TYPE_CHECKING:
    from vitsim.api import compare, hardware, reproduce, simulate, sweep, trace


def __getattr__(name: str) -> Any:
    """The facade's functions, from :mod:`vitsim.api` on first use (PEP 562), so that
    ``import vitsim`` loads no other module of the package."""
    if name in _FACADE:
        from vitsim import api

        return getattr(api, name)
    raise AttributeError(f"module 'vitsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
