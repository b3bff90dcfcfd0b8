"""The constants cusprun's kernel bridge shares with its sidecar and its lab: generated from
src/core by `npm run generate` (scripts/contract.js); do not edit."""

PROTOCOL_VERSION = 1
PROTOCOL_HEADER = "X-Cusprun-Protocol"
EVENTS_PATH = "/api/events"
RUN_ID_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$"
JOB_TYPES = (
    "score",
    "plan",
    "prune",
    "verify",
    "eval",
    "sweep",
    "ablate",
    "generate",
    "study",
)
FINAL_STATES = ("done", "failed", "cancelled", "interrupted")
METHODS = ("cus-prun", "random", "magnitude", "general", "wanda", "flap")
COMPENSATIONS = ("none", "bias", "regression")
REMOVED_UNITS = {
    "none": "zeroed",
    "bias": "replaced by their means",
    "regression": "replaced by their ridge predictions",
}
DEFAULT_PRUNE_COMPENSATION = "regression"
ABLATION_GENERAL_LABEL = "general ({n}D counts)"
STUDY_COMPARED = ("general", "wanda")
MAX_GRID_POINTS = 1000
DEFAULT_RANK_BINS = 200
VEGALITE_MIME_TYPE = "application/vnd.vegalite.v5+json"
SWEEP_MIME_TYPE = "application/vnd.cusprun.sweep+json"
SIGMA_DECIMALS = 4
PERCENT_DECIMALS = 2
PERPLEXITY_DECIMALS = 2
SCORE_DECIMALS = 3
CHANGE_DECIMALS = 1
NOT_APPLICABLE = "-"
EVAL_CACHE_FILE = "evaluations.jsonl"
BASELINE_SCORES_DIR = "baseline-scores"
EVENTS_FILE = "events.jsonl"
EXIT_WITH_PARENT_ENV = "CUSPRUN_EXIT_WITH_PARENT"
SWEEP_INPUTS = ("run.json", "scores", "evaluations.jsonl", "baseline-scores")
