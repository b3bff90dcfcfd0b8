#!/usr/bin/env bash
# The quick start's main job: prune the embedded default model into a German · computing · QA
# expert at a 25% ratio (σ solved), and compare it with the dense model and the baselines at the
# same ratio on the expert's and general evaluation sets. Every step is a plain `cusprun` command.
#   RUN (default .cusprun/demo-de-computing-qa): the run folder (scores, sweeps, ablations)
#   OUT (default demo-output): the expert model, the charts (SVG + Vega-Lite), the CSV tables and
#   the executed example notebook (examples/cusprun-quickstart.ipynb)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-.cusprun/demo-de-computing-qa}
OUT=${OUT:-demo-output}
TARGET=0.25
cusprun() { node dist/sidecar/cli.js "$@"; }
step() { printf '\n== %s\n' "$*"; }

E=demo/data/eval
SETS=(
  --eval "expert=$E/ppl-cell-de-computing-qa.jsonl"
  --eval "de=$E/ppl-language-de.jsonl"
  --eval "computing=$E/ppl-domain-computing.jsonl"
  --eval "qa=$E/ppl-task-qa.jsonl"
  --eval "general=$E/ppl-general.jsonl"
  --eval "commands-de=$E/mc-command-de.jsonl"
  --eval "general-mc=$E/mc-general.jsonl"
)

step "cusprun score: every unit on the German, computing and QA corpora"
cusprun score demo/model --corpus demo/expert-de-computing-qa.yaml --run "$RUN"

step "cusprun plan: the 3D expert at a $TARGET target ratio"
cusprun plan --run "$RUN" --target-ratio "$TARGET" --charts "$OUT/charts"

step "cusprun prune: write it, and check it against the original with the units zeroed"
cusprun prune --run "$RUN" --target-ratio "$TARGET" --out "$OUT/expert-model" --overwrite | tail -n 1

step "cusprun verify: check the written folder again, on its own"
cusprun verify "$OUT/expert-model"

step "cusprun eval: the written expert against the dense model (size, quality, latency)"
cusprun eval demo/model "$OUT/expert-model" "${SETS[@]}" --latency

step "cusprun sweep: the expert against the baselines, same ratio, same units per layer"
cusprun sweep --run "$RUN" --target-ratios "$TARGET" "${SETS[@]}" \
  --charts "$OUT/charts" --csv "$OUT/comparison.csv"

step "cusprun ablate: 1D, 2D and 3D experts at the same ratio"
cusprun ablate --run "$RUN" --target-ratio "$TARGET" "${SETS[@]}" \
  --charts "$OUT/charts" --csv "$OUT/ablation.csv"

step "the example notebook, with the magics, executed headless and saved with its outputs"
"${JUPYTER:-.venv/bin/jupyter}" nbconvert --to notebook --execute \
  examples/cusprun-quickstart.ipynb --output-dir "$OUT"

step "done: run folder $RUN, expert model $OUT/expert-model, charts in $OUT/charts, notebook $OUT/cusprun-quickstart.ipynb"
