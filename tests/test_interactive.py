"""The interactive sweep view (``vitsim plot --kind interactive``): one self-contained HTML
file; skipped where plotly (the ``interactive`` extra) is not installed, except the test of
the one-line error that names the extra."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_runner import run

SPEC = """\
name: iv
base:
  hardware: vitcod
  workload: {source: synthetic, model: deit-tiny, sparsity: 0.9, seed: 0}
  baselines: [sanger]
axes:
  hardware.dram.bandwidth_gb_per_s: [25.6, 76.8]
  hardware.mac_array.n_lines: [32, 64]
metrics: [latency_ms, energy_mj, mac_utilization]
"""


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    from vitsim.analysis.sweeps.runner import run_sweep
    from vitsim.analysis.sweeps.spec import load_sweep

    root = tmp_path_factory.mktemp("iv")
    (root / "iv.yaml").write_text(SPEC, encoding="utf-8")
    run_sweep(load_sweep(root / "iv.yaml"), root / "sweep", runner="serial", progress=False)
    return root / "sweep"


def plot_data(page: str) -> list[dict]:
    """The traces of the page's plotly figure."""
    call = re.search(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),\s*\{", page, re.S)
    assert call, "no Plotly.newPlot call"
    return json.loads(call.group(1))


def test_view_is_self_contained_with_hover(sweep_dir: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("plotly")
    rc, stdout, err = run(capsys, "plot", sweep_dir, "--kind", "interactive", "--out",
                          tmp_path / "v")
    assert rc == 0, err
    path = tmp_path / "v" / "interactive.html"
    assert stdout.split() == [str(path)]
    page = path.read_text(encoding="utf-8")
    assert page.lstrip().startswith("<html") or page.lstrip().lower().startswith("<!doctype")
    # plotly's JavaScript is embedded: no script or style sheet comes from elsewhere
    assert len(page) > 1_000_000
    assert not re.search(r"<script[^>]+src=", page) and "<link" not in page
    traces = plot_data(page)
    points = [t for t in traces if not t["name"].startswith("Pareto")]
    assert sum(len(t["x"]) for t in points) == 4  # every successful point, once
    assert {t["name"] for t in points} == {"MAC lines: 32", "MAC lines: 64"}
    assert any(t["name"].startswith("Pareto-optimal") for t in traces)
    hover = points[0]["hovertext"][0]
    assert "DRAM bandwidth (GB/s): " in hover and "MAC lines: " in hover  # the knobs
    assert re.search(r"Latency: \d\.\d+ ms", hover) and re.search(r"MAC utilization: \d+", hover)
    assert re.search(r"Speedup over sanger, attention: [\d.]+×", hover)
    # the menus switch x and y among the metrics and axes
    assert "Energy efficiency over sanger, end to end" in page
    rc, _, err = run(capsys, "plot", sweep_dir, "--kind", "interactive", "--out",
                     tmp_path / "v")
    assert rc == 2 and "interactive.html: exists" in err and len(err.strip().splitlines()) == 1


def test_view_options_and_bad_input(sweep_dir: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("plotly")
    from vitsim.analysis.figures.interactive import sweep_view_html

    rc, _, err = run(capsys, "plot", sweep_dir / "results.parquet", "--kind",
                          "interactive", "--out", tmp_path / "v", "--x", "mac_utilization",
                          "--y", "speedup_sanger_attention", "--hue",
                          "hardware.dram.bandwidth_gb_per_s")
    assert rc == 0, err
    traces = plot_data((tmp_path / "v" / "interactive.html").read_text(encoding="utf-8"))
    assert {t["name"] for t in traces if not t["name"].startswith("Pareto")} == {
        "DRAM bandwidth: 25.6 GB/s", "DRAM bandwidth: 76.8 GB/s"}
    rc, _, err = run(capsys, "plot", sweep_dir, "--kind", "interactive", "--out",
                     tmp_path / "w", "--x", "power")
    assert rc == 2 and err.startswith("vitsim: error: --x: no numeric column 'power'")
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "w").exists()
    # many values of the colour column: one trace with a colour scale
    table = pd.DataFrame({"point": range(20), "status": "ok", "x.knob": np.arange(20.0),
                          "latency_ms": np.linspace(1, 2, 20), "energy_mj": np.ones(20)})
    page = sweep_view_html(table, axes=["x.knob"], metrics=["latency_ms", "energy_mj"])
    (trace,) = [t for t in plot_data(page) if not t["name"].startswith("Pareto")]
    assert trace["marker"]["showscale"] and len(trace["marker"]["color"]) == 20


def test_view_of_a_run_is_refused(tmp_path: Path, capsys) -> None:
    table = tmp_path / "stages.csv"
    pd.DataFrame({"stage": ["qk"], "total_cycles": [1.0]}).to_csv(table, index=False)
    rc, _, err = run(capsys, "plot", table, "--kind", "interactive", "--out", tmp_path / "v")
    assert rc == 2 and "--kind interactive: applies to a sweep directory" in err


def test_missing_plotly_names_the_extra(sweep_dir: Path, tmp_path: Path, capsys,
                                        monkeypatch) -> None:
    for name in [m for m in sys.modules if m == "plotly" or m.startswith("plotly.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "plotly", None)  # import plotly -> ModuleNotFoundError
    rc, stdout, err = run(capsys, "plot", sweep_dir, "--kind", "interactive", "--out",
                          tmp_path / "v")
    assert rc == 2 and stdout == ""
    assert err.strip() == ('vitsim: error: --kind interactive: needs plotly, which is not '
                           'installed: pip install "vitsim[interactive]"')
    assert not (tmp_path / "v").exists()
