#!/usr/bin/env bash
# Is the expert worth it? One `cusprun study` over two document samples of the demo corpora
# (seeds 0 and 1: demo/expert-*-computing-qa.yaml and …-seed1.yaml): the paper's rule (q 1) and
# the relaxed rule (q 0.9, 0.75, 0.5), plain and bias-compensated, against random, magnitude,
# general calibration and Wanda-style at each expert's per-layer counts, on the expert set and a
# general set (perplexity; on the real models also their multiple-choice sets and each of the
# expert's dimensions alone), each model decoding the
# demo prompts greedily (20 tokens). The baselines are calibrated as general pruning is: on a run
# of the same model over every cell of the demo corpora (demo/general-all.yaml, --baseline-run);
# BASELINES=own calibrates them on each expert run's own documents instead. The table with the
# first run's greedy texts (TIME.md), CSV, JSON and chart land in the first run's study/ folder.
#   DEMO_MODEL  embedded (default: demo/model, nothing fetched), smollm2 or gemma3 (German ·
#               computing · QA; demo/expert.sh exports them to demo/build/<model> first)
#   RATIOS      target ratios (default 0.1,0.25)
#   QS          q values (default 1,0.9,0.75,0.5; QS= with RULES: those rules' experts alone)
#   RULES       further selection rules, each an expert of its own (default none; e.g.
#               pooled-intersect,rank-mean)
#   ALLOCATIONS  per-layer allocations (default sigma; sigma,sensitivity probes each layer module)
#   ATTENTION   prune (default), keep or prune,keep: experts that may remove attention groups
#               and/or experts that keep them all (--keep-attention)
#   METHODS     (default cus-prun,random,magnitude,general,wanda)
#   COMPENSATION  (default none,bias)   BASELINES  general (default) or own
#   DOCUMENTS, TRUNCATION  documents per dimension and tokens per document of the calibration
#               corpora, the experts' and the general baseline run's alike (default: the
#               manifests' own, 32 and 128); either set scores copies of the manifests with
#               those values (demo/build/manifests/) into runs named …-dD-tT. The evaluation
#               sets and their truncation stay as they are, so every corpus size is measured on
#               the same text.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO_MODEL=${DEMO_MODEL:-embedded}
cusprun() { "${CUSPRUN:-.venv/bin/cusprun}" "$@"; }
E=demo/data/eval
# Each of the expert's dimensions alone (its language's, computing's, QA's text), after the sets
# earlier studies had, so that their cached evaluations are read (a suite's leading sets).
dimension_sets() {
  DIMENSION_SETS=(
    "language=$E/quick/ppl-language-$1.jsonl"
    "domain=$E/quick/ppl-domain-computing.jsonl"
    "task=$E/quick/ppl-task-qa.jsonl"
  )
}
case "$DEMO_MODEL" in
  # The 2.9M model answers no multiple-choice set above chance (DATA.md): perplexity only.
  embedded) MODEL=demo/model LANGUAGE=de SETS=("general=$E/ppl-general.jsonl") ;;
  smollm2)
    MODEL=demo/build/smollm2 LANGUAGE=en
    dimension_sets en
    SETS=(
      "general=$E/quick/ppl-general.jsonl"
      "expert-mc=$E/quick/cont-cell-en-computing-qa.jsonl"
      "general-mc=$E/quick/cont-general.jsonl"
      "${DIMENSION_SETS[@]}"
    )
    ;;
  gemma3)
    MODEL=demo/build/gemma3 LANGUAGE=de
    dimension_sets de
    SETS=(
      "general=$E/quick/ppl-general.jsonl"
      "expert-mc=$E/quick/cont-cell-de-computing-qa.jsonl"
      "general-mc=$E/quick/cont-general.jsonl"
      "${DIMENSION_SETS[@]}"
    )
    ;;
  *)
    echo "demo/study.sh: DEMO_MODEL is embedded, smollm2 or gemma3, not '$DEMO_MODEL'" >&2
    exit 2
    ;;
esac
EXPERT=$LANGUAGE-computing-qa
# The manifest to score: the demo's own, or a copy with DOCUMENTS and TRUNCATION (its relative
# sources rewritten to reach demo/ from demo/build/manifests/).
SUFFIX=
[ -z "${DOCUMENTS:-}${TRUNCATION:-}" ] || SUFFIX=-d${DOCUMENTS:-32}-t${TRUNCATION:-128}
manifest_of() {
  [ -n "$SUFFIX" ] || { echo "demo/$1.yaml"; return; }
  local copy=demo/build/manifests/$1$SUFFIX.yaml
  mkdir -p demo/build/manifests
  sed -e "s/^documents: .*/documents: ${DOCUMENTS:-32}/" \
    -e "s/^truncation: .*/truncation: ${TRUNCATION:-128}/" \
    -e 's#\([[ ]\)data/#\1../../data/#g' "demo/$1.yaml" >"$copy"
  echo "$copy"
}
RUNS=()
for seed in 0 1; do
  manifest=$(manifest_of "expert-$EXPERT$([ "$seed" = 0 ] || echo "-seed$seed")")
  run=.cusprun/study-$DEMO_MODEL-$EXPERT-seed$seed$SUFFIX
  cusprun score "$MODEL" --corpus "$manifest" --run "$run" | tail -n 1
  RUNS+=(--run "$run")
done
CALIBRATION=()
case "${BASELINES:-general}" in
  general)
    general=.cusprun/general-$DEMO_MODEL$SUFFIX
    cusprun score "$MODEL" --corpus "$(manifest_of general-all)" --run "$general" | tail -n 1
    CALIBRATION=(--baseline-run "$general")
    ;;
  own) ;;
  *)
    echo "demo/study.sh: BASELINES is general or own, not '$BASELINES'" >&2
    exit 2
    ;;
esac
QS=${QS-1,0.9,0.75,0.5}
QS_OPTION=()
[ -z "$QS" ] || QS_OPTION=(--q "$QS")
EVAL=(--eval "expert=$E/ppl-cell-$EXPERT.jsonl")
for set in "${SETS[@]}"; do EVAL+=(--eval "$set"); done
time cusprun study "${RUNS[@]}" "${CALIBRATION[@]}" --target-ratios "${RATIOS:-0.1,0.25}" \
  "${QS_OPTION[@]}" \
  ${RULES:+--rules "$RULES"} ${ALLOCATIONS:+--allocations "$ALLOCATIONS"} \
  ${ATTENTION:+--attention "$ATTENTION"} \
  --methods "${METHODS:-cus-prun,random,magnitude,general,wanda}" \
  --compensation "${COMPENSATION:-none,bias}" "${EVAL[@]}" \
  --prompts "demo/data/prompts-$LANGUAGE.jsonl" --max-new-tokens 20
