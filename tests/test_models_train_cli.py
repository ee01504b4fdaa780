"""Fine-tuning (schedule, losses, checkpoints) and the torch subcommands through main([...])."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cli_runner import run  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from vitsim.errors import VitsimError  # noqa: E402
from vitsim.models.attention import get_masks, set_codecs, set_masks  # noqa: E402
from vitsim.models.checkpoint import checkpoint_meta, load_checkpoint, save_checkpoint  # noqa: E402
from vitsim.models.finetune import TrainConfig, cosine_lr, evaluate, train  # noqa: E402
from vitsim.models.zoo import build_model  # noqa: E402
from vitsim.progress import ProgressBar  # noqa: E402
from vitsim.workloads.masks import load_masks  # noqa: E402
from vitsim.workloads.model_spec import build_vit  # noqa: E402
from vitsim.workloads.trace import WorkloadTrace  # noqa: E402

# 1 channel at 16 px: the digits can be upsampled to it
TINY = build_vit("tiny", embed_dim=16, depth=2, n_heads=2, image_size=16, patch_size=4,
                 mlp_ratio=2.0, n_classes=10, in_channels=1)


def _loader(n: int = 24, seed: int = 0) -> DataLoader:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 1, 16, 16, generator=gen)
    labels = (images.mean(dim=(1, 2, 3)) > 0).long()  # learnable
    return DataLoader(TensorDataset(images, labels), batch_size=8, shuffle=True,
                      generator=torch.Generator().manual_seed(seed))


def _kept(rng) -> list[np.ndarray]:
    kept = [rng.random((2, 17, 17)) < 0.3 for _ in range(2)]
    for k in kept:
        k[:, 0, :] = k[:, :, 0] = True
    return kept


# ------------------------------------------------------------------------------ training


def test_cosine_schedule() -> None:
    kw = dict(lr=1.0, min_lr=0.1, warmup_steps=2)
    assert [cosine_lr(s, 12, **kw) for s in (0, 1)] == [0.5, 1.0]
    assert cosine_lr(2, 12, **kw) == 1.0
    assert math.isclose(cosine_lr(7, 12, **kw), 0.55)  # halfway through the cosine
    assert math.isclose(cosine_lr(12, 12, **kw), 0.1)
    lrs = [cosine_lr(s, 12, **kw) for s in range(2, 13)]
    assert all(a >= b for a, b in itertools.pairwise(lrs))


def test_finetune_keeps_masks_adds_losses_and_checkpoints(tmp_path, rng) -> None:
    torch.manual_seed(0)
    teacher = build_model(TINY)
    student = build_model(TINY)
    student.load_state_dict(teacher.state_dict())
    kept = _kept(rng)
    set_masks(student, kept)
    set_codecs(student)
    config = TrainConfig(epochs=2, lr=1e-3, distill_weight=0.5, distill_temperature=2.0,
                         recon_weight=1.0)
    ckpt = tmp_path / "ft.pt"
    history = train(student, _loader(), config, teacher=teacher, checkpoint_path=ckpt,
                    checkpoint_meta={"run": "test"})
    assert [h.epoch for h in history] == [1, 2]
    for h in history:
        assert h.recon_loss > 0 and h.distill_loss > 0 and math.isfinite(h.loss)
        expected = 0.5 * h.task_loss + 0.5 * h.distill_loss + h.recon_loss
        assert math.isclose(h.loss, expected, rel_tol=1e-5)
    for got, want in zip(get_masks(student), kept, strict=True):  # the mask is fixed
        np.testing.assert_array_equal(got, want)
    assert checkpoint_meta(ckpt)["epoch"] == 2 and checkpoint_meta(ckpt)["run"] == "test"
    reloaded = load_checkpoint(ckpt, device="cpu")
    images = next(iter(_loader()))[0]
    with torch.no_grad():
        torch.testing.assert_close(reloaded(images), student.eval()(images), rtol=0, atol=0)
    assert 0.0 <= evaluate(student, _loader()) <= 1.0


def test_training_learns_and_is_reproducible() -> None:
    def once() -> tuple[float, list[float]]:
        torch.manual_seed(0)
        model = build_model(TINY)
        hist = train(model, _loader(), TrainConfig(epochs=4, lr=3e-3, seed=0))
        return evaluate(model, _loader()), [h.loss for h in hist]

    (acc_a, loss_a), (acc_b, loss_b) = once(), once()
    assert loss_a == loss_b and acc_a == acc_b
    assert loss_a[-1] < loss_a[0]


def test_distillation_needs_a_teacher_and_configs_are_checked() -> None:
    with pytest.raises(VitsimError, match="teacher"):
        train(build_model(TINY), _loader(), TrainConfig(epochs=1, distill_weight=0.5))
    with pytest.raises(VitsimError, match="epochs"):
        TrainConfig(epochs=0)


def test_progress_bar_writes_one_line_when_not_a_terminal(capsys) -> None:
    import sys

    with ProgressBar(None, label="work", unit="it", stream=sys.stderr) as bar:
        for _ in range(4):
            bar.update(1, loss=0.5)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "work 4 it" in err and "loss=0.5" in err
    with ProgressBar(4, label="quiet", enabled=False) as bar:
        bar.update(4)
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------------------ CLI


def test_quick_demo_end_to_end(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    rc, stdout, err = run(capsys, "codesign-demo", "--quick", "--out", out, "--json")
    assert (rc, err) == (0, "")
    doc = json.loads(stdout)
    assert [r["target_sparsity"] for r in doc["rows"]] == [0.0, 0.9]
    for r in doc["rows"]:
        for key in ("accuracy_pruned", "accuracy_finetuned", "accuracy_finetuned_ae"):
            assert 0.0 <= r[key] <= 1.0
    assert doc["rows"][0]["accuracy_pruned"] == doc["dense_accuracy"]
    assert 0.85 < doc["rows"][1]["sparsity"] < 0.95
    trace = WorkloadTrace.load(out / doc["trace"]["file"])
    assert math.isclose(trace.kept_density(), doc["trace"]["kept_density"])
    assert doc["simulation"]["sparse"]["total_cycles"] > 0
    assert doc["simulation"]["sparse"]["hardware"] == "vitcod"
    assert {p.name for p in out.iterdir()} >= {
        "model.yaml", "dense.pt", "maps.npz", "masks_s0.90.npz", "finetuned_s0.90.pt",
        "finetuned_ae_s0.90.pt", "trace_s0.90.npz", "results.json", "run.json"}
    # `vitsim trace --maps` on the demo's maps gives the demo's trace
    retraced = tmp_path / "retraced.npz"
    rc, _, err = run(capsys, "trace", "--maps", out / "maps.npz", "--model", out / "model.yaml",
                     "--sparsity", "0.9", "--out", retraced)
    assert (rc, err) == (0, "")
    for name, arr in WorkloadTrace.load(retraced).attention.arrays().items():
        np.testing.assert_array_equal(arr, trace.attention.arrays()[name], err_msg=name)
    # a second run never overwrites the first
    rc, stdout, err = run(capsys, "codesign-demo", "--quick", "--out", out)
    assert rc == 2 and stdout == "" and err.count("\n") == 1 and "not empty" in err


def test_extract_prune_finetune_commands(tmp_path, capsys) -> None:
    torch.manual_seed(0)
    ckpt = tmp_path / "dense.pt"
    save_checkpoint(ckpt, build_model(TINY))
    maps = tmp_path / "maps.npz"
    rc, out, err = run(capsys, "extract", "--checkpoint", ckpt, "--digits", "--limit", "50",
                       "--out", maps, "--device", "cpu")
    assert (rc, err) == (0, "") and "mean over 50 images" in out

    masks = tmp_path / "masks.npz"
    rc, out, err = run(capsys, "prune", "--maps", maps, "--sparsity", "0.8", "--out", masks,
                       "--json")
    assert (rc, err) == (0, "")
    doc = json.loads(out)
    assert doc["method"] == "info" and abs(doc["kept_density"] - 0.2) < 0.05
    assert load_masks(masks, TINY, convention="kept").kept_density() == doc["kept_density"]

    images, labels = tmp_path / "images.npy", tmp_path / "labels.npy"
    np.save(images, np.random.default_rng(0).standard_normal((40, 1, 16, 16), np.float32))
    np.save(labels, np.arange(40) % 10)
    tuned = tmp_path / "tuned.pt"
    rc, out, err = run(capsys, "finetune", "--checkpoint", ckpt, "--masks", masks, "--images",
                       images, "--labels", labels, "--epochs", "1", "--autoencoder",
                       "--distill", "--out", tuned, "--json", "--device", "cpu")
    assert (rc, err) == (0, "")
    doc = json.loads(out)
    assert 0.0 <= doc["train_accuracy"] <= 1.0 and "heldout_accuracy" not in doc
    model = load_checkpoint(tuned, device="cpu")
    kept = load_masks(masks, TINY, convention="kept")
    for got, want in zip(get_masks(model), kept.blocks(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_command_errors_are_one_line(tmp_path, capsys) -> None:
    torch.save({"cls_token": torch.zeros(1, 1, 16)}, tmp_path / "partial.pth")
    rc, out, err = run(capsys, "extract", "--checkpoint", tmp_path / "partial.pth", "--model",
                       "deit-tiny", "--digits", "--out", tmp_path / "m.npz")
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert "partial.pth: does not fit model deit-tiny: missing keys:" in err
    assert not (tmp_path / "m.npz").exists()

    rc, _, err = run(capsys, "extract", "--checkpoint", tmp_path / "absent.pt", "--digits",
                     "--out", tmp_path / "m.npz")
    assert rc == 2 and "no such checkpoint file" in err and err.count("\n") == 1

    save_checkpoint(tmp_path / "rgb.pt", build_model(build_vit(
        "rgb", embed_dim=16, depth=1, n_heads=2, image_size=16, patch_size=4)))
    rc, _, err = run(capsys, "extract", "--checkpoint", tmp_path / "rgb.pt", "--digits",
                     "--out", tmp_path / "m.npz")
    assert rc == 2 and "--digits: model rgb takes 3 channels" in err

    rc, _, err = run(capsys, "finetune", "--checkpoint", tmp_path / "rgb.pt", "--digits",
                     "--latent-heads", "1", "--out", tmp_path / "x.pt")
    assert rc == 2 and "--latent-heads: only with --autoencoder" in err
