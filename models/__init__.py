"""The torch side of vitsim: models, attention capture, ViTCoD's algorithm, fine-tuning.

The only package that imports torch. Importing ``vitsim.models`` itself imports nothing heavy;
the modules are:

- ``zoo``: ``build_model(spec)`` for any ``ModelSpec`` (ViT/DeiT or LeViT), the default device;
- ``vit``, ``levit``: the networks (ViT/DeiT in timm's key layout);
- ``attention``: fixed-mask attention and the Q/K auto-encoder along the head axis;
- ``checkpoint``: strict loading of timm-layout checkpoints, vitsim checkpoints with masks;
- ``capture``: per-head attention probabilities averaged over a data set (streaming);
- ``pruning``: fixed masks from captured maps with ``vitsim.workloads.prune``'s policies;
- ``finetune``: the training loop (distillation, cosine schedule, checkpoints);
- ``digits``, ``demo``: the end-to-end example on scikit-learn's digits;
- ``commands``: the ``codesign-demo``, ``extract``, ``prune`` and ``finetune`` subcommands.
"""
