/**
 * How a user sees the numbers of a plan, the same in the CLI's tables, the notebook's outputs,
 * the charts and the panel (the kernel's Python reads the same rules from the generated
 * constants): σ with four decimals, ratios as percentages with two, perplexity with two and
 * accuracies with three decimals, '-' where there is none.
 */
export const SIGMA_DECIMALS = 4;
export const PERCENT_DECIMALS = 2;
/** Perplexity with two decimals; accuracies and other scores in [0, 1] with three. */
export const PERPLEXITY_DECIMALS = 2;
export const SCORE_DECIMALS = 3;
/** A relative change in percent with one decimal. */
export const CHANGE_DECIMALS = 1;
/** What a cell shows for a value that does not apply (σ of the dense model). */
export const NOT_APPLICABLE = '-';

export function formatSigma(sigma: number | undefined): string {
  return sigma === undefined ? NOT_APPLICABLE : sigma.toFixed(SIGMA_DECIMALS);
}

/** A ratio (0.2532) as a percentage ("25.32%"). */
export function formatRatio(ratio: number | undefined): string {
  return ratio === undefined
    ? NOT_APPLICABLE
    : `${(100 * ratio).toFixed(PERCENT_DECIMALS)}%`;
}

/** An evaluation metric's value: perplexity "32.02", an accuracy "0.583". */
export function formatMetric(metric: string, value: number): string {
  if (!Number.isFinite(value)) {
    return Number.isNaN(value) ? 'NaN' : value > 0 ? '∞' : '-∞';
  }
  return value.toFixed(
    metric === 'perplexity' ? PERPLEXITY_DECIMALS : SCORE_DECIMALS
  );
}

/** A relative change (−0.018) as a signed percentage with one decimal ("−1.8%", "+0.6%"). */
export function formatChange(change: number): string {
  const percent = (100 * change).toFixed(CHANGE_DECIMALS);
  return change < 0 ? `−${percent.slice(1)}%` : `+${percent}%`;
}

/** A count with thousands separators ("1,000,256"). */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** A decoding speed, whole tokens per second with separators ("1,234 tokens/s"). */
export function formatTokensPerSecond(rate: number): string {
  return `${formatCount(Math.round(rate))} tokens/s`;
}

/** σ written into a command line: at most four decimals, no trailing zeros ("0.505"). */
export function sigmaArgument(sigma: number): string {
  return String(Number(sigma.toFixed(SIGMA_DECIMALS)));
}
