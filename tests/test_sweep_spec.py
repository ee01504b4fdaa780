"""Sweep specs: strict validation (every problem at once, with the file and key path),
expansion of grid / zip / random, constraints, and impossible points kept as failures."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from vitsim.analysis.sweeps.spec import (
    DEFAULT_METRICS,
    expand_sweep,
    known_metrics,
    load_sweep,
    shipped_sweeps,
)
from vitsim.errors import ConfigError

BASE = """\
base:
  hardware: vitcod
  workload: {source: synthetic, model: deit-tiny, sparsity: 0.9, seed: 0}
"""


def write(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    return info.value


# ----------------------------------------------------------------------------- validation


def test_minimal_spec_defaults(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, BASE))
    assert spec.name == "sweep"  # the file's stem
    assert spec.combine == "grid" and spec.axes == () and spec.constraints == ()
    assert spec.metrics == DEFAULT_METRICS
    assert spec.workload == {"source": "synthetic", "model": "deit-tiny", "sparsity": 0.9,
                             "seed": 0}
    assert len(expand_sweep(spec).points) == 1


def test_every_problem_at_once_in_one_line_with_file_and_key_paths(tmp_path: Path) -> None:
    path = write(tmp_path, textwrap.dedent("""\
        name: bad
        combin: grid
        base:
          hardware: vitcod
          hardware_overrides: {dram.bandwith_gb_per_s: 10}
          workload: {model: deit-tiny, sparsity: 1.5, sed: 0}
        axes:
          hardware.mac_array.n_lnes: [32, 64]
          workload.model: [deit-tiny, deit-huge]
        metrics: [latency_ms, latency_msec]
        """))
    err = problems_of(path)
    line = err.one_line()
    assert "\n" not in line
    expected = [
        f"{path}: combin: unknown key; allowed: base, name, description, axes, combine, "
        "samples, seed, constraints, metrics",
        f"{path}: base.hardware_overrides.dram.bandwith_gb_per_s: unknown key "
        "'bandwith_gb_per_s'; allowed: bandwidth_gb_per_s, kind",
        f"{path}: base.workload.sed: unknown key; allowed: source, model, sparsity, seed",
        f"{path}: base.workload.sparsity: must be a number in [0, 1), got 1.5",
        f"{path}: axes.hardware.mac_array.n_lnes: unknown key 'n_lnes'; allowed: n_lines, "
        "macs_per_line",
        f"{path}: axes.workload.model[1]: unknown model 'deit-huge'",
        f"{path}: metrics[1]: unknown metric 'latency_msec'; known: ",
    ]
    for piece in expected:
        assert piece in line, (piece, line)
    assert len(err.problems) == len(expected)


def test_duplicate_key_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "axes:\n  workload.sparsity: [0.8]\n"
                                  "  workload.sparsity: [0.9]\n")
    assert problems_of(path).one_line() == \
        f"{path}: workload.sparsity: duplicate key (line 6)"


@pytest.mark.parametrize(("extra", "message"), [
    ("axes:\n  dram.bandwidth_gb_per_s: [1]\n",
     "axes.dram.bandwidth_gb_per_s: an axis path starts with hardware. or workload. "
     "(hardware.dram.bandwidth_gb_per_s?)"),
    ("axes:\n  hardware.dram: [1]\n",
     "axes.hardware.dram: is a section; name one of its keys: bandwidth_gb_per_s, kind"),
    ("axes:\n  hardware.dram.kind.x: [1]\n",
     "axes.hardware.dram.kind.x: dram.kind is a value, not a section"),
    ("axes:\n  hardware.clock_mhz: []\n",
     "axes.hardware.clock_mhz: expected a non-empty list of values, got []"),
    ("axes:\n  hardware.clock_mhz: [100, 100]\n",
     "axes.hardware.clock_mhz: duplicate value 100"),
    ("axes:\n  hardware.clock_mhz: [[1, 2]]\n",
     "axes.hardware.clock_mhz: values must be single values"),
    ("axes:\n  hardware.clock_mhz: {low: 100, high: 500}\n",
     "axes.hardware.clock_mhz: a range without steps needs combine: random"),
    ("axes:\n  hardware.clock_mhz: {low: 500, high: 100, steps: 3}\n",
     "axes.hardware.clock_mhz: low must be below high"),
    ("axes:\n  hardware.clock_mhz: {values: [1], scale: log}\n",
     "axes.hardware.clock_mhz.scale: only allowed with low/high"),
    ("combine: random\nsamples: 2\naxes:\n  hardware.clock_mhz: {low: 1, high: 2, "
     "significant: 0}\n",
     "axes.hardware.clock_mhz.significant: expected an integer in [1, 15], got 0"),
    ("axes:\n  buf: [1, 2]\n", "axes.buf: a named axis needs set:"),
    ("axes:\n  buf: {values: [1, 2], set: [hardware.buffers.q.size]}\n",
     "axes.buf.set.hardware.buffers.q.size: unknown key 'size'; allowed: size_kib"),
    ("axes:\n  buf: {values: [a], set: {hardware.buffers.q.size_kib: 2}}\n",
     "axes.buf: values must be numbers when set gives factors"),
    ("axes:\n  hardware.clock_mhz: {values: [1], set: [hardware.data_bits]}\n",
     "axes.hardware.clock_mhz.set: a dotted-path axis sets itself"),
    ("axes:\n  hardware.clock_mhz: [1]\n  b: {values: [2], set: [hardware.clock_mhz]}\n",
     "axes.b: hardware.clock_mhz is also set by axis hardware.clock_mhz"),
    ("axes:\n  workload.seed: [-1]\n",
     "axes.workload.seed[0]: expected a non-negative integer, got -1"),
    ("axes:\n  workload.trace: [missing.npz]\n", "axes.workload.trace[0]: no such file: "),
    ("combine: zip\naxes:\n  hardware.clock_mhz: [1, 2]\n  workload.seed: [1]\n",
     "axes: combine: zip needs axes of equal length; got hardware.clock_mhz: 2, "
     "workload.seed: 1"),
    ("combine: random\naxes:\n  hardware.clock_mhz: [1, 2]\n",
     "samples: combine: random needs samples, a positive integer; got None"),
    ("combine: random\nsamples: 5\naxes:\n  hardware.clock_mhz: [1, 2]\n",
     "samples: 5 exceeds the 2 distinct points of the axes' values"),
    ("samples: 5\n", "samples: only allowed with combine: random"),
    ("combine: cartesian\n", "combine: 'cartesian' is not one of: grid, zip, random"),
    ("constraints: ['hardware.total_macs <=']\n",
     "constraints[0]: expected a number, string, name or '(', found end of expression"),
    ("constraints: ['hardware.totl_macs < 2']\n",
     "constraints[0]: hardware.totl_macs: unknown key 'totl_macs'; allowed: name,"),
    ("constraints: ['latency_ms < 2']\n",
     "constraints[0]: latency_ms: unknown name; a constraint reads hardware.<path>, "
     "workload.<key> or one of: total_macs, sram_bytes"),
    ("metrics: [latency_ms, latency_ms]\n", "metrics[1]: duplicate metric 'latency_ms'"),
])
def test_one_problem(tmp_path: Path, extra: str, message: str) -> None:
    path = write(tmp_path, BASE + extra)
    line = problems_of(path).one_line()
    assert f"{path}: {message}" in line, line


def test_base_problems(tmp_path: Path) -> None:
    path = write(tmp_path, textwrap.dedent("""\
        base:
          hardware: no-such-preset
          workload: {source: synthetic, model: deit-tiny}
          baselines: cpu
        """))
    line = problems_of(path).one_line()
    assert f"{path}: base.hardware: no-such-preset: unknown hardware preset" in line
    assert f"{path}: base.baselines: expected a list of names, got 'cpu'" in line
    empty = write(tmp_path, "", name="empty.yaml")
    assert problems_of(empty).one_line() == \
        f"{empty}: empty document; expected a sweep spec mapping"


def test_missing_file_and_unknown_shipped_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_sweep(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="no such sweep file or shipped sweep; shipped: "):
        load_sweep("no-such-sweep")


def test_relative_paths_follow_the_spec_file(tmp_path: Path) -> None:
    from vitsim.hw_configs.loader import dump_hardware, load_hardware

    (tmp_path / "hw").mkdir()
    (tmp_path / "hw" / "mine.yaml").write_text(dump_hardware(load_hardware("vitcod")))
    path = write(tmp_path, BASE.replace("hardware: vitcod", "hardware: hw/mine.yaml"))
    spec = load_sweep(path)
    assert spec.hardware == str(tmp_path / "hw" / "mine.yaml")
    assert spec.base_hardware == load_hardware("vitcod")


# ----------------------------------------------------------------------------- expansion


def test_grid_zip_random_counts(tmp_path: Path) -> None:
    axes = ("axes:\n  hardware.dram.bandwidth_gb_per_s: [25.6, 76.8, 153.6]\n"
            "  hardware.mac_array.n_lines: [16, 32, 64]\n")
    grid = expand_sweep(load_sweep(write(tmp_path, BASE + axes, "g.yaml")))
    assert len(grid.points) == 9 and grid.n_candidates == 9 and grid.n_dropped == 0
    # Grid order: the first axis varies slowest.
    assert [p.values for p in grid.points[:4]] == [(25.6, 16), (25.6, 32), (25.6, 64),
                                                    (76.8, 16)]
    zipped = expand_sweep(load_sweep(write(tmp_path, BASE + "combine: zip\n" + axes, "z.yaml")))
    assert [p.values for p in zipped.points] == [(25.6, 16), (76.8, 32), (153.6, 64)]
    rand_text = BASE + "combine: random\nsamples: 7\nseed: 3\n" + axes
    rand = expand_sweep(load_sweep(write(tmp_path, rand_text, "r.yaml")))
    assert len(rand.points) == 7
    assert len({p.values for p in rand.points}) == 7  # distinct grid points
    again = expand_sweep(load_sweep(write(tmp_path, rand_text, "r2.yaml")))
    assert [p.values for p in again.points] == [p.values for p in rand.points]
    other = expand_sweep(load_sweep(write(tmp_path, rand_text.replace("seed: 3", "seed: 4"),
                                          "r3.yaml")))
    assert [p.values for p in other.points] != [p.values for p in rand.points]


def test_random_ranges_and_steps(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, BASE + textwrap.dedent("""\
        combine: random
        samples: 50
        axes:
          hardware.dram.bandwidth_gb_per_s: {low: 10, high: 1000, scale: log, significant: 3}
          hardware.mac_array.n_lines: {low: 8, high: 64, integer: true}
          workload.sparsity: {low: 0.5, high: 0.9, steps: 5}
        """)))
    assert spec.axes[2].values == (0.5, 0.6, 0.7, 0.8, 0.9)
    points = expand_sweep(spec).points
    assert len(points) == 50
    bw = [p.values[0] for p in points]
    lines = [p.values[1] for p in points]
    assert all(10 <= b <= 1000 for b in bw) and min(bw) < 100 < max(bw)
    assert all(float(f"{b:.3g}") == b for b in bw)
    assert all(isinstance(n, int) and 8 <= n <= 64 for n in lines)
    assert {p.values[2] for p in points} <= {0.5, 0.6, 0.7, 0.8, 0.9}
    assert all(p.hardware.dram.bandwidth_gb_per_s == p.values[0] for p in points)


def test_named_axis_sets_several_fields_with_factors(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, BASE + textwrap.dedent("""\
        axes:
          qkv_kib:
            values: [26.5, 106]
            set: {hardware.buffers.q.size_kib: 1, hardware.buffers.k.size_kib: 1,
                  hardware.buffers.activation.size_kib: 3}
        """)))
    points = expand_sweep(spec).points
    assert [p.values for p in points] == [(26.5,), (106,)]
    hw = points[1].hardware
    assert (hw.buffers.q.size_kib, hw.buffers.k.size_kib, hw.buffers.activation.size_kib) == \
        (106.0, 106.0, 318.0)
    assert hw.buffers.v.size_kib == 53.0  # untouched
    assert points[0].key != points[1].key


def test_constraints_drop_points(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, BASE + textwrap.dedent("""\
        axes:
          hardware.mac_array.n_lines: [16, 32, 64, 128]
          workload.sparsity: [0.8, 0.9]
          bw: {values: [25.6, 76.8], set: [hardware.dram.bandwidth_gb_per_s]}
        constraints:
          - hardware.total_macs <= 512
          - not (workload.sparsity == 0.8 and bw > 50)
          - sram_bytes > 0 and hardware.allocation.policy == "proportional"
        """)))
    e = expand_sweep(spec)
    assert e.n_candidates == 16
    kept = {p.values for p in e.points}
    assert kept == {(n, s, b) for n in (16, 32, 64) for s in (0.8, 0.9) for b in (25.6, 76.8)
                    if not (s == 0.8 and b == 76.8)}
    assert e.n_dropped == 16 - 9
    assert [p.index for p in e.points][:3] == [0, 2, 3]  # the combination's number


def test_constraint_evaluation_error_is_a_spec_error(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "constraints: ['workload.model > 3']\n")
    with pytest.raises(ConfigError, match=r"constraints: cannot order string 'deit-tiny'"):
        expand_sweep(load_sweep(path))


def test_impossible_points_are_failed_not_fatal(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, BASE + textwrap.dedent("""\
        axes:
          hardware.mac_array.n_lines: [0, 64]
          hardware.allocation.policy: [proportional, sideways]
        """)))
    points = expand_sweep(spec).points
    assert len(points) == 4
    by_values = {p.values: p for p in points}
    ok = by_values[(64, "proportional")]
    assert ok.ok and ok.hardware.mac_array.n_lines == 64
    bad = by_values[(0, "proportional")]
    assert not bad.ok and bad.hardware is None
    assert "mac_array.n_lines: must be a positive integer, got 0" in bad.error
    assert "\n" not in bad.error
    assert "'sideways' is not one of: static, proportional, search" in \
        by_values[(64, "sideways")].error
    assert len({p.key for p in points}) == 4


def test_workload_source_mismatch_is_a_failed_point(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, BASE + "axes:\n  workload.source: [synthetic, mask]\n"))
    points = expand_sweep(spec).points
    assert points[0].ok
    assert points[1].error == "workload: source mask needs mask"


def test_point_keys_depend_on_resolved_values_only(tmp_path: Path) -> None:
    # The same design reached two ways (an axis value equal to the preset's) has one key.
    spec = load_sweep(write(tmp_path, BASE + "axes:\n  hardware.clock_mhz: [500, 500.0001]\n"))
    a = expand_sweep(spec).points
    base = expand_sweep(load_sweep(write(tmp_path, BASE, "b.yaml"))).points
    assert a[0].key == base[0].key
    assert a[1].key != a[0].key
    assert expand_sweep(spec).digest() == expand_sweep(spec).digest()


@pytest.mark.parametrize("name", shipped_sweeps())
def test_every_shipped_sweep_expands(name: str) -> None:
    expansion = expand_sweep(load_sweep(name))
    assert expansion.points and all(p.ok for p in expansion.points)
    assert len({p.key for p in expansion.points}) == len(expansion.points)


def test_shipped_sweeps_load_and_expand() -> None:
    assert {"quick", "deit_base_1000", "random_deit_small"} <= set(shipped_sweeps())
    big = load_sweep("deit_base_1000")
    assert big.workload["model"] == "deit-base"
    assert [len(a.values) for a in big.axes] == [5, 5, 4, 5, 2]
    assert all(m in known_metrics() for m in big.metrics)
    quick = expand_sweep(load_sweep("quick"))
    assert len(quick.points) == 12 and quick.n_dropped == 6
    assert all(p.ok for p in quick.points)


def test_unknown_baseline_names_its_index(tmp_path: Path) -> None:
    path = write(tmp_path, textwrap.dedent("""\
        base:
          hardware: vitcod
          workload: {source: synthetic, model: deit-tiny}
          baselines: [sanger, tpu-v9]
        """))
    line = problems_of(path).one_line()
    assert f"{path}: base.baselines[1]: unknown baseline 'tpu-v9'" in line
