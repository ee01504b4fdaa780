#!/usr/bin/env bash
# Run ViTCoD's released simulator (GATECH-EIC/ViTCoD @ b2f7fb5, Hardware/Simulator)
# unchanged, in its own venv, on the real DeiT-Tiny 95% mask.
#
#   bash run_released.sh            # creates ./venv on first use, then runs
#
# What is patched (paths/environment only, never a formula) -- see NOTES.md:
#   * the snapshot lacks masks/deit_tiny_lowrank/reodered_info_0.95.npy (blob absent),
#     so the released reorder.py is run first to regenerate it;
#   * reorder.py's hard-coded os.walk root '/home/sheminghao/ViTCoD/Hardware/Simulator/
#     masks/deit_tiny_lowrank' is rewritten (in a scratch copy) to the relative path;
#   * reorder.py imports dgl; no DGL wheel loads with torch 2.13.0, so shims/dgl (a
#     20-line stand-in for dgl.graph / out_degrees / edges) is put on PYTHONPATH;
#   * the shipped logs are removed from the scratch copy so that the (append-mode)
#     logs written by this run contain this run only.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The released code itself is never part of vitsim: extract it from a git snapshot of
# GATECH-EIC/ViTCoD (VITCOD_GIT=/path/to/ViTCoD.git, a bare or normal git dir) into
# checkout/ (b2f7fb5) and checkout_0b4031a/, blob by blob (the snapshot may lack a blob
# that `git archive` would stop on).
extract() {  # $1 = commit, $2 = target folder
  mkdir -p "$2"
  git --git-dir="$VITCOD_GIT" ls-tree -r "$1" Hardware/Simulator | while read -r _ type sha path; do
    [ "$type" = blob ] || continue
    out="$2/${path#Hardware/Simulator/}"; mkdir -p "$(dirname "$out")"
    git --git-dir="$VITCOD_GIT" cat-file blob "$sha" > "$out" 2>/dev/null || rm -f "$out"
  done
}
if [ ! -d "$HERE/checkout" ]; then
  : "${VITCOD_GIT:?set VITCOD_GIT to a git snapshot of GATECH-EIC/ViTCoD}"
  extract b2f7fb5 "$HERE/checkout"
  extract 0b4031a "$HERE/checkout_0b4031a"
fi
VENV="$HERE/venv"
MASK_SRC="${MASK_SRC:-/work/shared/data/deit_tiny_info_0.95.npy}"
RUN="$HERE/run"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  # torch: only for `from torch import embedding` (ViT_FFN.py, unused) and reorder.py;
  # pytest: only for test_released_model.py.
  "$VENV/bin/pip" install -q numpy==1.26.4 scipy==1.17.1 matplotlib==3.11.2 torch==2.13.0 pytest \
      2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
fi
PY="$VENV/bin/python"
"$PY" -c "import numpy, scipy, torch, matplotlib; print('python', __import__('sys').version.split()[0], '| numpy', numpy.__version__, '| scipy', scipy.__version__, '| torch', torch.__version__, '| matplotlib', matplotlib.__version__)"

rm -rf "$RUN"
cp -r "$HERE/checkout" "$RUN"
M="$RUN/masks/deit_tiny_lowrank"
rm -f "$M/vitcod_atten_0.95_wo.txt" "$M/vitcod_atten_ffn.txt"
cp "$M/global_token_info_0.95.npy" "$RUN/shipped_global_token_info_0.95.npy"

# The mask we simulate is the shared copy; it must be the released info_0.95.npy.
"$PY" - "$MASK_SRC" "$M/info_0.95.npy" <<'PYEOF'
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert a.dtype == b.dtype and a.shape == b.shape and (a == b).all(), "shared mask != released info_0.95.npy"
print("mask", sys.argv[1], a.shape, a.dtype, "== released info_0.95.npy; kept density %.4f" % (1 - a.mean()))
PYEOF
cp "$MASK_SRC" "$M/info_0.95.npy"

sed -i "s#/home/sheminghao/ViTCoD/Hardware/Simulator/masks/deit_tiny_lowrank#masks/deit_tiny_lowrank#" "$RUN/reorder.py"

cd "$RUN"
mkdir -p "$RUN/logs"   # each simulator's append-mode log is moved here after its run

echo "===== reorder.py (regenerates reodered_info_0.95.npy + global_token_info_0.95.npy)"
s=$(date +%s.%N)
PYTHONPATH="$HERE/shims" MPLBACKEND=Agg "$PY" reorder.py
e=$(date +%s.%N); echo "[wall] reorder.py: $(echo "$e - $s" | bc) s"
"$PY" -c "
import numpy as np
a=np.load('masks/deit_tiny_lowrank/global_token_info_0.95.npy'); b=np.load('shipped_global_token_info_0.95.npy')
assert (a==b).all(); print('regenerated global_token_info_0.95.npy == shipped one:', a.astype(int).tolist())
r=np.load('masks/deit_tiny_lowrank/reodered_info_0.95.npy'); print('reodered_info_0.95.npy', r.shape, r.dtype)"

echo "===== ViTCoD.py (defaults: ratio=2/3, PE_width=64, PE_height=8)"
s=$(date +%s.%N)
"$PY" ViTCoD.py --root masks/deit_tiny_lowrank --sparse 0.95 2>&1
e=$(date +%s.%N); echo "[wall] ViTCoD.py: $(echo "$e - $s" | bc) s"
mv "$M/vitcod_atten_0.95_wo.txt" logs/vitcod_atten_0.95_wo.default.txt

echo "===== ViT_FFN.py (defaults: embedding=192, ratio=2/3, PE_width=64, PE_height=8)"
s=$(date +%s.%N)
"$PY" ViT_FFN.py --root masks/deit_tiny_lowrank --sparse 0.95 2>&1
e=$(date +%s.%N); echo "[wall] ViT_FFN.py: $(echo "$e - $s" | bc) s"
mv "$M/vitcod_atten_ffn.txt" logs/vitcod_atten_ffn.default.txt

echo "===== README commands (--ratio 0.667): totals only"
"$PY" ViTCoD.py --root masks/deit_tiny_lowrank --sparse 0.95 --feature_dim 64 --ratio 0.667 --PE_width 64 --PE_height 8 2>&1 | grep -i "total"
"$PY" ViT_FFN.py --root masks/deit_tiny_lowrank --sparse 0.95 --feature_dim 64 --embedding 192 --ratio 0.667 --PE_width 64 --PE_height 8 2>&1 | grep -i "total"
mv "$M/vitcod_atten_0.95_wo.txt" logs/vitcod_atten_0.95_wo.readme_args.txt
mv "$M/vitcod_atten_ffn.txt" logs/vitcod_atten_ffn.readme_args.txt

# ---------------------------------------------------------------------------
# Extra checks for the re-implementation (not part of the release's own flow)
# ---------------------------------------------------------------------------
echo "===== earlier commit 0b4031a ViTCoD.py/ViT_FFN.py on the same reordered mask"
R0="$HERE/run_0b4031a"; rm -rf "$R0"; mkdir -p "$R0/masks/deit_tiny_lowrank" "$R0/logs"
cp "$HERE/checkout_0b4031a/"*.py "$R0/"
cp "$M/reodered_info_0.95.npy" "$M/global_token_info_0.95.npy" "$R0/masks/deit_tiny_lowrank/"
cd "$R0"
"$PY" ViTCoD.py > logs/vitcod_atten_0.95_wo.txt 2>&1; grep -i total logs/vitcod_atten_0.95_wo.txt
"$PY" ViT_FFN.py > logs/vitcod_atten_ffn.txt 2>&1; grep -i "total" logs/vitcod_atten_ffn.txt
rm -f masks/deit_tiny_lowrank/*.txt

echo "===== b2f7fb5 on a random 90%-sparse-ish mask (random_mask.py, seed 0)"
RR="$HERE/run_random"; rm -rf "$RR"; cp -r "$HERE/checkout" "$RR"; mkdir -p "$RR/logs"
MR="$RR/masks/deit_tiny_lowrank"
rm -f "$MR/"*.txt "$MR/global_token_info_0.95.npy"
"$PY" "$HERE/random_mask.py" "$MR/info_0.95.npy" 0
sed -i "s#/home/sheminghao/ViTCoD/Hardware/Simulator/masks/deit_tiny_lowrank#masks/deit_tiny_lowrank#" "$RR/reorder.py"
cd "$RR"
PYTHONPATH="$HERE/shims" MPLBACKEND=Agg "$PY" reorder.py
"$PY" -c "import numpy as np; print('global tokens (random):', np.load('masks/deit_tiny_lowrank/global_token_info_0.95.npy').astype(int).tolist())"
"$PY" ViTCoD.py --root masks/deit_tiny_lowrank --sparse 0.95 > /dev/null 2>&1
mv "$MR/vitcod_atten_0.95_wo.txt" logs/vitcod_atten_0.95_wo.txt
grep -i total logs/vitcod_atten_0.95_wo.txt

echo "===== all 36 heads, one at a time: the reordered mask reshaped to [36 layers, 1 head]"
# Input preparation only: with head = 1 the released formulas give every head all
# the MAC columns (serial heads) and per-head load sizes.  0b4031a's ViTCoD.py then
# is the honest 512-MAC reading (64 lines x PE_height 8) up to its 1.5x sparse-V
# load factor; b2f7fb5's is the same with 64 x 64 MACs.
RF="$HERE/run_flat"; rm -rf "$RF"; mkdir -p "$RF/b2f7fb5/masks/flat" "$RF/0b4031a/masks/deit_tiny_lowrank" "$RF/logs"
cp "$HERE/checkout/"*.py "$RF/b2f7fb5/"; cp "$HERE/checkout_0b4031a/"*.py "$RF/0b4031a/"
"$PY" - "$M" "$RF" <<'PYEOF'
import sys, numpy as np
src, dst = sys.argv[1], sys.argv[2]
r = np.load(src + "/reodered_info_0.95.npy"); g = np.load(src + "/global_token_info_0.95.npy")
L, H = g.shape
for d in (dst + "/b2f7fb5/masks/flat", dst + "/0b4031a/masks/deit_tiny_lowrank"):
    np.save(d + "/reodered_info_0.95.npy", r.reshape(L * H, 1, *r.shape[2:]))
    np.save(d + "/global_token_info_0.95.npy", g.reshape(L * H, 1))
print("flattened", r.shape, "->", (L * H, 1) + r.shape[2:])
PYEOF
cd "$RF/b2f7fb5"; "$PY" ViTCoD.py --root masks/flat --sparse 0.95 > ../logs/b2f7fb5_flat.txt 2>&1; grep -i total ../logs/b2f7fb5_flat.txt
cd "$RF/0b4031a"; "$PY" ViTCoD.py > ../logs/0b4031a_flat.txt 2>&1; grep -i total ../logs/0b4031a_flat.txt
