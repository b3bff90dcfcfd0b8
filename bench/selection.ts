/**
 * σ queries over a million units: the rank-identity lookup (sorted deciding ranks, one binary
 * search per layer and unit kind) against recounting every unit for each σ, in the same run.
 *
 *   node dist-bench/bench/selection.js
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  irrelevantPerDocument,
  Selection,
  UnitGroup
} from '../src/core/select';

const LAYERS = 32;
const FFN_WIDTH = 31_250;
const KV_GROUPS = 8;

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

function groups(): UnitGroup[] {
  const random = seeded(42);
  const make = (
    layer: number,
    kind: 'ffn' | 'attention',
    n: number,
    paramsPerUnit: number
  ): UnitGroup => ({
    layer,
    kind,
    paramsPerUnit,
    ranks: Uint32Array.from({ length: n }, () => Math.floor(random() * n))
  });
  return Array.from({ length: LAYERS }, (_, l) => [
    make(l, 'ffn', FFN_WIDTH, 3 * 4096),
    make(l, 'attention', KV_GROUPS, 4096 * 128 * 10)
  ]).flat();
}

/** The baseline: count, for one σ, every unit whose deciding rank is below ⌊σ·n⌋. */
function recount(all: UnitGroup[], sigma: number, total: number): number {
  let removed = 0;
  for (const group of all) {
    const k = irrelevantPerDocument(sigma, group.ranks.length);
    let pruned = 0;
    for (const r of group.ranks) {
      if (r < k) {
        pruned++;
      }
    }
    removed += Math.min(pruned, group.ranks.length - 1) * group.paramsPerUnit;
  }
  return removed / total;
}

function median(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function time(repeats: number, run: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  return median(times);
}

function main(): void {
  const all = groups();
  const units = all.reduce((sum, g) => sum + g.ranks.length, 0);
  const total = all.reduce(
    (sum, g) => sum + g.ranks.length * g.paramsPerUnit,
    0
  );
  let selection: Selection | undefined;
  const build = time(3, () => {
    selection = new Selection(all, total);
  });
  const s = selection as Selection;
  const sigmas = Array.from({ length: 50 }, (_, i) => 0.01 + (0.98 * i) / 49);
  // Both sides must agree before their speed means anything.
  for (const sigma of [0.1, 0.37, 0.8]) {
    if (Math.abs(s.ratio(sigma).ratio - recount(all, sigma, total)) > 1e-12) {
      throw new Error(`lookup and recount disagree at σ=${sigma}`);
    }
  }
  const query = time(101, () => s.ratio(0.37));
  const queryBaseline = time(11, () => recount(all, 0.37, total));
  const sweep = time(11, () => s.sweep(sigmas));
  const sweepBaseline = time(3, () =>
    sigmas.forEach(sigma => recount(all, sigma, total))
  );
  const solve = time(11, () => s.sigmaForRatio(0.25));
  const results = {
    units,
    buildMs: build,
    queryMs: query,
    queryBaselineMs: queryBaseline,
    queryRatio: query / queryBaseline,
    sweep50Ms: sweep,
    sweep50BaselineMs: sweepBaseline,
    sweepRatio: sweep / sweepBaseline,
    sigmaForRatioMs: solve
  };
  const ms = (n: number) => `${n.toFixed(3)} ms`;
  console.log(
    `σ queries over ${units.toLocaleString('en-US')} units (${LAYERS} layers)`
  );
  console.log(`  index build (sort ranks once)       ${ms(build)}`);
  console.log(
    `  one σ query: lookup / recount       ${ms(query)} / ${ms(queryBaseline)}  = ${results.queryRatio.toFixed(4)}`
  );
  console.log(
    `  50-point sweep: lookup / recount    ${ms(sweep)} / ${ms(sweepBaseline)}  = ${results.sweepRatio.toFixed(4)}`
  );
  console.log(`  σ for a 25% target (bisection)      ${ms(solve)}`);
  const out = path.resolve(__dirname, '../../bench/out');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(
    path.join(out, 'selection.json'),
    `${JSON.stringify(results, null, 2)}\n`
  );
}

main();
