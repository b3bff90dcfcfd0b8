/**
 * Graphs that onnxruntime saved after optimising them (a session's optimized model path, or
 * onnxruntime.transformers' optimizer). Its fused operators hide what cusprun maps and prunes:
 * FusedMatMul takes the attention scores' MatMul, FastGelu/BiasGelu swallow the FFN bias,
 * SkipLayerNormalization the residual, Attention/GroupQueryAttention/MultiHeadAttention the
 * heads and RotaryEmbedding their positions. Mapping around them would count parameters wrong
 * and write models onnxruntime cannot run, so cusprun refuses them and says what to do.
 */
import { ModelProto } from '../onnx/proto';

/** onnxruntime's own operators that it registers in the default ONNX domain. */
const DEFAULT_DOMAIN_FUSIONS = new Set(['SimplifiedLayerNormalization']);

const isOnnxruntimeDomain = (domain: string) =>
  domain === 'com.microsoft' ||
  domain.startsWith('com.microsoft.') ||
  domain.startsWith('com.ms.');

export const REEXPORT_ADVICE =
  "export the model again without onnxruntime's offline optimisation (the exporter's own model.onnx, not a graph saved through an onnxruntime session's optimized model file path or by onnxruntime.transformers' optimizer)";

const LISTED = 6;

/** onnxruntime's fused operators in the graph, in order of first use (`domain.Op`). */
export function onnxruntimeOperators(proto: ModelProto): string[] {
  const found = new Set<string>();
  for (const node of proto.graph?.node ?? []) {
    const domain = node.domain ?? '';
    if (isOnnxruntimeDomain(domain)) {
      found.add(`${domain}.${node.op_type}`);
    } else if (!domain && DEFAULT_DOMAIN_FUSIONS.has(node.op_type)) {
      found.add(node.op_type);
    }
  }
  return [...found];
}

/**
 * Whether onnxruntime wrote the file: it declares every domain it knows, among them its
 * internal NCHWc domain, which no exporter uses.
 */
export function savedByOnnxruntime(proto: ModelProto): boolean {
  return proto.opset_import.some(o => o.domain === 'com.microsoft.nchwc');
}

/** Why the graph cannot be mapped because of onnxruntime's fusions, or undefined. */
export function onnxruntimeFusionBlocker(
  proto: ModelProto
): string | undefined {
  const ops = onnxruntimeOperators(proto);
  if (ops.length === 0) {
    return undefined;
  }
  const more = ops.length > LISTED ? ` and ${ops.length - LISTED} more` : '';
  return `uses onnxruntime's fused operators (${ops.slice(0, LISTED).join(', ')}${more}), which cusprun does not map or prune; ${REEXPORT_ADVICE}`;
}
