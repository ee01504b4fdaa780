"""Smoke tests of ``vitsim baseline`` and ``vitsim baseline measure`` through ``main([...])``.

Bad inputs end with exit status 2 and one line on stderr naming what is wrong; an existing
``--out`` is never overwritten.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cli_runner import run

from vitsim.analysis.cli import build_parser

TINY_SPEC = {"name": "tiny-vit", "family": "vit", "embed_dim": 32, "depth": 2, "n_heads": 2,
             "image_size": 32, "n_classes": 10}
ROOFLINE = ("baseline", "--platform", "xeon-gold-6230", "--model", "deit-tiny")


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def tiny_spec(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_SPEC), encoding="utf-8")
    return path


def test_roofline_text_has_the_operator_breakdown(capsys):
    rc, out, err = run(capsys, *ROOFLINE, "--sparsity", "0.9")
    assert rc == 0, err
    first = out.splitlines()[0]
    assert first.startswith("deit-tiny on xeon-gold-6230 (roofline, dense_masked, kept density "
                            "0.1, fp32, batch 1):")
    assert "idle 25 W, max 125 W (tdp))" in first
    for name in ("linear:qkv", "attention:qk", "attention:mask", "softmax", "layernorm:ln1",
                 "activation:gelu", "add:residual_mlp", "copy:qkv_heads"):
        assert f"\n{name} " in out


def test_roofline_json_document(capsys):
    rc, out, err = run(capsys, *ROOFLINE, "--batch", "8", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["kind"] == "roofline" and doc["batch"] == 8 and doc["model"] == "deit-tiny"
    assert doc["latency_ms"] == pytest.approx(sum(o["latency_ms"] for o in doc["operators"]))
    assert {"name", "latency_ms", "stage", "bound"} <= set(doc["operators"][0])
    assert "attention:mask" not in {o["name"] for o in doc["operators"]}  # dense: no mask


def test_sparse_kernel_mode_cuts_attention_flops(capsys):
    docs = {}
    for mode in ("dense_masked", "sparse_kernel"):
        rc, out, err = run(capsys, *ROOFLINE, "--sparsity", "0.9", "--attention", mode,
                           "--json")
        assert rc == 0, err
        docs[mode] = json.loads(out)
    qk = {m: next(o["flops"] for o in d["operators"] if o["name"] == "attention:qk")
          for m, d in docs.items()}
    assert qk["sparse_kernel"] == pytest.approx(0.1 * qk["dense_masked"])
    assert docs["sparse_kernel"]["provenance"]["attention_mode"] == "sparse_kernel"


def test_a_platform_file_works_and_a_bad_one_names_file_and_key(capsys, tmp_path):
    rc, out, _ = run(capsys, "baseline", "--platform", "rtx-2080ti", "--model", "levit-128",
                     "--json")
    assert rc == 0 and json.loads(out)["baseline"] == "rtx-2080ti"
    from vitsim.hw_configs.platforms import dump_platform, load_platform

    good = tmp_path / "mine.yaml"
    good.write_text(dump_platform(load_platform("jetson-tx2")), encoding="utf-8")
    rc, out, err = run(capsys, "baseline", "--platform", good, "--model", "deit-tiny")
    assert rc == 0, err
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("kernel_launch_us", "launch_us"), encoding="utf-8")
    rc, out, err = run(capsys, "baseline", "--platform", bad, "--model", "deit-tiny")
    line = one_error_line(err)
    assert rc == 2 and out == ""
    assert f"{bad}: launch_us: unknown key; allowed:" in line
    assert "kernel_launch_us: missing required key" in line


@pytest.mark.parametrize("argv, fragment", [
    (("baseline", "--platform", "tpu-v9", "--model", "deit-tiny"), "unknown platform 'tpu-v9'"),
    (("baseline", "--platform", "missing/dir/p.yaml", "--model", "deit-tiny"), "no such file"),
    (("baseline", "--platform", "jetson-tx2"), "--model: required"),
    (("baseline", "--model", "deit-tiny"), "--platform: give a platform"),
    (("baseline", "--platform", "jetson-tx2", "--model", "deit-huge"), "unknown model"),
    (("baseline", "--platform", "jetson-tx2", "--model", "deit-tiny", "--sparsity", "1"),
     "must be in [0, 1)"),
    (("baseline", "--platform", "jetson-tx2", "--model", "deit-tiny", "--profile",
      "absent.yaml"), "absent.yaml: no such file"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, fragment):
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == ""
    assert fragment in one_error_line(err)


def test_malformed_platform_yaml(capsys, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: x\nkind: [gpu\n", encoding="utf-8")
    rc, _, err = run(capsys, "baseline", "--platform", path, "--model", "deit-tiny")
    assert rc == 2 and f"{path}: line" in one_error_line(err) and "malformed YAML" in err


def test_measure_parses_exactly_as_documented():
    args = build_parser().parse_args(
        ["baseline", "measure", "--device", "cpu", "--model", "deit-tiny", "--out", "p.yaml"])
    assert args.func.__name__ == "_cmd_measure"
    assert (args.device, args.model, args.out, args.batch, args.repeats) == \
        ("cpu", "deit-tiny", "p.yaml", 1, 20)


def test_measure_then_report_the_profile(capsys, tmp_path, tiny_spec):
    pytest.importorskip("torch")
    out_path = tmp_path / "p.yaml"
    rc, out, err = run(capsys, "baseline", "measure", "--device", "cpu", "--model", tiny_spec,
                       "--repeats", "2", "--warmup", "0", "--sparsity", "0.5", "--out",
                       out_path)
    assert rc == 0, err
    assert out.startswith(f"{out_path}: tiny-vit, batch 1, on cpu (")
    assert out_path.is_file()
    rc, out, err = run(capsys, "baseline", "--model", tiny_spec, "--profile", out_path,
                       "--platform", "xeon-gold-6230", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["kind"] == "measured" and doc["roofline"]["kind"] == "roofline"
    assert [o["name"] for o in doc["operators"]] == \
        [o["name"] for o in doc["roofline"]["operators"]]
    rc, out, err = run(capsys, "baseline", "--model", tiny_spec, "--profile", out_path)
    assert rc == 0, err
    assert "energy unknown" in out.splitlines()[0] and "attention:mask" in out
    # a profile answers only for what it measured
    rc, _, err = run(capsys, "baseline", "--model", tiny_spec, "--profile", out_path,
                     "--batch", "4")
    assert rc == 2 and "measured with batch 1, not 4" in one_error_line(err)
    rc, _, err = run(capsys, "baseline", "--model", "deit-tiny", "--profile", out_path)
    assert rc == 2 and "measured with model tiny-vit, not deit-tiny" in one_error_line(err)


def test_measure_never_overwrites_out(capsys, tmp_path, tiny_spec):
    out_path = tmp_path / "p.yaml"
    out_path.write_text("precious", encoding="utf-8")
    rc, out, err = run(capsys, "baseline", "measure", "--model", tiny_spec, "--out", out_path)
    assert rc == 2 and out == ""
    assert f"{out_path}: already exists" in one_error_line(err)
    assert out_path.read_text(encoding="utf-8") == "precious"
    rc, _, err = run(capsys, "baseline", "measure", "--model", tiny_spec, "--out",
                     tmp_path / "no" / "dir" / "p.yaml")
    assert rc == 2 and "output directory does not exist" in one_error_line(err)


def test_measure_cuda_without_a_gpu(capsys, tmp_path, tiny_spec):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    rc, _, err = run(capsys, "baseline", "measure", "--device", "cuda", "--model", tiny_spec,
                     "--out", tmp_path / "p.yaml")
    assert rc == 2 and "no CUDA device" in one_error_line(err)
    assert not (tmp_path / "p.yaml").exists()


def test_measure_dispatch_prints_the_platform_field(capsys):
    pytest.importorskip("torch")
    from vitsim.models.measure import time_dispatch

    times = time_dispatch("cpu", calls=20, loops=3, warmup=1)
    assert {"linear (addmm)", "softmax", "contiguous (copy)"} <= set(times)
    assert all(0 < low <= med for med, low in times.values())
    rc, out, err = run(capsys, "baseline", "measure", "--dispatch", "--threads", "1")
    assert rc == 0, err
    value = float(out.splitlines()[-1].split()[1])
    assert value > 0 and "dispatch_us_per_op:" in out


def test_measure_without_model_or_dispatch_is_one_usage_error(capsys, tmp_path):
    rc, _, err = run(capsys, "baseline", "measure", "--out", str(tmp_path / "p.yaml"))
    assert rc == 2 and "--model" in one_error_line(err) and "--dispatch" in err
