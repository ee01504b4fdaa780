"""``vitsim report``: one self-contained HTML page for a run directory or a sweep directory."""

from __future__ import annotations

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
    for section in ("Totals", "By stage", "Energy by component (mJ)", "Configuration",
                    "Hardware (resolved)", "Provenance"):
        assert f">{section}</h" in page, section
    assert "bandwidth_gb_per_s: 76.8" in page  # the resolved hardware description
    assert "latency (ms)" in page
    # breakdown, utilization, and the mask of the trace the run read
    assert len(images(page)) == 3
    assert "before and after polarization" in page


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
    # pareto, heat map (two axes with two values each) and utilization; no sparsity axis
    assert len(images(page)) == 3


def test_write_report_never_overwrites(dirs, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    write_report(dirs["sweep"], out)
    first = out.read_text(encoding="utf-8")
    with pytest.raises(VitsimError, match="exists; choose another --out or pass --overwrite"):
        write_report(dirs["sweep"], out)
    assert out.read_text(encoding="utf-8") == first
    write_report(dirs["sweep"], out, overwrite=True, metric="energy_mj")
    assert "the mean of energy_mj" in out.read_text(encoding="utf-8")


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
