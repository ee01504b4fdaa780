"""The bad-input corpus: malformed inputs of every kind, across every command. Each case must
end with exit status 2, one line on stderr naming the file or flag (and the field where there
is one), no traceback, and no file created or changed anywhere in the working folder."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run

TINY_MODEL = "name: tiny\nfamily: vit\nembed_dim: 32\ndepth: 2\nn_heads: 2\nimage_size: 32\n"
LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10))
HW_BASE = "vitcod"


def _sweep_text(model: Path, axes: str, extra: str = "") -> str:
    return (f"name: s\nbase:\n  hardware: vitcod\n  workload: {{source: synthetic, model: "
            f"{model}, sparsity: 0.5}}\naxes:\n{axes}{extra}metrics: [latency_ms]\n")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A folder of bad (and a few good) inputs, made once."""
    root = tmp_path_factory.mktemp("corpus")
    w = root.joinpath
    model = w("tiny.yaml")
    model.write_text(TINY_MODEL, encoding="utf-8")
    good_hw = (Path(__file__).resolve().parents[1] / "hw_configs" / "presets" / "accelerators"
               / "vitcod.yaml").read_text(encoding="utf-8")
    hw = {
        "unknown_key": good_hw.replace("n_lines:", "n_lnes:", 1),
        "duplicate_key": good_hw.replace("n_lines:", "n_lines: 64\n  n_lines:", 1),
        "malformed": "mac_array: [1, 2\n",
        "lines_1e9": good_hw.replace("n_lines: 64", "n_lines: 1000000000", 1),
        "lines_1e30": good_hw.replace("n_lines: 64", "n_lines: " + "1" + "0" * 30, 1),
        "laughs": LAUGHS,
        "list_key": "? [a, b]\n: 1\n",
        "recursive": "a: &a [*a]\n",
        "empty": "",
        "a_list": "- 1\n- 2\n",
        "negative_bw": good_hw.replace("bandwidth_gb_per_s: 76.8", "bandwidth_gb_per_s: -1", 1),
        "clock_1e9": good_hw.replace("clock_mhz: 500", "clock_mhz: 1.0e+9", 1),
        "bits_128": good_hw.replace("data_bits: 8", "data_bits: 128", 1),
    }
    for name, text in hw.items():
        w(f"hw_{name}.yaml").write_text(text, encoding="utf-8")
    w("hw_binary.yaml").write_bytes(b"\xff\xfe\x00garbage")
    assert "n_lines: 64" in good_hw and "clock_mhz: 500" in good_hw
    assert "bandwidth_gb_per_s: 76.8" in good_hw and "data_bits: 8" in good_hw
    # masks for the tiny model: [2 blocks, 2 heads, 5, 5]
    ok_mask = np.ones((2, 2, 5, 5), dtype=bool)
    np.save(w("mask_ok.npy"), ok_mask)
    w("mask_truncated.npy").write_bytes(w("mask_ok.npy").read_bytes()[:60])
    w("mask_text.npy").write_text("not a mask", encoding="utf-8")
    np.save(w("mask_rank3.npy"), ok_mask[0])
    np.save(w("mask_probs.npy"), np.full((2, 2, 5, 5), 0.5))
    np.save(w("mask_wrong_heads.npy"), np.ones((2, 3, 5, 5), dtype=bool))
    # traces: a good one, then damaged copies
    assert run_quiet("trace", "--mask", w("mask_ok.npy"), "--model", model, "--convention",
                     "kept", "--out", w("trace_ok.npz")) == 0
    with np.load(w("trace_ok.npz")) as npz:
        arrays = {k: npz[k] for k in npz.files}
    np.savez(w("trace_float_perm.npz"), **{**arrays, "perm": arrays["perm"].astype(float)})
    np.savez(w("trace_2d.npz"), **{**arrays, "n_q": arrays["n_q"][None, :]})
    np.savez(w("trace_no_meta.npz"), **{k: v for k, v in arrays.items() if k != "__meta__"})
    w("trace_truncated.npz").write_bytes(w("trace_ok.npz").read_bytes()[:200])
    w("trace_text.npz").write_text("hello", encoding="utf-8")
    # model specs
    specs = {
        "deep": TINY_MODEL.replace("depth: 2", "depth: 1000000000"),
        "family": TINY_MODEL.replace("family: vit", "family: bert"),
        "laughs": LAUGHS,
        "indivisible": TINY_MODEL.replace("n_heads: 2", "n_heads: 3"),
        "huge_image": TINY_MODEL.replace("image_size: 32", "image_size: 320000"),
    }
    for name, text in specs.items():
        w(f"model_{name}.yaml").write_text(text, encoding="utf-8")
    # sweep specs
    nine = "".join(f"  hardware.{p}: [{', '.join(str(v) for v in range(1, 11))}]\n" for p in (
        "dram.bandwidth_gb_per_s", "clock_mhz", "mac_array.n_lines", "mac_array.macs_per_line",
        "buffers.q.size_kib", "buffers.k.size_kib", "buffers.v.size_kib",
        "buffers.output.size_kib", "buffers.index.size_kib"))
    one = "  hardware.mac_array.n_lines: [32, 64]\n"
    sweeps = {
        "grid_1e9": _sweep_text(model, nine),
        "random_1e9": _sweep_text(model, "  hardware.dram.bandwidth_gb_per_s: {low: 1, high: "
                                         "100}\n", "combine: random\nsamples: 1000000000\n"),
        "steps_1e9": _sweep_text(model, "  hardware.dram.bandwidth_gb_per_s: {low: 1, high: "
                                        "100, steps: 1000000000}\n"),
        "unknown_key": _sweep_text(model, one, "combin: grid\n"),
        "laughs": LAUGHS,
        "list_key": _sweep_text(model, one, "? [x]\n: 1\n"),
        "zip_unequal": _sweep_text(model, one + "  workload.sparsity: [0.5]\n",
                                   "combine: zip\n"),
        "bad_constraint": _sweep_text(model, one, "constraints: ['total_macs <<= 3']\n"),
        "unknown_metric": _sweep_text(model, one).replace("[latency_ms]", "[latency_s]"),
        "bad_path": _sweep_text(model, "  hardware.mac_array.n_lnes: [1, 2]\n"),
        "ok": _sweep_text(model, one),
    }
    for name, text in sweeps.items():
        w(f"sweep_{name}.yaml").write_text(text, encoding="utf-8")
    # a finished sweep, and damaged copies of it
    assert run_quiet("sweep", w("sweep_ok.yaml"), "--out", w("sw_ok"), "--serial",
                     "--no-progress") == 0
    for name in ("sw_damaged_results", "sw_damaged_manifest", "sw_unfinished"):
        shutil.copytree(w("sw_ok"), w(name))
    results = next(w("sw_damaged_results").glob("results.*"))
    results.write_bytes(results.read_bytes()[:50])
    w("sw_damaged_manifest", "sweep.json").write_text("{not json", encoding="utf-8")
    next(w("sw_unfinished").glob("results.*")).unlink()
    # a run directory, and damaged copies
    assert run_quiet("simulate", "--hw", "vitcod", "--trace", w("trace_ok.npz"), "--out",
                     w("run_ok")) == 0
    shutil.copytree(w("run_ok"), w("run_bad_summary"))
    w("run_bad_summary", "summary.json").write_text("{oops", encoding="utf-8")
    shutil.copytree(w("run_ok"), w("run_bad_hw"))
    w("run_bad_hw", "hardware.yaml").write_text(LAUGHS, encoding="utf-8")
    w("existing.npz").write_bytes(b"keep me")
    w("existing.html").write_text("keep me", encoding="utf-8")
    w("a_file").write_text("x", encoding="utf-8")
    w("nonempty").mkdir()
    w("nonempty", "keep.txt").write_text("x", encoding="utf-8")
    return root


def run_quiet(*argv) -> int:
    from vitsim.analysis.cli import main

    return main([str(a) for a in argv])


SIM = ("simulate", "--model", "deit-tiny", "--sparsity", "0.9")


def _hw(name: str) -> tuple:
    return (*SIM, "--hw", f"{{d}}/hw_{name}.yaml")


# (case id, argv with {d} for the corpus folder, fragments the error line must contain)
CASES: list[tuple[str, tuple, tuple[str, ...]]] = [
    # hardware YAML
    ("hw-unknown-key", _hw("unknown_key"), ("hw_unknown_key.yaml", "mac_array.n_lnes",
                                            "unknown key")),
    ("hw-duplicate-key", _hw("duplicate_key"), ("hw_duplicate_key.yaml", "n_lines",
                                                "duplicate")),
    ("hw-malformed", _hw("malformed"), ("hw_malformed.yaml", "malformed YAML")),
    ("hw-lines-1e9", _hw("lines_1e9"), ("hw_lines_1e9.yaml", "mac_array.n_lines",
                                        "at most 1048576")),
    ("hw-lines-1e30", _hw("lines_1e30"), ("hw_lines_1e30.yaml", "mac_array.n_lines",
                                          "at most")),
    ("hw-billion-laughs", _hw("laughs"), ("hw_laughs.yaml", "aliases")),
    ("hw-list-key", _hw("list_key"), ("hw_list_key.yaml", "line 1", "mapping key")),
    ("hw-recursive-alias", _hw("recursive"), ("hw_recursive.yaml", "recursive")),
    ("hw-empty", _hw("empty"), ("hw_empty.yaml",)),
    ("hw-not-a-mapping", _hw("a_list"), ("hw_a_list.yaml", "mapping")),
    ("hw-negative-bandwidth", _hw("negative_bw"), ("hw_negative_bw.yaml",
                                                   "dram.bandwidth_gb_per_s", ">= 0.001")),
    ("hw-clock-1e9", _hw("clock_1e9"), ("hw_clock_1e9.yaml", "clock_mhz", "at most 100000")),
    ("hw-bits-128", _hw("bits_128"), ("hw_bits_128.yaml", "data_bits", "at most 64")),
    ("hw-binary", _hw("binary"), ("hw_binary.yaml", "cannot read")),
    ("hw-missing", _hw("absent"), ("hw_absent.yaml",)),
    ("hw-unknown-preset", (*SIM, "--hw", "vitcood"), ("vitcood",)),
    # --set
    ("set-lines-1e9", (*SIM, "--hw", HW_BASE, "--set", "mac_array.n_lines=1000000000"),
     ("mac_array.n_lines", "at most 1048576")),
    ("set-lines-1e30", (*SIM, "--hw", HW_BASE, "--set", "mac_array.n_lines=" + "9" * 31),
     ("mac_array.n_lines", "at most")),
    ("set-size-1e300", (*SIM, "--hw", HW_BASE, "--set", "buffers.q.size_kib=1.0e+300"),
     ("buffers.q.size_kib", "at most")),
    ("set-unknown-path", (*SIM, "--hw", HW_BASE, "--set", "mac_array.lines=3"),
     ("mac_array.lines",)),
    ("set-no-equals", (*SIM, "--hw", HW_BASE, "--set", "mac_array.n_lines"),
     ("mac_array.n_lines",)),
    ("set-not-a-number", (*SIM, "--hw", HW_BASE, "--set", "mac_array.n_lines=abc"),
     ("mac_array.n_lines", "integer")),
    ("set-buffer-too-small", (*SIM, "--hw", HW_BASE, "--set", "buffers.q.size_kib=0.01"),
     ("vitcod (with --set buffers.q.size_kib=0.01)", "buffers.q", "too small")),
    ("set-one-line", (*SIM, "--hw", HW_BASE, "--set", "mac_array.n_lines=1"),
     ("vitcod (with --set mac_array.n_lines=1)", "mac_array.n_lines")),
    # masks
    *[(f"mask-{name}", ("trace", "--mask", f"{{d}}/mask_{name}.npy", "--model",
                        "{d}/tiny.yaml", "--out", "{d}/new.npz"), (f"mask_{name}.npy", *extra))
      for name, extra in (("truncated", ("not a readable",)), ("text", ("not a readable",)),
                          ("rank3", ("4-D",)), ("probs", ("0 and 1",)),
                          ("wrong_heads", ("does not fit",)), ("absent", ("no such file",)))],
    ("mask-sparsity-1.5", ("trace", "--synthetic", "--model", "deit-tiny", "--sparsity", "1.5",
                           "--out", "{d}/new.npz"), ("--sparsity",)),
    # traces
    ("trace-float-perm-plot-mask", ("plot-mask", "{d}/trace_float_perm.npz", "--layer", "0",
                                    "--head", "0", "--out", "{d}/new.png"),
     ("trace_float_perm.npz", "perm", "integer")),
    ("trace-float-perm-simulate", ("simulate", "--hw", HW_BASE, "--trace",
                                   "{d}/trace_float_perm.npz"),
     ("trace_float_perm.npz", "perm", "integer")),
    ("trace-2d-inspect", ("inspect", "{d}/trace_2d.npz"), ("trace_2d.npz", "n_q")),
    ("trace-no-meta", ("inspect", "{d}/trace_no_meta.npz"), ("trace_no_meta.npz", "__meta__")),
    ("trace-truncated", ("inspect", "{d}/trace_truncated.npz"), ("trace_truncated.npz",)),
    ("trace-text", ("inspect", "{d}/trace_text.npz"), ("trace_text.npz", "not")),
    ("trace-absent", ("inspect", "{d}/trace_absent.npz"), ("trace_absent.npz",)),
    # model specs
    ("model-vit-h14@14000", ("trace", "--synthetic", "--model", "vit-h14@14000", "--sparsity",
                             "0.9", "--out", "{d}/new.npz"), ("--model", "image_size",
                                                              "limits")),
    ("model-size-0", ("trace", "--synthetic", "--model", "vit-h14@0", "--sparsity", "0.9",
                      "--out", "{d}/new.npz"), ("--model", "positive")),
    ("model-size-text", ("trace", "--synthetic", "--model", "vit-h14@big", "--sparsity", "0.9",
                         "--out", "{d}/new.npz"), ("--model", "'big'")),
    ("model-unknown", ("trace", "--synthetic", "--model", "deit-huge", "--sparsity", "0.9",
                       "--out", "{d}/new.npz"), ("--model", "deit-huge")),
    ("model-depth-1e9", ("trace", "--synthetic", "--model", "{d}/model_deep.yaml",
                         "--sparsity", "0.9", "--out", "{d}/new.npz"),
     ("model_deep.yaml", "depth", "limit")),
    ("model-family", ("trace", "--synthetic", "--model", "{d}/model_family.yaml", "--sparsity",
                      "0.9", "--out", "{d}/new.npz"), ("model_family.yaml", "family")),
    ("model-laughs", ("trace", "--synthetic", "--model", "{d}/model_laughs.yaml",
                      "--sparsity", "0.9", "--out", "{d}/new.npz"),
     ("model_laughs.yaml", "aliases")),
    ("model-indivisible", ("trace", "--synthetic", "--model", "{d}/model_indivisible.yaml",
                           "--sparsity", "0.9", "--out", "{d}/new.npz"),
     ("model_indivisible.yaml", "embed_dim")),
    ("model-huge-image", ("simulate", "--hw", HW_BASE, "--model", "{d}/model_huge_image.yaml",
                          "--sparsity", "0.9"), ("model_huge_image.yaml", "image_size")),
    # sweep specs
    *[(f"sweep-{name}", ("sweep", f"{{d}}/sweep_{name}.yaml", "--out", "{d}/new_sweep",
                         "--serial", "--no-progress"), (f"sweep_{name}.yaml", *extra))
      for name, extra in (("grid_1e9", ("axes", "1,000,000,000 points", "--max-points")),
                          ("random_1e9", ("samples", "1,000,000,000 points")),
                          ("steps_1e9", ("steps",)),
                          ("unknown_key", ("combin", "unknown key")),
                          ("laughs", ("aliases",)),
                          ("list_key", ("mapping key",)),
                          ("zip_unequal", ("zip",)),
                          ("bad_constraint", ("constraints[0]",)),
                          ("unknown_metric", ("metrics[0]", "latency_s")),
                          ("bad_path", ("n_lnes",)))],
    ("sweep-max-points", ("sweep", "{d}/sweep_ok.yaml", "--out", "{d}/new_sweep", "--serial",
                          "--max-points", "1"), ("sweep_ok.yaml", "2 points", "limit of 1")),
    ("sweep-absent", ("sweep", "{d}/sweep_absent.yaml", "--out", "{d}/new_sweep"),
     ("sweep_absent.yaml",)),
    # scheduler addresses
    *[(f"scheduler-{i}", ("sweep", "{d}/sweep_ok.yaml", "--out", "{d}/new_sweep",
                          "--no-progress", "--scheduler", address), (f"--scheduler {address}",))
      for i, address in enumerate(("foo::bar", "tcp://", "tcp://host:notaport",
                                   "http://127.0.0.1:1"))],
    # output paths
    ("out-trace-exists", ("trace", "--mask", "{d}/mask_ok.npy", "--convention", "kept",
                          "--model", "{d}/tiny.yaml", "--out", "{d}/existing.npz"),
     ("existing.npz", "--overwrite")),
    ("out-trace-no-dir", ("trace", "--mask", "{d}/mask_ok.npy", "--convention", "kept",
                          "--model", "{d}/tiny.yaml", "--out", "{d}/no/such/t.npz"),
     ("no/such/t.npz", "does not exist")),
    ("out-simulate-nonempty", ("simulate", "--hw", HW_BASE, "--trace", "{d}/trace_ok.npz",
                               "--out", "{d}/nonempty"), ("nonempty",)),
    ("out-sweep-is-file", ("sweep", "{d}/sweep_ok.yaml", "--out", "{d}/a_file", "--serial"),
     ("a_file", "not a directory")),
    ("out-sweep-holds-sweep", ("sweep", "{d}/sweep_ok.yaml", "--out", "{d}/sw_ok",
                               "--serial"), ("sw_ok", "--resume")),
    ("out-report-exists", ("report", "{d}/sw_ok", "--out", "{d}/existing.html"),
     ("existing.html", "--overwrite")),
    ("out-plot-is-file", ("plot", "{d}/trace_ok.npz", "--kind", "mask", "--layer", "0",
                          "--head", "0", "--out", "{d}/a_file"), ("a_file",)),
    # damaged run and sweep directories
    ("damaged-plot-results", ("plot", "{d}/sw_damaged_results", "--kind", "pareto", "--out",
                              "{d}/figs"), ("results.", "cannot read")),
    ("damaged-report-results", ("report", "{d}/sw_damaged_results", "--out", "{d}/r.html"),
     ("results.", "cannot read")),
    ("damaged-report-manifest", ("report", "{d}/sw_damaged_manifest", "--out", "{d}/r.html"),
     ("sweep.json",)),
    ("damaged-plot-unfinished", ("plot", "{d}/sw_unfinished", "--kind", "pareto", "--out",
                                 "{d}/figs"), ("sw_unfinished", "--resume")),
    ("damaged-resume-manifest", ("sweep", "{d}/sweep_ok.yaml", "--out",
                                 "{d}/sw_damaged_manifest", "--resume", "--serial"),
     ("sweep.json",)),
    ("damaged-plot-run-summary", ("plot", "{d}/run_bad_summary", "--kind", "breakdown",
                                  "--out", "{d}/figs"), ("summary.json",)),
    ("damaged-plot-run-hardware", ("plot", "{d}/run_bad_hw", "--kind", "breakdown", "--out",
                                   "{d}/figs"), ("hardware.yaml", "aliases")),
    ("damaged-report-run-summary", ("report", "{d}/run_bad_summary", "--out", "{d}/r.html"),
     ("summary.json",)),
]


def _snapshot(root: Path) -> dict[str, str]:
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        out[str(Path(folder).relative_to(root)) + "/"] = ""
    return out


def test_the_corpus_is_large() -> None:
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize(("argv", "fragments"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input(corpus: Path, capsys, argv: tuple, fragments: tuple[str, ...]) -> None:
    argv = tuple(str(a).replace("{d}", str(corpus)) for a in argv)
    before = _snapshot(corpus)
    rc, stdout, err = run(capsys, *argv)
    assert stdout == ""
    assert "Traceback" not in err
    assert rc == 2, (argv, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("vitsim") and "error: " in lines[0], lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert _snapshot(corpus) == before, "a file was created or changed"


def test_the_done_when_refusals_take_under_a_second(corpus: Path, capsys) -> None:
    """A 10^9-point spec, a 10^9-line override and a billion-laughs file: each refused in
    well under a second (in process; the figure is printed for the record)."""
    from vitsim.analysis.sweeps.spec import expand_sweep, load_sweep
    from vitsim.errors import ConfigError
    from vitsim.hw_configs.loader import apply_overrides, load_hardware
    from vitsim.strict_yaml import loads_strict

    spec = load_sweep(corpus / "sweep_grid_1e9.yaml")
    base = load_hardware("vitcod")
    timings = {}
    for name, call in (
            ("10^9-point grid", lambda: expand_sweep(spec)),
            ("10^9-line override", lambda: apply_overrides(base,
                                                           ["mac_array.n_lines=1000000000"])),
            ("billion laughs", lambda: loads_strict(LAUGHS, source="laughs.yaml"))):
        start = time.perf_counter()
        with pytest.raises(ConfigError):
            call()
        timings[name] = time.perf_counter() - start
    print(json.dumps({k: round(v, 4) for k, v in timings.items()}))
    assert max(timings.values()) < 1.0, timings
