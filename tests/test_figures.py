"""Every figure function draws a non-blank file from a small table, with labelled axes."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from vitsim.analysis.figures import charts as figures
from vitsim.analysis.sweeps.pareto import pareto_mask
from vitsim.errors import VitsimError


def assert_drawn(path: Path) -> None:
    """A PNG with real content (not a blank canvas), or a PDF/SVG of some substance."""
    assert path.is_file()
    if path.suffix == ".png":
        rgb = matplotlib.image.imread(path)[..., :3]
        inked = (rgb < 0.9).any(axis=2).mean()
        colours = np.unique((rgb * 255).astype(np.uint8).reshape(-1, 3), axis=0)
        assert inked > 0.01, f"{path} is nearly blank"
        assert len(colours) > 8, f"{path} has {len(colours)} colours"
    else:
        data = path.read_bytes()
        assert len(data) > 2000
        assert data.startswith(b"%PDF") if path.suffix == ".pdf" else b"<svg" in data[:2000]


@pytest.fixture(scope="module")
def sweep_table() -> pd.DataFrame:
    """A small sweep-shaped table (no simulation): 3 x 3 x 2 points, one failed."""
    rows = []
    for i, (bw, lines, sp) in enumerate(
            (b, n, s) for b in (25.6, 76.8, 153.6) for n in (16, 32, 64) for s in (0.8, 0.9)):
        rows.append({
            "point": i, "hardware.dram.bandwidth_gb_per_s": bw,
            "hardware.mac_array.n_lines": lines, "workload.sparsity": sp,
            "total_macs": lines * 8, "sram_bytes": 500_000 + lines,
            "status": "ok", "error": None,
            "latency_ms": 1000.0 / lines + 50.0 / bw + 10 * (1 - sp),
            "energy_mj": 5.0 + lines / 64 + 20.0 / bw,
            "mac_utilization": 0.9 - lines / 200, "dense_engine_utilization": 0.6,
            "sparse_engine_utilization": 0.3 + sp / 10})
    table = pd.DataFrame(rows)
    table.loc[5, ["status", "error", "latency_ms", "energy_mj"]] = ["failed", "boom", np.nan,
                                                                   np.nan]
    return table


@pytest.fixture(scope="module")
def trace():
    from vitsim.workloads.model_spec import get_spec
    from vitsim.workloads.pipeline import trace_synthetic

    return trace_synthetic(get_spec("deit-tiny"), sparsity=0.9, seed=0)


@pytest.fixture(scope="module")
def stages(trace) -> tuple[pd.DataFrame, float]:
    """The stage table of a real DeiT-Tiny run (the live schema of analysis.frames)."""
    from vitsim.analysis.frames import stages_frame
    from vitsim.hw_configs.loader import load_hardware
    from vitsim.simulator.simulate import simulate

    hw = load_hardware("vitcod")
    return stages_frame(simulate(trace, hw)), hw.clock_mhz


def save(fig, tmp_path: Path, stem: str, formats=("png",)) -> list[Path]:
    # A low resolution keeps the tests quick; the content checks do not depend on it.
    paths = figures.save_figure_as(fig, tmp_path, stem, formats=formats, dpi=50)
    for p in paths:
        assert_drawn(p)
    return paths


def test_speedup_bars(tmp_path: Path) -> None:
    table = pd.DataFrame({
        "model": ["deit-tiny", "deit-tiny", "deit-base", "deit-base"],
        "baseline": ["cpu", "sanger", "cpu", "sanger"],
        "speedup": [235.3, 6.8, 120.0, 5.1], "energy_efficiency": [1000.0, 3.2, 800.0, 2.9],
        "scope": "end_to_end"})
    fig = figures.plot_speedup(table, geomean=False)
    axes = fig.get_axes()
    assert [ax.get_yscale() for ax in axes] == ["log", "log"]
    assert "speedup" in axes[0].get_ylabel() and "log scale" in axes[0].get_ylabel()
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["deit-tiny", "deit-base"]
    heights = sorted(round(p.get_height(), 1) for p in axes[0].patches)
    assert heights == [5.1, 6.8, 120.0, 235.3]
    labels = {t.get_text() for t in axes[0].texts}
    assert {"235×", "6.8×", "120×", "5.1×"} <= labels
    save(fig, tmp_path, "speedup")


def test_speedup_errors() -> None:
    good = pd.DataFrame({"model": ["m"], "baseline": ["b"], "speedup": [2.0],
                         "energy_efficiency": [3.0]})
    with pytest.raises(VitsimError, match="needs the column"):
        figures.plot_speedup(good.drop(columns="speedup"))
    with pytest.raises(VitsimError, match="must be positive for a log axis"):
        figures.plot_speedup(good.assign(speedup=0.0))
    two = pd.concat([good.assign(scope="attention"), good.assign(scope="end_to_end")])
    with pytest.raises(VitsimError, match=r"more than one row .*rows differ in: scope"):
        figures.plot_speedup(two)


def test_breakdown_of_one_run(stages, tmp_path: Path) -> None:
    frame, clock = stages
    fig = figures.plot_breakdown(frame, clock_mhz=clock, title="deit-tiny on vitcod")
    top, bottom = fig.get_axes()[:2]
    assert top.get_ylabel() == "latency (ms)" and bottom.get_ylabel() == "energy (mJ)"
    ticks = [t.get_text() for t in top.get_xticklabels()]
    assert ticks[:3] == ["patch_embed", "ln1", "qkv"] and "qk" in ticks and "sv" in ticks
    # The stacked latency bars add up to the run's time.
    total_ms = frame["total_cycles"].sum() / (clock * 1e3)
    lat = sum(p.get_height() for p in top.patches)
    assert lat == pytest.approx(total_ms, rel=1e-9)
    energy = sum(p.get_height() for p in bottom.patches)
    assert energy == pytest.approx(frame["energy_pj"].sum() * 1e-9, rel=1e-9)
    save(fig, tmp_path, "breakdown", ("png", "pdf"))
    # A stages.csv as written in a run directory draws the same way.
    csv = tmp_path / "stages.csv"
    frame.to_csv(csv, index=False)
    again = figures.plot_breakdown(pd.read_csv(csv), clock_mhz=clock)
    assert sum(p.get_height() for p in again.get_axes()[0].patches) == pytest.approx(lat)


def test_breakdown_comparing_runs(stages, tmp_path: Path) -> None:
    frame, clock = stages
    half = frame.copy()
    half["total_cycles"] = half["total_cycles"] / 2
    fig = figures.plot_breakdown_compare({"vitcod": frame, "faster": half}, clock_mhz=clock)
    ax = fig.get_axes()[0]
    by_run = {}
    for p in ax.patches:
        by_run.setdefault(round(p.get_x(), 3), 0.0)
        by_run[round(p.get_x(), 3)] += p.get_height()
    a, b = (by_run[k] for k in sorted(by_run))
    assert a == pytest.approx(2 * b)
    save(fig, tmp_path, "compare")


def test_utilization_per_engine(sweep_table, tmp_path: Path) -> None:
    fig = figures.plot_utilization(sweep_table, "hardware.mac_array.n_lines")
    ax = fig.get_axes()[0]
    assert ax.get_ylabel() == "MAC utilization (%)" and ax.get_xlabel() == "MAC lines"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["16", "32", "64"]
    assert len(ax.patches) == 9  # 3 values x 3 engines
    save(fig, tmp_path, "utilization")
    one = pd.DataFrame([{"mac_utilization": 0.9, "dense_engine_utilization": 0.5,
                         "sparse_engine_utilization": 0.2}])
    single = figures.plot_utilization(one)
    assert sorted(round(p.get_height()) for p in single.get_axes()[0].patches) == [20, 50, 90]
    with pytest.raises(VitsimError, match="needs a column among"):
        figures.plot_utilization(pd.DataFrame({"x": [1]}))


def test_sparsity_curves(sweep_table, tmp_path: Path) -> None:
    fig = figures.plot_sparsity_curves(sweep_table, "latency_ms",
                                       hue="hardware.mac_array.n_lines")
    ax = fig.get_axes()[0]
    assert ax.get_xlabel() == "attention sparsity"
    assert ax.get_ylabel() == "mean latency (ms)"
    assert len(ax.get_lines()) == 3
    colours = {line.get_color() for line in ax.get_lines()}
    markers = {line.get_marker() for line in ax.get_lines()}
    assert len(colours) == 3 and len(markers) == 3
    assert colours <= set(figures.OKABE_ITO)
    save(fig, tmp_path, "sparsity")


def test_heatmap(sweep_table, tmp_path: Path) -> None:
    fig = figures.plot_heatmap(sweep_table, "hardware.dram.bandwidth_gb_per_s",
                               "hardware.mac_array.n_lines", "latency_ms")
    ax = fig.get_axes()[0]
    assert ax.get_xlabel() == "DRAM bandwidth (GB/s)" and ax.get_ylabel() == "MAC lines"
    image = ax.get_images()[0].get_array()
    ok = sweep_table[sweep_table["status"] == "ok"]
    expected = ok.groupby(["hardware.mac_array.n_lines",
                           "hardware.dram.bandwidth_gb_per_s"])["latency_ms"].mean()
    assert image[0, 0] == pytest.approx(expected[(16, 25.6)])
    assert image[2, 1] == pytest.approx(expected[(64, 76.8)])
    assert len(ax.texts) == 9
    save(fig, tmp_path, "heatmap")
    with pytest.raises(VitsimError, match="unknown aggregate"):
        figures.plot_heatmap(sweep_table, "workload.sparsity", "total_macs", agg="sum")


def test_pareto_scatter(sweep_table, tmp_path: Path) -> None:
    fig = figures.plot_pareto(sweep_table)
    ax = fig.get_axes()[0]
    assert ax.get_xlabel() == "latency (ms)" and ax.get_ylabel() == "energy (mJ)"
    ok = sweep_table[sweep_table["status"] == "ok"]
    n_front = int(pareto_mask(ok).sum())
    assert ax.get_title().startswith(f"{n_front} Pareto-optimal of {len(ok)} points")
    save(fig, tmp_path, "pareto", ("png", "svg"))


def ratio_table() -> pd.DataFrame:
    """A sweep-shaped table with ratios over two baselines in two scopes."""
    rows = []
    for i, (lines, sp) in enumerate((n, s) for n in (16, 32, 64) for s in (0.8, 0.9)):
        row = {"point": i, "hardware.mac_array.n_lines": lines, "workload.sparsity": sp,
               "status": "ok", "latency_ms": 100.0 / lines}
        for base, f in (("xeon-gold-6230", 50.0), ("sanger", 1.5)):
            for scope, g in (("attention", 1.0), ("end_to_end", 0.3)):
                row[f"speedup_{base}_{scope}"] = f * g * lines / 32
                row[f"energy_efficiency_{base}_{scope}"] = 3 * f * g
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("x", ["hardware.mac_array.n_lines", None])
def test_sweep_speedup_and_energy_efficiency(x, tmp_path: Path) -> None:
    table = ratio_table()
    fig = figures.plot_sweep_ratios(table, x)
    top, bottom = fig.get_axes()
    assert top.get_ylabel().startswith("speedup") and bottom.get_ylabel().startswith("energy")
    if x is not None:  # one line per baseline and scope, end to end dashed
        lines = [ln for ln in top.get_lines() if ln.get_label() and
                 not ln.get_label().startswith("_")]
        assert {ln.get_label() for ln in lines} == {
            "xeon-gold-6230, attention", "xeon-gold-6230, end to end", "sanger, attention",
            "sanger, end to end"}
        dashed = {ln.get_label() for ln in lines if ln.get_linestyle() == "--"}
        assert dashed == {"xeon-gold-6230, end to end", "sanger, end to end"}
        sanger = next(ln for ln in lines if ln.get_label() == "sanger, attention")
        assert list(sanger.get_ydata()) == pytest.approx([0.75, 1.5, 3.0])
        assert [t.get_text() for t in top.get_xticklabels()] == ["16", "32", "64"]
    else:
        assert len(top.patches) == 4
    save(fig, tmp_path, f"ratios_{x is None}", formats=("png", "pdf"))
    with pytest.raises(VitsimError, match="needs speedup_<baseline>_<scope>"):
        figures.plot_sweep_ratios(table[["point", "status", "latency_ms"]])


def test_mask_before_and_after_polarization(trace, tmp_path: Path) -> None:
    from vitsim.analysis.figures.masks import plot_mask

    save(plot_mask(trace, 2, 0), tmp_path, "mask")


def test_saving_never_overwrites_silently(sweep_table, tmp_path: Path) -> None:
    fig = figures.plot_utilization(sweep_table)
    (first,) = figures.save_figure_as(fig, tmp_path, "p", formats=("png",), dpi=40)
    before = first.read_bytes()
    with pytest.raises(VitsimError, match="exists; choose another --out or pass --overwrite"):
        figures.save_figure_as(fig, tmp_path, "p", formats=("png",), dpi=40)
    assert first.read_bytes() == before
    (again,) = figures.save_figure_as(fig, tmp_path, "p", formats=("png",), overwrite=True,
                                      dpi=40)
    assert again.read_bytes() == before  # no date or version stamped in: same bytes
    with pytest.raises(VitsimError, match="unknown image format 'gif'"):
        figures.save_figure_as(fig, tmp_path, "p", formats=("gif",))


@pytest.mark.parametrize(("column", "text"), [
    ("hardware.dram.bandwidth_gb_per_s", "DRAM bandwidth (GB/s)"),
    ("hardware.mac_array.n_lines", "MAC lines"),
    ("hardware.buffers.q.size_kib", "q buffer size (KiB)"),
    ("qkv_buffer_kib", "Q/K/V buffer (KiB)"),
    ("workload.sparsity", "attention sparsity"),
    ("latency_ms", "latency (ms)"),
    ("edp_mj_ms", "energy-delay product (mJ·ms)"),
    ("energy_dram_mj", "DRAM energy (mJ)"),
    ("sparse_engine_utilization", "sparse engine utilization (%)"),
    ("hardware.allocation.policy", "allocation policy"),
    ("hardware.clock_mhz", "clock (MHz)"),
])
def test_labels_carry_units(column: str, text: str) -> None:
    assert figures.label(column) == text


def test_speedup_geomean_seeds_and_reference(tmp_path: Path) -> None:
    rows = [{"model": m, "baseline": b, "seed": s, "speedup": v * (1 + 0.1 * s),
             "energy_efficiency": 2 * v} for m, f in (("a", 1.0), ("b", 4.0))
            for b, v0 in (("cpu", 10.0), ("sanger", 2.0)) for s in (0, 1, 2)
            for v in [v0 * f]]
    fig = figures.plot_speedup(pd.DataFrame(rows), reference={"cpu": 50.0})
    ax = fig.get_axes()[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "geomean"]
    # the geometric mean of the models' (geometric) means over seeds
    heights = [p.get_height() for p in ax.patches]
    seeds = np.exp(np.log([1.0, 1.1, 1.2]).mean())
    assert heights[2] == pytest.approx(10.0 * 2.0 * seeds)
    from matplotlib.container import ErrorbarContainer

    assert any(isinstance(c, ErrorbarContainer) for c in ax.containers)  # across seeds
    marks = [line for line in ax.get_lines() if line.get_marker() == "D"]
    assert len(marks) == 1 and marks[0].get_ydata()[0] == 50.0
    assert fig.legends and not ax.get_legend()  # one legend, outside the axes
    save(fig, tmp_path, "speedup_seeds", formats=("png", "pdf"))


def test_paper_style_sizes_and_type42_fonts(tmp_path: Path) -> None:
    table = pd.DataFrame({"model": ["m1", "m2"] * 2, "baseline": ["x", "x", "y", "y"],
                          "speedup": [2.0, 3.0, 40.0, 50.0],
                          "energy_efficiency": [1.5, 2.0, 3.0, 4.0]})
    for width, inches in (("single", 3.5), ("double", 7.16)):
        with figures.paper_style(width):
            fig = figures.plot_speedup(table)
        assert fig.get_figwidth() == pytest.approx(inches)
    (pdf,) = figures.save_figure_as(fig, tmp_path, "fonts", formats=("pdf",))
    data = pdf.read_bytes()
    assert b"/FontType 3" not in data and b"/Type3" not in data
    assert b"/TrueType" in data or b"/CIDFontType2" in data  # Type 42 embeds TrueType


def test_log_ticks_label_more_than_decades() -> None:
    table = pd.DataFrame({"model": ["m1", "m2"], "baseline": ["x", "x"],
                          "speedup": [1.5, 30.0], "energy_efficiency": [1.5, 3.0]})
    fig = figures.plot_speedup(table)
    fig.canvas.draw() if hasattr(fig.canvas, "draw") else None
    ax = fig.get_axes()[0]
    lo, hi = ax.get_ylim()
    ticks = [t for t in ax.get_yticks() if lo <= t <= hi]
    assert len(ticks) >= 4  # 1, 2, 5, 10, 20, ... not only 1 and 10


@pytest.fixture(scope="module")
def run_frame():
    import vitsim

    r = vitsim.simulate("vitcod", model="deit-tiny", sparsity=0.9)
    return r.to_frame(), r.hardware


@pytest.mark.parametrize("kind", ["roofline", "layer_head", "timeline"])
def test_new_figures_draw(run_frame, kind: str, tmp_path: Path) -> None:
    frame, hw = run_frame
    with figures.paper_style("double"):
        if kind == "roofline":
            fig = figures.plot_roofline(frame, peak_macs_per_cycle=hw.total_macs,
                                        dram_bytes_per_cycle=hw.dram_bytes_per_cycle,
                                        clock_mhz=hw.clock_mhz)
            labels = {t for ax in fig.get_axes() for t in ax.get_legend_handles_labels()[1]}
            assert {"roofline", "qk", "sv", "fc1"} <= labels
        elif kind == "layer_head":
            fig = figures.plot_layer_head(frame, clock_mhz=hw.clock_mhz)
            assert fig.get_axes()[1].get_images()[0].get_array().shape == (3, 12)
        else:
            fig = figures.plot_block_timeline(frame, layer=0, total_macs=hw.total_macs,
                                              clock_mhz=hw.clock_mhz)
    assert fig.get_figwidth() == pytest.approx(7.16)
    save(fig, tmp_path, kind, formats=("png", "pdf", "svg"))


@pytest.mark.parametrize("style", ["double", None])
def test_legends_leave_the_axes_room(run_frame, style, tmp_path: Path) -> None:
    """The layer/head legend once sat beside the axes in four columns, which collapsed them
    (constrained layout warned "axes sizes collapsed to zero" and drew the axes a few pixels
    wide); a legend beside the axes is one column."""
    import contextlib
    import warnings

    frame, hw = run_frame
    with figures.paper_style(style) if style else contextlib.nullcontext():
        fig = figures.plot_layer_head(frame, clock_mhz=hw.clock_mhz, title="t")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save(fig, tmp_path, "layer_head")
    assert min(ax.get_position().width for ax in fig.get_axes()[:2]) > 0.6
    fig, axes = figures._figure(1)
    for j in range(6):
        axes[0].plot([0, 1], [j, j], label=f"a long legend entry number {j}")
    figures._legend_outside(fig, axes, where="outside right upper")
    assert fig.legends[0]._ncols == 1


def test_line_loads_figure_draws_every_line(tmp_path: Path) -> None:
    import warnings

    from vitsim.hw_configs.loader import load_hardware
    from vitsim.simulator.line_loads import sparse_line_loads
    from vitsim.workloads.model_spec import get_spec
    from vitsim.workloads.pipeline import trace_synthetic

    trace = trace_synthetic(get_spec("deit-base"), sparsity=0.9, seed=0)
    hw = load_hardware("vitcod")
    groups = sparse_line_loads(trace, hw, 6)
    with figures.paper_style("double"):
        fig = figures.plot_line_loads(groups, clock_mhz=hw.clock_mhz, title="t")
    top = fig.get_axes()[0]
    assert len(top.patches) == sum(g.sparse_lines for g in groups)  # one bar a line
    assert len(top.texts) == len(groups)  # each group's busiest-over-mean ratio
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save(fig, tmp_path, "line_loads", formats=("png", "pdf"))
    assert (tmp_path / "line_loads.png").stat().st_size > 5000
    with pytest.raises(VitsimError, match="no head groups"):
        figures.plot_line_loads([])
