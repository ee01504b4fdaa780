"""What a user reads and runs: the ``vitsim`` command, sweeps, figures and tables.

- ``cli/``: the command line (``main`` builds the parser; one module per command family);
- ``sweeps/``: design-space sweeps (spec, constraint expressions, runners, Pareto/sensitivity);
- ``figures/``: figures (each takes a DataFrame and returns a Figure) and the HTML report;
- the tables: ``frames`` (tidy DataFrames of a result), ``inspect`` (a trace's summary),
  ``runs`` (run directories), ``compare`` (an accelerator against its baselines) and
  ``reproduce`` (ViTCoD's headline comparison).

The only package that builds DataFrames and figures; nothing outside it imports it.
"""
