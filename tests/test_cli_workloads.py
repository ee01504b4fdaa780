"""Smoke tests of the workload subcommands through ``vitsim.analysis.cli.main([...])``.

Every bad input must end with exit status 2, exactly one line on stderr and no traceback, and
must leave the output path as it was: no new file, an existing file untouched, and no stray
temporary file beside it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run

from vitsim.workloads.model_spec import known_models
from vitsim.workloads.trace import WorkloadTrace

TINY_YAML = "name: tiny-test\nfamily: vit\nembed_dim: 32\ndepth: 2\nn_heads: 2\nimage_size: 64\n"
N = 17  # (64 / 16)^2 + CLS


@pytest.fixture
def tiny_model(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_YAML, encoding="utf-8")
    return path


@pytest.fixture
def tiny_mask(tmp_path, rng) -> Path:
    kept = rng.random((2, 2, N, N)) < 0.3
    kept[:, :, 0, :] = kept[:, :, :, 0] = True
    path = tmp_path / "tiny_mask.npy"
    np.save(path, ~kept)
    return path


@pytest.fixture
def real_trace(tmp_path, capsys, real_mask_path) -> Path:
    out = tmp_path / "real.npz"
    rc, stdout, err = run(capsys, "trace", "--mask", real_mask_path, "--model", "deit-tiny",
                          "--out", out)
    assert (rc, err) == (0, "")
    assert str(out) in stdout and "5.33%" in stdout
    return out


# ------------------------------------------------------------------------------ success


def test_trace_and_inspect_json_on_the_real_mask(capsys, real_trace, real_global_tokens):
    rc, out, err = run(capsys, "inspect", real_trace, "--json")
    assert (rc, err) == (0, "")
    doc = json.loads(out)
    assert doc["model"] == "deit-tiny" and doc["family"] == "vit"
    assert (doc["n_layers"], doc["n_heads"], doc["n_heads_total"], doc["n_tokens"]) == (
        12, 3, 36, 197)
    assert round(doc["kept_density"], 4) == 0.0533
    assert doc["source"]["kind"] == "mask_file" and doc["source"]["convention"] == "pruned"
    assert doc["polarize"] == {"threshold": None, "dense_fraction": None, "enabled": True}
    n_global = np.array([[h["n_global"] for h in doc["heads"] if h["layer"] == layer]
                         for layer in range(12)])
    np.testing.assert_array_equal(n_global, real_global_tokens.astype(np.int64))
    assert [(h["layer"], h["head"]) for h in doc["heads"]] == [
        (layer, h) for layer in range(12) for h in range(3)]
    assert doc["dense_nnz"] + doc["sparse_nnz"] == sum(
        h["dense_nnz"] + h["sparse_nnz"] for h in doc["heads"])


def test_inspect_text(capsys, real_trace):
    rc, out, err = run(capsys, "inspect", real_trace)
    assert (rc, err) == (0, "")
    assert "deit-tiny (vit)" in out
    assert "5.33%" in out
    assert "36 in all" in out
    assert "n_global" in out and "sparse_row_nnz_max" in out
    table = out[out.index("n_global"):].splitlines()
    assert len(table) == 1 + 36


def test_plot_mask_writes_a_png(capsys, real_trace, tmp_path):
    out = tmp_path / "head.png"
    rc, stdout, err = run(capsys, "plot-mask", real_trace, "--layer", 11, "--head", 0,
                          "--out", out)
    assert (rc, err) == (0, "")
    assert stdout.strip() == str(out)
    data = out.read_bytes()
    assert len(data) > 1000 and data.startswith(b"\x89PNG\r\n\x1a\n")
    umask = os.umask(0o022)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["head.png", "real.npz"]
    # an existing figure is never replaced silently
    rc, _, err = run(capsys, "plot-mask", real_trace, "--layer", 0, "--head", 0, "--out", out)
    assert rc == 2 and "exists" in err and "--overwrite" in err and "Traceback" not in err
    assert out.read_bytes() == data
    rc, _, err = run(capsys, "plot-mask", real_trace, "--layer", 0, "--head", 0, "--out", out,
                     "--overwrite")
    assert rc == 0 and out.read_bytes() != data


def test_trace_refuses_an_existing_out_without_overwrite(capsys, tmp_path, tiny_model,
                                                         tiny_mask):
    out = tmp_path / "t.npz"
    out.write_bytes(b"keep")
    argv = ("trace", "--mask", tiny_mask, "--model", tiny_model, "--out", out)
    assert_rejected(capsys, argv, None, names=[out, "--overwrite"])
    assert out.read_bytes() == b"keep"
    rc, _, err = run(capsys, *argv, "--overwrite")
    assert (rc, err) == (0, "") and WorkloadTrace.load(out).spec.name == "tiny-test"


def test_trace_options(capsys, tmp_path, tiny_model, tiny_mask):
    for extra, check in (
        ([], lambda t: t.meta["polarize"]["enabled"]),
        (["--no-polarize"], lambda t: not t.attention.n_global.any()),
        (["--polarize-threshold", "0"], lambda t: t.meta["polarize"]["threshold"] == 0),
        (["--dense-fraction", "0.5"], lambda t: t.meta["polarize"]["dense_fraction"] == 0.5),
    ):
        out = tmp_path / "opt.npz"
        rc, _, err = run(capsys, "trace", "--mask", tiny_mask, "--model", tiny_model,
                         "--out", out, "--overwrite", *extra)
        assert (rc, err) == (0, ""), extra
        trace = WorkloadTrace.load(out)
        assert trace.spec.name == "tiny-test"
        assert check(trace), extra


def test_trace_kept_convention_warns_once_per_block(capsys, tmp_path, tiny_model, tiny_mask):
    # the file is pruned-convention; reading it as kept makes the CLS scores look pruned
    rc, _, err = run(capsys, "trace", "--mask", tiny_mask, "--model", tiny_model,
                     "--convention", "kept", "--out", tmp_path / "k.npz")
    assert rc == 0
    lines = err.splitlines()
    assert len(lines) == 2 and all(line.startswith("vitsim: WARNING:") for line in lines)


def test_trace_synthetic(capsys, tmp_path):
    pytest.importorskip("vitsim.workloads.synthetic",
                        reason="vitsim.workloads.synthetic is not written yet")
    out = tmp_path / "syn.npz"
    argv = ("trace", "--synthetic", "--model", "deit-tiny", "--sparsity", "0.9", "--seed", "0",
            "--out", out)
    rc, stdout, err = run(capsys, *argv)
    assert (rc, err) == (0, "")
    assert str(out) in stdout
    trace = WorkloadTrace.load(out)
    assert trace.meta["source"] == {"kind": "synthetic", "seed": 0}
    assert trace.meta["pruning"]["target_sparsity"] == 0.9
    assert abs(trace.kept_density() - 0.1) < 0.01
    rc, stdout, _ = run(capsys, "inspect", out, "--json")
    assert rc == 0 and json.loads(stdout)["n_heads_total"] == 36
    again = tmp_path / "syn2.npz"
    assert run(capsys, *argv[:-1], again)[0] == 0
    assert WorkloadTrace.load(again).content_hash() == trace.content_hash()


# ------------------------------------------------------------------------------ bad inputs


def assert_rejected(capsys, argv, out: Path | None, *, names=(), vitsim_error=True,
                    existing: bytes | None = None):
    """Run ``argv`` and check the failure contract; ``out`` is the --out path (if any)."""
    watch = out.parent if out is not None and out.parent.is_dir() else None
    if existing is not None:
        out.write_bytes(existing)
        if argv[0] == "trace":  # a failing --overwrite run must leave the file as it was
            argv = (*argv, "--overwrite")
    listing = sorted(os.listdir(watch)) if watch else None
    rc, stdout, err = run(capsys, *argv)
    assert rc == 2, (argv, err)
    assert stdout == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    line = lines[0]
    if vitsim_error:
        assert line.startswith("vitsim: error: "), line
    else:
        assert line.startswith("vitsim") and ": error: " in line, line
    for name in names:
        assert str(name) in line, (name, line)
    if out is not None and not out.is_dir():
        if existing is None:
            assert not out.exists()
        else:
            assert out.read_bytes() == existing
    if watch:
        assert sorted(os.listdir(watch)) == listing  # no stray temporary file
    return line


@pytest.fixture
def bad_files(tmp_path, rng, tiny_mask) -> dict[str, Path]:
    d = tmp_path / "bad"
    d.mkdir()
    files = {}
    data = tiny_mask.read_bytes()
    files["truncated"] = d / "truncated.npy"
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["text"] = d / "text.npy"
    files["text"].write_text("not an array\n", encoding="utf-8")
    files["rank3"] = d / "rank3.npy"
    np.save(files["rank3"], np.zeros((2, N, N), bool))
    files["nonsquare"] = d / "nonsquare.npy"
    np.save(files["nonsquare"], np.zeros((2, 2, N, N - 1), bool))
    files["wrong_heads"] = d / "wrong_heads.npy"
    np.save(files["wrong_heads"], np.zeros((2, 3, N, N), bool))
    files["probs"] = d / "probs.npy"
    np.save(files["probs"], rng.random((2, 2, N, N)))
    return files


@pytest.mark.parametrize("existing", [None, b"the previous trace"])
@pytest.mark.parametrize(
    ("bad", "names"),
    [
        ("truncated", ["truncated.npy", "not a readable"]),
        ("text", ["text.npy", "not a readable"]),
        ("rank3", ["rank3.npy", "array", "4-D"]),
        ("nonsquare", ["nonsquare.npy", "block 0", "not square"]),
        ("wrong_heads", ["wrong_heads.npy", "block 0", "does not fit", "tiny-test"]),
        ("probs", ["probs.npy", "block 0", "0 and 1"]),
    ],
)
def test_trace_rejects_bad_mask_files(capsys, tmp_path, tiny_model, bad_files, bad, names,
                                      existing):
    out = tmp_path / "out" / "trace.npz"
    out.parent.mkdir()
    argv = ("trace", "--mask", bad_files[bad], "--model", tiny_model, "--out", out)
    assert_rejected(capsys, argv, out, names=names, existing=existing)


def test_trace_rejects_missing_mask(capsys, tmp_path, tiny_model):
    out = tmp_path / "t.npz"
    argv = ("trace", "--mask", tmp_path / "absent.npy", "--model", tiny_model, "--out", out)
    assert_rejected(capsys, argv, out, names=["absent.npy", "no such file"])


def test_trace_rejects_mask_not_fitting_model(capsys, tmp_path, real_mask_path):
    out = tmp_path / "t.npz"
    argv = ("trace", "--mask", real_mask_path, "--model", "deit-small", "--out", out)
    assert_rejected(capsys, argv, out, names=[real_mask_path, "deit-small", "block 0"],
                    existing=b"keep me")


@pytest.mark.parametrize("value", ["1.0", "-0.1", "1.5", "nan", "lots"])
def test_trace_rejects_bad_sparsity(capsys, tmp_path, value):
    out = tmp_path / "t.npz"
    argv = ("trace", "--synthetic", "--model", "deit-tiny", "--sparsity", value, "--out", out)
    assert_rejected(capsys, argv, out, names=["--sparsity"], vitsim_error=False,
                    existing=b"keep me")


def test_trace_rejects_unknown_model(capsys, tmp_path, tiny_mask):
    out = tmp_path / "t.npz"
    line = assert_rejected(capsys, ("trace", "--mask", tiny_mask, "--model", "deit-huge",
                                    "--out", out), out, names=["--model", "deit-huge"])
    for name in known_models():
        assert name in line


def test_trace_rejects_bad_model_spec(capsys, tmp_path, tiny_mask):
    spec = tmp_path / "bad.yaml"
    spec.write_text(TINY_YAML + "depht: 3\n", encoding="utf-8")
    out = tmp_path / "t.npz"
    assert_rejected(capsys, ("trace", "--mask", tiny_mask, "--model", spec, "--out", out), out,
                    names=[spec, "depht", "unknown key"])


def test_trace_rejects_output_in_missing_directory(capsys, tmp_path, tiny_mask, tiny_model):
    out = tmp_path / "nowhere" / "t.npz"
    assert_rejected(capsys, ("trace", "--mask", tiny_mask, "--model", tiny_model, "--out", out),
                    out, names=[out, "does not exist"])
    assert not out.parent.exists()


def test_trace_rejects_output_that_is_a_directory(capsys, tmp_path, tiny_mask, tiny_model):
    out = tmp_path / "outdir"
    out.mkdir()
    (out / "keep.txt").write_text("x", encoding="utf-8")
    assert_rejected(capsys, ("trace", "--mask", tiny_mask, "--model", tiny_model, "--out", out),
                    out, names=[out, "directory"])
    assert sorted(os.listdir(out)) == ["keep.txt"]


def test_trace_rejects_mask_with_sparsity(capsys, tmp_path, tiny_mask, tiny_model):
    out = tmp_path / "t.npz"
    argv = ("trace", "--mask", tiny_mask, "--model", tiny_model, "--sparsity", "0.5",
            "--out", out)
    assert_rejected(capsys, argv, out, names=["--sparsity"], existing=b"keep me")


def test_trace_rejects_synthetic_without_sparsity(capsys, tmp_path):
    out = tmp_path / "t.npz"
    argv = ("trace", "--synthetic", "--model", "deit-tiny", "--out", out)
    assert_rejected(capsys, argv, out, names=["--sparsity"])


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        (["--synthetic", "--sparsity", "0.5"], ["--synthetic", "--mask"]),  # two sources
        (["--no-polarize", "--polarize-threshold", "3"], ["--polarize-threshold"]),
        (["--dense-fraction", "1.5"], ["--dense-fraction"]),
        (["--polarize-threshold", "-1"], ["--polarize-threshold"]),
        (["--convention", "dropped"], ["--convention"]),
    ],
)
def test_trace_rejects_bad_options(capsys, tmp_path, tiny_mask, tiny_model, extra, names):
    out = tmp_path / "t.npz"
    argv = ("trace", "--mask", tiny_mask, "--model", tiny_model, "--out", out, *extra)
    assert_rejected(capsys, argv, out, names=names, vitsim_error=False)


def test_usage_errors(capsys):
    for argv in ((), ("frobnicate",), ("trace", "--synthetic"), ("inspect",)):
        assert_rejected(capsys, argv, None, vitsim_error=False)


def test_inspect_rejects_bad_traces(capsys, tmp_path, tiny_mask, bad_files):
    for path, names in (
        (tmp_path / "absent.npz", ["absent.npz", "no such"]),
        (tiny_mask, [tiny_mask, "not an .npz"]),  # a mask given instead of a trace
        (bad_files["text"], ["text.npy"]),
        (tmp_path, [tmp_path]),
    ):
        assert_rejected(capsys, ("inspect", path, "--json"), None, names=names)
        assert_rejected(capsys, ("inspect", path), None, names=names)


def test_plot_mask_rejects_bad_input(capsys, tmp_path, real_trace):
    out = tmp_path / "p.png"
    for extra, names in (
        (["--layer", "12", "--head", "0"], ["--layer", "0..11"]),
        (["--layer", "0", "--head", "3"], ["--head", "0..2"]),
    ):
        argv = ("plot-mask", real_trace, *extra, "--out", out, "--overwrite")
        assert_rejected(capsys, argv, out, names=names, existing=b"old image")
        out.unlink()
    bad_format = tmp_path / "p.jpg"
    assert_rejected(capsys, ("plot-mask", real_trace, "--layer", "0", "--head", "0",
                             "--out", bad_format), bad_format, names=[bad_format, ".png"])
    missing_dir = tmp_path / "nowhere" / "p.png"
    assert_rejected(capsys, ("plot-mask", real_trace, "--layer", "0", "--head", "0",
                             "--out", missing_dir), missing_dir, names=[missing_dir])

