"""The simulator: the accelerator model, its CPU/GPU baselines and its peer accelerators.

The modules at this level are the accelerator model, in pipeline order:
``dense_engine`` (MAC lines, systolic arrays) -> ``linear`` (GEMM tiling over the buffers) ->
``attention`` (the denser and sparser engines, the codec, softmax) -> ``counts`` (the stage
table of cycles and actions) -> ``energy`` (actions x per-action energies) -> ``results``
(frozen records) -> ``simulate`` (one design point, end to end).

- ``baselines/``: CPU and GPU platforms (the operator list a framework runs, its roofline,
  measured profiles) and :class:`~vitsim.simulator.baselines.result.BaselineResult`, the
  result every baseline shares;
- ``peers/``: earlier accelerators (Sanger, SpAtten) modelled with their own dataflows;
- ``kernels/``: the numba kernels (arrays and scalars only).

Never imports torch, pandas, matplotlib, ``vitsim.analysis`` or ``vitsim.models``.
"""
