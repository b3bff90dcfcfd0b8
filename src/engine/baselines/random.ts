/** The random baseline: per layer and kind, the same count of units drawn with a seeded PRNG. */
import { ModelMap } from '../arch/types';
import { UnitPlan } from '../prune/plan';
import { mappedLayer, planLike } from './plan';

/** mulberry32: small, fast, and the same sequence on every platform for a seed. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomPlan(
  map: ModelMap,
  reference: UnitPlan,
  seed: number
): UnitPlan {
  const next = mulberry32(seed);
  const draw = (n: number) => Float64Array.from({ length: n }, next);
  return planLike(reference, layer => {
    const mapped = mappedLayer(map, layer.index);
    return {
      ffn: draw(mapped.ffn.units),
      attention: draw(mapped.attention.units)
    };
  });
}
