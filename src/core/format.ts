/**
 * How a user sees the numbers of a plan, the same in the CLI's tables, the notebook's outputs,
 * the charts and the panel (the kernel's Python reads the same rules from the generated
 * constants): σ with four decimals, ratios as percentages with two, '-' where there is none.
 */
export const SIGMA_DECIMALS = 4;
export const PERCENT_DECIMALS = 2;
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

/** A count with thousands separators ("1,000,256"). */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** σ written into a command line: at most four decimals, no trailing zeros ("0.505"). */
export function sigmaArgument(sigma: number): string {
  return String(Number(sigma.toFixed(SIGMA_DECIMALS)));
}
