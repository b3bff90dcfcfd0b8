#!/usr/bin/env bash
# The baseline table of docs/baselines.md: the demo's 3D expert against every baseline at 10% and
# 25% on the larger held-out sets, and the 1D/2D/3D ablation at 25%. Run it from the repository
# root after `make demo DEMO_MODEL=…`, which leaves the export (demo/build/$DEMO_MODEL) and the run
# folder with its scores:
#
#   DEMO_MODEL=smollm2 demo/baseline-table.sh              # every set (SETS=all, the default)
#   DEMO_MODEL=gemma3 SETS=short demo/baseline-table.sh    # the sets that fit Gemma 3 on 2 cores
#
# SETS=all evaluates every point on the expert's cell, each dimension and the general set, by
# perplexity (table/) and by continuation multiple choice (cont-*). SETS=short evaluates the
# perplexity on make demo's own sets (the expert's cell and quick/ppl-general, so every point
# comes from the run's cache) and, in a second pass, the multiple choice on the expert's cell
# and quick/cont-general. Evaluations are cached in RUN/evaluations.jsonl by model, sets and
# units removed: killed and run again, it resumes. The JSON goes to demo-output/table/.
set -euo pipefail
DEMO_MODEL=${DEMO_MODEL:-smollm2}
SETS=${SETS:-all}
case "$DEMO_MODEL" in
  smollm2) LANGUAGE=en ;;
  gemma3) LANGUAGE=de ;;
  *)
    echo "demo/baseline-table.sh: DEMO_MODEL is smollm2 or gemma3, not '$DEMO_MODEL'" >&2
    exit 2
    ;;
esac
cusprun() { .venv/bin/cusprun "$@"; }
E=demo/data/eval
EXPERT=$LANGUAGE-computing-qa
RUN=${RUN:-.cusprun/demo-$DEMO_MODEL-$EXPERT}
OUT=demo-output/table
mkdir -p "$OUT"

# One sweep (cus-prun and the five baselines at 10% and 25%) and one ablation (25%) on the sets
# given, written to $OUT/$DEMO_MODEL-{sweep,ablation}$1.json.
table() {
  local suffix=$1
  shift
  local sets=()
  for set in "$@"; do sets+=(--eval "$set"); done
  echo "== $(date -u +%T) sweep $DEMO_MODEL$suffix"
  cusprun sweep --run "$RUN" --target-ratios 0.1,0.25 "${sets[@]}" \
    --json "$OUT/$DEMO_MODEL-sweep$suffix.json"
  echo "== $(date -u +%T) ablate $DEMO_MODEL$suffix"
  cusprun ablate --run "$RUN" --target-ratio 0.25 "${sets[@]}" \
    --json "$OUT/$DEMO_MODEL-ablation$suffix.json"
  echo "== $(date -u +%T) done $DEMO_MODEL$suffix"
}

case "$SETS" in
  all)
    table "" \
      "expert=$E/ppl-cell-$EXPERT.jsonl" \
      "$LANGUAGE=$E/table/ppl-language-$LANGUAGE.jsonl" \
      "computing=$E/table/ppl-domain-computing.jsonl" \
      "qa=$E/table/ppl-task-qa.jsonl" \
      "general=$E/table/ppl-general.jsonl" \
      "expert-mc=$E/cont-cell-$EXPERT.jsonl" \
      "general-mc=$E/cont-general.jsonl" \
      "$LANGUAGE-mc=$E/cont-language-$LANGUAGE.jsonl" \
      "computing-mc=$E/cont-domain-computing.jsonl" \
      "qa-mc=$E/cont-task-qa.jsonl"
    ;;
  short)
    table -ppl "expert=$E/ppl-cell-$EXPERT.jsonl" "general=$E/quick/ppl-general.jsonl"
    table -mc "expert-mc=$E/cont-cell-$EXPERT.jsonl" "general-mc=$E/quick/cont-general.jsonl"
    ;;
  *)
    echo "demo/baseline-table.sh: SETS is all or short, not '$SETS'" >&2
    exit 2
    ;;
esac
