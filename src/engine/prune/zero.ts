/**
 * The reference a prune must equal: the original graph with the plan's units zeroed (weights and
 * bias entries set to 0, shapes unchanged).
 */
import { ModelMap } from '../arch/types';
import { elementBytes } from '../onnx/dtype';
import { tensorWithData, withInitializers } from '../onnx/edit';
import { OnnxModel } from '../onnx/model';
import { ModelProto, TensorProto } from '../onnx/proto';
import { tensorDims } from '../onnx/tensor';
import { UnitPlan } from './plan';
import { planCuts } from './units';
import { zero } from './tensor-ops';

export function zeroUnits(
  model: OnnxModel,
  map: ModelMap,
  plan: UnitPlan
): ModelProto {
  const replacements = new Map<string, TensorProto>();
  for (const [name, cuts] of planCuts(map, plan)) {
    const tensor = model.initializers.get(name) as TensorProto;
    const dims = tensorDims(tensor);
    const size = elementBytes(tensor.data_type ?? 0) as number;
    replacements.set(
      name,
      tensorWithData(tensor, zero(model.bytes(tensor), dims, size, cuts))
    );
  }
  return withInitializers(model.proto, replacements);
}
