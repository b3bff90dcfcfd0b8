/**
 * The reference a prune must equal: the original graph with the plan's units zeroed (weights and
 * bias entries set to 0, shapes unchanged); with statistics, also compensated as the pruned
 * model is (compensate.ts).
 */
import { ModelMap } from '../../core/model/model-map';
import { withInitializers } from '../onnx/edit';
import { OnnxModel } from '../onnx/model';
import { ModelProto } from '../onnx/proto';
import { UnitPlan } from '../../core/model/unit-plan';
import {
  CompensationStatistics,
  compensationEdits,
  withCompensation
} from './compensate';
import { cutTensors } from './units';

export function zeroUnits(
  model: OnnxModel,
  map: ModelMap,
  plan: UnitPlan,
  statistics?: CompensationStatistics
): ModelProto {
  const edits = compensationEdits(model, map, plan, statistics);
  const zeroed = withInitializers(
    model.proto,
    cutTensors(model, map, plan, 'zero', edits.weights)
  );
  return withCompensation(model, zeroed, edits);
}
