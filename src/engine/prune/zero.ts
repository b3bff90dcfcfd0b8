/**
 * The reference a prune must equal: the original graph with the plan's units zeroed (weights and
 * bias entries set to 0, shapes unchanged); with `means`, also bias-compensated as the pruned
 * model is (compensation.ts).
 */
import { ModelMap } from '../../core/model/model-map';
import { withInitializers } from '../onnx/edit';
import { OnnxModel } from '../onnx/model';
import { ModelProto } from '../onnx/proto';
import { UnitPlan } from '../../core/model/unit-plan';
import { compensationBiases, withProjectionBiases } from './compensation';
import { ProjectionMeans } from './means';
import { cutTensors } from './units';

export function zeroUnits(
  model: OnnxModel,
  map: ModelMap,
  plan: UnitPlan,
  means?: ProjectionMeans
): ModelProto {
  const zeroed = withInitializers(
    model.proto,
    cutTensors(model, map, plan, 'zero')
  );
  return means
    ? withProjectionBiases(
        model,
        zeroed,
        compensationBiases(model, map, plan, means)
      )
    : zeroed;
}
