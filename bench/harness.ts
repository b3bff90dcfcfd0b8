/**
 * What the benchmarks share: medians and paired ratios, batching, child processes whose peak
 * RSS is their own, and a plan that removes the same share of units from every layer.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { ModelMap } from '../src/engine/arch';
import { removedParams, UnitPlan } from '../src/engine/prune';

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Median of the ratios of runs made side by side (same round), which cancels slow drift. */
export function pairedRatio(a: number[], b: number[]): number {
  return median(a.map((value, i) => value / b[i]));
}

export function batches<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(items.slice(i, i + size));
  }
  return out;
}

export function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** This process's peak RSS in bytes. */
export const peakRss = () => process.resourceUsage().maxRSS * 1024;

/**
 * Runs `script` again in a fresh Node process with `args` and returns the JSON it prints on its
 * last line. A child's peak RSS is its own (this process only starts it).
 */
export function spawnChild<T>(script: string, args: string[]): T {
  const result = spawnSync(process.execPath, [script, ...args], {
    encoding: 'utf8',
    maxBuffer: 64 << 20
  });
  if (result.status !== 0) {
    throw new Error(`${args.join(' ')} failed:\n${result.stderr}`);
  }
  const lines = result.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}

/** Prints `result` as the last line of a child's output, for `spawnChild`. */
export function reply(result: unknown): void {
  process.stdout.write(`\n${JSON.stringify(result)}\n`);
}

export function describeMap(map: ModelMap): string {
  const a = map.layers[0].attention;
  const f = map.layers[0].ffn;
  return `${map.family}, ${map.layers.length} layers, hidden ${map.hidden}, ${a.heads} heads / ${a.kvHeads} KV heads (head size ${a.headSize}), FFN ${f.width}, vocab ${map.vocab}`;
}

/**
 * Removes the same share of FFN channels and attention groups from every layer (a layer keeps
 * one group at least), about `target` of the prunable parameters.
 */
export function uniformPlan(
  map: ModelMap,
  target: number
): { plan: UnitPlan; ratio: number; groups: number; channels: number } {
  const a = map.layers[0].attention;
  const f = map.layers[0].ffn;
  const layerParams = a.units * a.paramsPerUnit + f.units * f.paramsPerUnit;
  const groups = Math.min(a.units - 1, Math.round(target * a.units));
  const channels = Math.max(
    0,
    Math.min(
      f.units - 1,
      Math.round(
        (target * layerParams - groups * a.paramsPerUnit) / f.paramsPerUnit
      )
    )
  );
  const spread = (count: number, of: number) =>
    Array.from({ length: count }, (_, j) => Math.floor((j * of) / count));
  const plan: UnitPlan = {
    layers: map.layers.map(layer => {
      if (
        layer.attention.units !== a.units ||
        layer.ffn.units !== f.units ||
        layer.attention.paramsPerUnit !== a.paramsPerUnit ||
        layer.ffn.paramsPerUnit !== f.paramsPerUnit
      ) {
        throw new Error('the layers are not all alike');
      }
      return {
        index: layer.index,
        ffn: spread(channels, f.units),
        attention: spread(groups, a.units)
      };
    })
  };
  return {
    plan,
    ratio: removedParams(map, plan) / map.prunableParams,
    groups,
    channels
  };
}
