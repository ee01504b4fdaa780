"""Minimal stand-in for the parts of DGL that ViTCoD's released reorder.py uses.

Why: reorder.py imports dgl, but no DGL wheel on PyPI (latest 2.1.0) loads with
torch 2.13.0, the only torch allowed here (dgl 2.1.0 needs torchdata.datapipes and
a libgraphbolt_pytorch_<torch-version>.so that exists only for torch 2.0-2.2).

Only what reorder.py's calc() touches is provided, with DGL's semantics:
  * dgl.graph((u_list, v_list)): directed graph, edge e = u_list[e] -> v_list[e],
    int64 ids (DGL's default idtype for Python lists), and
    num_nodes = max(max(u), max(v)) + 1 (DGL infers the node count from the ids);
  * g.in_degrees() / g.out_degrees(): int64 tensors of length num_nodes
    (out_degree[j] = #edges whose source is j);
  * g.edges(): (src, dst) int64 tensors in insertion order (fresh tensors, so the
    in-place relabelling in reorder.py does not touch the graph);
  * g.num_nodes(), g.num_edges(), g.ndata (a dict).
"""
import torch

__version__ = "shim-for-ViTCoD-reorder"


class _Graph:
    def __init__(self, src, dst):
        self._src = torch.as_tensor(list(src), dtype=torch.int64)
        self._dst = torch.as_tensor(list(dst), dtype=torch.int64)
        if self._src.numel() == 0:
            self._n = 0
        else:
            self._n = int(max(int(self._src.max()), int(self._dst.max()))) + 1
        self.ndata = {}

    def num_nodes(self):
        return self._n

    def num_edges(self):
        return int(self._src.numel())

    def out_degrees(self):
        return torch.bincount(self._src, minlength=self._n)

    def in_degrees(self):
        return torch.bincount(self._dst, minlength=self._n)

    def edges(self):
        return self._src.clone(), self._dst.clone()


def graph(data):
    src, dst = data
    return _Graph(src, dst)
