"""``vitsim sweep`` and ``vitsim plot`` through ``main([...])``: one-line errors with exit
status 2, nothing overwritten, and the happy paths."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from cli_runner import run

SPEC = """\
name: cli
base:
  hardware: vitcod
  workload: {source: synthetic, model: deit-tiny, sparsity: 0.9, seed: 0}
axes:
  hardware.dram.bandwidth_gb_per_s: [25.6, 76.8]
  workload.sparsity: [0.8, 0.9]
metrics: [latency_ms, energy_mj, mac_utilization]
"""


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> tuple[Path, Path]:
    """(spec, sweep directory) of SPEC, run once through the CLI."""
    import contextlib
    import io

    from vitsim.analysis.cli import main

    root = tmp_path_factory.mktemp("cli")
    spec = root / "cli.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["sweep", str(spec), "--out", str(root / "s"), "--serial", "--no-progress"])
    assert rc == 0
    assert "cli: 4 points (0 dropped by constraints); simulated 4 in" in out.getvalue()
    return spec, root / "s"


def test_bad_spec_is_one_line_with_file_and_key_path(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.replace("bandwidth_gb_per_s", "bandwith").replace(
        "metrics: [latency_ms", "metrics: [latncy"), encoding="utf-8")
    rc, out, err = run(capsys, "sweep", bad, "--out", tmp_path / "o", "--serial")
    assert rc == 2 and out == ""
    line = one_line(err)
    assert line.startswith(f"vitsim: error: {bad}: axes.hardware.dram.bandwith: unknown key "
                           "'bandwith'; allowed: bandwidth_gb_per_s, kind; ")
    assert f"{bad}: metrics[0]: unknown metric 'latncy'" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("text", "message"), [
    ("name: x\n", "base: missing required key"),
    ("base: [1]\n", "base: expected a mapping, got list"),
    ("base:\n  hardware: vitcod\n  hardware: vitcod\n", "hardware: duplicate key (line 3)"),
    ("base: {hardware: vitcod\n", "malformed YAML"),
])
def test_more_bad_specs(tmp_path: Path, capsys, text: str, message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    rc, _, err = run(capsys, "sweep", bad, "--out", tmp_path / "o")
    assert rc == 2
    line = one_line(err)
    assert line.startswith(f"vitsim: error: {bad}: ") and message in line, line


def test_missing_spec_and_bad_options(tmp_path: Path, capsys) -> None:
    rc, _, err = run(capsys, "sweep", tmp_path / "absent.yaml")
    assert rc == 2 and one_line(err) == f"vitsim: error: {tmp_path / 'absent.yaml'}: no such " \
                                        "file"
    rc, _, err = run(capsys, "sweep", "quick", "--serial", "--workers", "2")
    assert rc == 2 and "--workers: applies to local processes only" in one_line(err)
    rc, _, err = run(capsys, "sweep", "quick", "--serial", "--dask-local", "2")
    assert rc == 2 and "not allowed with argument" in one_line(err)
    rc, _, err = run(capsys, "sweep", "quick", "--workers", "0")
    assert rc == 2 and "must be >= 1" in one_line(err)


def test_sweep_directory_is_never_overwritten_and_resumes(swept, capsys) -> None:
    spec, out = swept
    before = (out / "results.parquet").read_bytes()
    rc, _, err = run(capsys, "sweep", spec, "--out", out, "--serial")
    assert rc == 2
    assert one_line(err) == f"vitsim: error: {out}: holds a sweep already; add --resume to " \
                            "continue it, or choose another --out"
    assert (out / "results.parquet").read_bytes() == before
    rc, stdout, err = run(capsys, "sweep", spec, "--out", out, "--resume", "--no-progress")
    assert rc == 0, err
    assert "simulated 0 in" in stdout and "4 already done" in stdout
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"),
                                  pd.read_parquet(io.BytesIO(before)))


def test_limit_then_resume(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    rc, stdout, err = run(capsys, "sweep", spec, "--out", tmp_path / "o", "--serial",
                          "--limit", "1")
    assert rc == 0, err
    assert "stopped before the end; continue with:" in stdout and "--resume" in stdout
    assert "[" in err and "1/1" in err  # the progress bar, on stderr
    rc, stdout, _ = run(capsys, "sweep", spec, "--out", tmp_path / "o", "--serial",
                        "--resume", "--no-progress")
    assert rc == 0 and "simulated 3 in" in stdout and "0 failed; results:" in stdout


def test_plot_all_from_a_sweep(swept, tmp_path: Path, capsys) -> None:
    _, out = swept
    figs = tmp_path / "figs"
    rc, stdout, err = run(capsys, "plot", out, "--kind", "all", "--out", figs, "--format",
                          "png")
    assert rc == 0, err
    written = sorted(Path(p).name for p in stdout.split())
    assert written == ["heatmap.png", "pareto.png", "sparsity.png", "utilization.png"]
    rc, _, err = run(capsys, "plot", out, "--kind", "pareto", "--out", figs, "--format",
                     "png")
    assert rc == 2 and "pareto.png: exists; choose another --out or pass --overwrite" in \
        one_line(err)
    rc, stdout, err = run(capsys, "plot", out / "results.parquet", "--kind", "heatmap",
                          "--out", figs, "--x", "workload.sparsity",
                          "--y", "hardware.dram.bandwidth_gb_per_s", "--metric", "energy_mj",
                          "--format", "svg", "--where", "workload.sparsity > 0")
    assert rc == 0, err
    assert stdout.split() == [str(figs / "heatmap.svg")]
    rc, _, err = run(capsys, "plot", out, "--kind", "speedup", "--out", figs)
    assert rc == 2 and "--kind speedup: does not apply to" in one_line(err)
    rc, _, err = run(capsys, "plot", out, "--kind", "pareto", "--out", figs, "--format", "gif")
    assert rc == 2 and "expected a comma-separated list of png, pdf, svg" in one_line(err)


def test_plot_speedup_table_runs_and_mask(tmp_path: Path, capsys) -> None:
    table = tmp_path / "speedup.csv"
    pd.DataFrame({"model": ["deit-tiny"] * 4, "baseline": ["cpu", "cpu", "sanger", "sanger"],
                  "scope": ["attention", "end_to_end"] * 2, "speedup": [100.0, 50.0, 7, 3],
                  "energy_efficiency": [900.0, 400.0, 4, 2]}).to_csv(table, index=False)
    rc, _, err = run(capsys, "plot", table, "--kind", "speedup", "--out", tmp_path / "f")
    assert rc == 2 and "rows differ in: scope" in one_line(err)
    rc, stdout, err = run(capsys, "plot", table, "--kind", "speedup", "--out", tmp_path / "f",
                          "--where", 'scope == "end_to_end"', "--format", "png,svg")
    assert rc == 0, err
    assert sorted(Path(p).name for p in stdout.split()) == ["speedup.png", "speedup.svg"]

    trace = tmp_path / "t.npz"
    assert run(capsys, "trace", "--synthetic", "--model", "deit-tiny", "--sparsity", "0.9",
               "--out", trace)[0] == 0
    runs = []
    for name, bw in (("slow", "25.6"), ("fast", "153.6")):
        runs.append(tmp_path / name)
        rc, _, err = run(capsys, "simulate", "--hw", "vitcod", "--trace", trace, "--set",
                         f"dram.bandwidth_gb_per_s={bw}", "--out", runs[-1])
        assert rc == 0, err
    rc, stdout, err = run(capsys, "plot", *runs, "--kind", "breakdown", "--out",
                          tmp_path / "f", "--format", "png")
    assert rc == 0 and stdout.split() == [str(tmp_path / "f" / "breakdown.png")], err
    rc, stdout, err = run(capsys, "plot", runs[0], "--kind", "all", "--out", tmp_path / "g",
                          "--format", "png")
    assert rc == 0, err
    assert sorted(Path(p).name for p in stdout.split()) == [
        "breakdown.png", "layers_heads.png", "roofline.png", "timeline.png", "utilization.png"]
    rc, stdout, err = run(capsys, "plot", runs[0] / "stages.csv", "--kind", "all", "--out",
                          tmp_path / "s", "--format", "png")
    assert rc == 0 and stdout.split() == [str(tmp_path / "s" / "breakdown.png")], err
    rc, _, err = run(capsys, "plot", runs[0] / "stages.csv", "--kind", "roofline", "--out",
                     tmp_path / "s")
    assert rc == 2 and "--kind roofline: does not apply to" in one_line(err)
    rc, stdout, err = run(capsys, "plot", trace, "--kind", "mask", "--layer", "1", "--head",
                          "2", "--out", tmp_path / "g", "--format", "png")
    assert rc == 0 and stdout.split() == [str(tmp_path / "g" / "mask.png")], err
    rc, _, err = run(capsys, "plot", trace, "--kind", "mask", "--out", tmp_path / "g")
    assert rc == 2 and "needs --layer and --head" in one_line(err)
    rc, _, err = run(capsys, "plot", trace, runs[0], "--kind", "all", "--out", tmp_path / "h")
    assert rc == 2 and "give one sweep, table or trace, or several runs" in one_line(err)
