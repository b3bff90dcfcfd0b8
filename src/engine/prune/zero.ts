/**
 * The reference a prune must equal: the original graph with the plan's units zeroed (weights and
 * bias entries set to 0, shapes unchanged).
 */
import { ModelMap } from '../../core/model/model-map';
import { withInitializers } from '../onnx/edit';
import { OnnxModel } from '../onnx/model';
import { ModelProto } from '../onnx/proto';
import { UnitPlan } from '../../core/model/unit-plan';
import { cutTensors } from './units';

export function zeroUnits(
  model: OnnxModel,
  map: ModelMap,
  plan: UnitPlan
): ModelProto {
  return withInitializers(model.proto, cutTensors(model, map, plan, 'zero'));
}
