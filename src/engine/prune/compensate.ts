/**
 * A plan's compensation from the statistics it was fitted on: channel means (bias compensation,
 * compensation.ts) or channel Gram matrices (regression compensation, regression.ts).
 */
import { ModelMap } from '../../core/model/model-map';
import { UnitPlan } from '../../core/model/unit-plan';
import { OnnxModel } from '../onnx/model';
import { ModelProto } from '../onnx/proto';
import {
  CompensationEdits,
  compensationBiases,
  withProjectionBiases
} from './compensation';
import { ProjectionMeans } from './means';
import {
  isProjectionGrams,
  ProjectionGrams,
  regressionEdits
} from './regression';

export type CompensationStatistics = ProjectionMeans | ProjectionGrams;

/** No edits without statistics. */
export function compensationEdits(
  model: OnnxModel,
  map: ModelMap,
  plan: UnitPlan,
  statistics?: CompensationStatistics
): CompensationEdits {
  if (!statistics) {
    return { biases: [], weights: new Map() };
  }
  return isProjectionGrams(statistics)
    ? regressionEdits(model, map, plan, statistics)
    : {
        biases: compensationBiases(model, map, plan, statistics),
        weights: new Map()
      };
}

/** `proto` (`model` with the plan cut from the edited weights) with the edits' biases added. */
export function withCompensation(
  model: OnnxModel,
  proto: ModelProto,
  edits: CompensationEdits
): ModelProto {
  return edits.biases.length
    ? withProjectionBiases(model, proto, edits.biases)
    : proto;
}
