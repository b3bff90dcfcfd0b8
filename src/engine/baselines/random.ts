/** The random baseline: per layer and kind, the same count of units drawn with a seeded PRNG. */
import { ModelMap } from '../../core/model/model-map';
import { mulberry32 } from '../corpus/sample';
import { UnitPlan } from '../../core/model/unit-plan';
import { mappedLayer, planLike } from './plan';

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
