/**
 * A plan's compensation from the statistics it was fitted on: channel means (bias compensation,
 * compensation.ts), or channel Gram matrices or the regression fit made from them for the plan
 * (regression compensation, regression.ts).
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
  fitRegression,
  ProjectionGrams,
  RegressionFit,
  regressionEdits
} from './regression';

export type CompensationStatistics =
  ProjectionMeans | ProjectionGrams | RegressionFit;

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
  if (!('kind' in statistics)) {
    return {
      biases: compensationBiases(model, map, plan, statistics),
      weights: new Map()
    };
  }
  const fit =
    statistics.kind === 'grams'
      ? fitRegression(map, plan, statistics)
      : statistics;
  return regressionEdits(model, map, plan, fit);
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
