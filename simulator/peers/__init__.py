"""Earlier sparse-attention accelerators, modelled with their own dataflows.

- ``sanger``: Sanger (MICRO 2021): 4-bit mask prediction, pack-and-split, a score-stationary
  reconfigurable array;
- ``spatten``: SpAtten (HPCA 2021): cascade token and head pruning with a top-k engine,
  progressive quantization;
- ``common``: what they share (the stage tally that becomes a
  :class:`~vitsim.simulator.baselines.result.BaselineResult`, linear and vector stages on a
  peer's engine, DRAM tiling, technology-node scaling).

A new peer is a module here (its dataflow), a schema in ``hw_configs/peers.py`` and a YAML
preset in ``hw_configs/presets/peers/``.
"""
