#!/usr/bin/env bash
# Issue 18's results table: both real models, 25% and 10%, every variant against the baselines at
# its per-layer counts, over two document samples (seeds 0 and 1). Each line of VARIANTS below is
# one demo/study.sh run (one `cusprun study`) per model; `cusprun report` then merges their JSON
# records into one Markdown file: per model and corpus, one table with the
# expert set, each dimension alone, the general set, both multiple-choice sets and the greedy
# texts. Evaluations are cached in each run's evaluations.jsonl (by model, set and units removed):
# killed and run again, it resumes, and a variant shared by two lines is evaluated once.
#   MODELS   (default "smollm2 gemma3"; demo/expert.sh exports them to demo/build/<model> first)
#   REPORT   where the report goes (default demo-output/results.md; docs/results.md is a copy)
# Wall time on 2 cores from nothing cached: several hours (the README gives this run's).
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${MODELS:-smollm2 gemma3}
REPORT=${REPORT:-demo-output/results.md}
# One study each: the rules (the paper's, the relaxed q 0.75, the two aggregation rules, the
# default rank-mean) against general calibration and Wanda-style; rank-mean against random and
# magnitude; pooled-intersect and rank-mean bias-compensated, against the baselines compensated
# with the same means (the expert corpora's); keeping attention groups; on 128 documents per
# dimension; on documents truncated at 256 tokens; rank-mean regression-compensated, against the
# baselines compensated with the same fit statistics; allocated by sensitivity (last: its probe
# evaluates the expert without each layer module in turn, 2 × 61 evaluations on SmolLM2).
VARIANTS=(
  "QS=1,0.75 RULES=pooled-intersect,rank-mean METHODS=cus-prun,general,wanda"
  "QS= RULES=rank-mean METHODS=random,magnitude"
  "QS= RULES=pooled-intersect,rank-mean METHODS=cus-prun,general,wanda COMPENSATION=bias"
  "QS= RULES=rank-mean ATTENTION=keep METHODS=cus-prun,general,wanda"
  "QS= RULES=rank-mean DOCUMENTS=128 METHODS=cus-prun,general,wanda"
  "QS= RULES=rank-mean TRUNCATION=256 METHODS=cus-prun,general,wanda"
  "QS= RULES=rank-mean METHODS=cus-prun,general,wanda COMPENSATION=regression"
  "QS= RULES=rank-mean ALLOCATIONS=sensitivity METHODS=cus-prun,general,wanda"
)
STUDIES=()
for model in $MODELS; do
  for variant in "${VARIANTS[@]}"; do
    echo "== $(date -u +%T) $model: $variant" >&2
    # shellcheck disable=SC2086 # each line is a list of VAR=value words
    # The study's table to stderr as well (-a: a log file there must not be truncated).
    out=$(env DEMO_MODEL="$model" RATIOS=0.25,0.1 COMPENSATION=none $variant bash demo/study.sh | tee -a /dev/stderr)
    STUDIES+=("$(sed -n 's/^wrote \(.*\.json\)$/\1/p' <<<"$out")")
  done
done
"${CUSPRUN:-.venv/bin/cusprun}" report "${STUDIES[@]}" --out "$REPORT"
