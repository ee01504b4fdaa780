"""Design-space sweeps: ``spec`` (the strict sweep YAML and its expansion into points),
``expr`` (the constraint language, parsed, never ``eval``), ``runner`` (serial, processes,
Dask; resumable Parquet parts), ``pareto`` (fronts, best points, sensitivity). Example specs
ship in ``examples/``."""
