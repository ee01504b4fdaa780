"""``vitsim report``: one self-contained HTML page for a run directory or a sweep directory."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from cli_runner import run

from vitsim.analysis.cli import main
from vitsim.analysis.figures.report import build_report, kind_of, write_report
from vitsim.analysis.sweeps.runner import run_sweep
from vitsim.analysis.sweeps.spec import load_sweep
from vitsim.errors import VitsimError

SWEEP = """\
name: report-test
description: a tiny sweep for the report <tests>
base:
  hardware: vitcod
  workload: {source: synthetic, model: deit-tiny, sparsity: 0.9, seed: 0}
  baselines: [xeon-gold-6230, sanger]
axes:
  hardware.dram.bandwidth_gb_per_s: [25.6, 76.8]
  hardware.mac_array.n_lines: [0, 32, 64]
constraints: ["hardware.total_macs <= 512"]
metrics: [latency_ms, energy_mj, mac_utilization, dense_engine_utilization,
          sparse_engine_utilization]
"""


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("report")
    spec = root / "sweep.yaml"
    spec.write_text(SWEEP, encoding="utf-8")
    run_sweep(load_sweep(spec), root / "sweep", runner="serial", progress=False)
    trace = root / "dt.npz"
    assert main(["trace", "--synthetic", "--model", "deit-tiny", "--sparsity", "0.9",
                 "--out", str(trace)]) == 0
    assert main(["simulate", "--hw", "vitcod", "--trace", str(trace), "--out",
                 str(root / "run")]) == 0
    return {"sweep": root / "sweep", "run": root / "run", "root": root}


def images(page: str) -> list[str]:
    return re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', page)


def rows_of(page: str, section: str, name: int = 0, value: int = 1) -> dict[str, str]:
    """The first table after heading ``section`` as {cell ``name``: cell ``value``} of each
    row (for a table of names and values, name -> value)."""
    table = page.split(f">{section}</h", 1)[1].split("</table>", 1)[0]
    out = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table):
        cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        if len(cells) > max(name, value):
            out[cells[name]] = cells[value]
    return out


def assert_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    outside = re.findall(r'(?:src|href)\s*=\s*"(?!data:)[^"]*"', page)
    assert outside == [], outside
    assert "<script" not in page and "<link" not in page


def test_kind_detection(dirs) -> None:
    assert kind_of(dirs["sweep"]) == "sweep" and kind_of(dirs["run"]) == "run"
    with pytest.raises(VitsimError, match="neither a sweep directory"):
        kind_of(dirs["root"])
    with pytest.raises(VitsimError, match="no such directory"):
        kind_of(dirs["root"] / "absent")


def test_run_report(dirs) -> None:
    page = build_report(dirs["run"])
    assert_self_contained(page)
    assert "<h1>vitsim run: deit-tiny on vitcod</h1>" in page
    for section in ("Totals", "By stage", "Energy by component", "Configuration",
                    "Hardware (resolved)", "Provenance"):
        assert f">{section}</h" in page, section
    assert "bandwidth_gb_per_s: 76.8" in page  # the resolved hardware description
    # breakdown, utilization, roofline, layer/head, block 0's timeline, and the mask of the
    # trace the run read
    assert len(images(page)) == 6
    for caption in ("Roofline: each stage", "attention latency (decoder, Q K^T",
                    "stages in execution order", "before and after polarization"):
        assert caption in page, caption
    # totals with their units and thousands separators; utilizations as percentages
    totals = rows_of(page, "Totals")
    assert re.fullmatch(r"\d\.\d{1,3} ms", totals["Latency"]), totals["Latency"]
    assert re.fullmatch(r"\d{1,3}(,\d{3})+", totals["Total cycles"]), totals["Total cycles"]
    assert re.fullmatch(r"\d{1,3}(,\d{3})+ bytes", totals["DRAM traffic"])
    assert re.fullmatch(r"\d{2}(\.\d)?%", totals["MAC utilization"]), totals["MAC utilization"]
    tables = "".join(re.findall(r"<table>.*?</table>", page.split("<h2>Configuration")[0]))
    assert not re.search(r"\de[+-]\d", tables)  # no exponent in the tables
    assert '<th class="num" title="latency_ms">Latency (ms)</th>' in page


def test_sweep_report(dirs) -> None:
    page = build_report(dirs["sweep"], where="total_macs <= 256")
    assert_self_contained(page)
    assert "<h1>vitsim sweep: report-test</h1>" in page
    assert "a tiny sweep for the report &lt;tests&gt;" in page  # escaped
    for section in ("Summary", "Axes", "Best points", "Best latency_ms where total_macs "
                    "&lt;= 256", "Pareto front", "Sensitivity", "Figures", "Failed points",
                    "Sweep spec", "Provenance"):
        assert f">{section}</h" in page, section
    assert "constraints: [&quot;hardware.total_macs &lt;= 512&quot;]" in page
    assert "xeon-gold-6230, sanger" in page  # the baselines
    assert "mac_array.n_lines: must be a positive integer, got 0" in page
    assert "2 of 4 successful points satisfy the condition." in page
    # pareto, heat map (two axes with two values each), utilization and the speedups over
    # the baselines; no sparsity axis
    assert len(images(page)) == 4
    assert "Speedup and energy efficiency over each baseline" in page
    # readable column labels (the dotted name as the header's tooltip), numbers right-aligned
    assert '<th class="num" title="hardware.dram.bandwidth_gb_per_s">DRAM bandwidth (GB/s)' \
        in page
    assert ">hardware.dram.bandwidth_gb_per_s</th>" not in page
    assert '<td class="num">25.6</td>' in page
    # the baselines' ratios: in the best points (the largest is best) and their own table
    assert ">Speedup over sanger, attention</td>" in page
    assert ">Speedup and energy efficiency</h2>" in page
    ratio = rows_of(page, "Speedup and energy efficiency", name=1, value=2)
    assert set(ratio) == {"attention", "end to end"}
    assert all(re.fullmatch(r"[\d.,]+×", v) for v in ratio.values()), ratio
    # utilizations as percentages
    best = rows_of(page, "Best points", value=2)
    assert re.fullmatch(r"\d{2}(\.\d)?%", best["MAC utilization"]), best
    # wide tables scroll inside their own box; text is left-aligned, numbers right-aligned
    assert ".table-wrap { max-width: 100%; overflow-x: auto;" in page
    assert "text-align: left" in page and "td.num { text-align: right" in page


def test_write_report_never_overwrites(dirs, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    write_report(dirs["sweep"], out)
    first = out.read_text(encoding="utf-8")
    with pytest.raises(VitsimError, match="exists; choose another --out or pass --overwrite"):
        write_report(dirs["sweep"], out)
    assert out.read_text(encoding="utf-8") == first
    write_report(dirs["sweep"], out, overwrite=True, metric="energy_mj")
    assert "the mean of energy (energy_mj)" in out.read_text(encoding="utf-8")


def test_report_cli(dirs, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run.html"
    rc, stdout, err = run(capsys, "report", dirs["run"], "--out", out)
    assert rc == 0, err
    assert stdout.strip() == str(out) and out.stat().st_size > 10_000
    rc, _, err = run(capsys, "report", dirs["run"], "--out", out)
    assert rc == 2 and err.strip().splitlines() == [
        f"vitsim: error: {out}: exists; choose another --out or pass --overwrite"]
    rc, _, err = run(capsys, "report", dirs["root"], "--out", tmp_path / "x.html")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "neither a sweep" in err
    assert not (tmp_path / "x.html").exists()
    rc, _, err = run(capsys, "report", dirs["run"], "--out", tmp_path / "y.html",
                     "--where", "latency_ms < 1")
    assert rc == 2 and "--metric and --where apply to sweep directories" in err
    rc, _, err = run(capsys, "report", dirs["sweep"], "--out", tmp_path / "z.html",
                     "--metric", "power")
    assert rc == 2 and "--metric: no metric 'power'" in err
    rc, _, err = run(capsys, "report", dirs["sweep"], "--out", tmp_path / "w.html",
                     "--where", "latency_ms <")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_plot_all_draws_the_baselines_ratios(dirs, tmp_path: Path, capsys) -> None:
    """A sweep with baselines: ``plot --kind all`` draws its speedup and energy efficiency."""
    rc, stdout, err = run(capsys, "plot", dirs["sweep"], "--kind", "all", "--out",
                          tmp_path / "f", "--format", "png")
    assert rc == 0, err
    assert sorted(Path(p).name for p in stdout.split()) == [
        "heatmap.png", "pareto.png", "speedup.png", "utilization.png"]
    rc, stdout, err = run(capsys, "plot", dirs["sweep"], "--kind", "speedup", "--out",
                          tmp_path / "g", "--format", "png", "--x", "hardware.mac_array.n_lines")
    assert rc == 0 and stdout.split() == [str(tmp_path / "g" / "speedup.png")], err
