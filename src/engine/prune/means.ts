/**
 * Mean activations of the units' channels over documents: per layer, the mean over every real
 * token of each input channel of the down projection (h, [I]) and of the o projection (A, the
 * attention output before o_proj, [H·d]). Bias compensation replaces a removed unit's channels
 * by these means (compensation.ts). The sums are reduced inside the scoring graph (its `flap`
 * form, which also sums squares: one pass of the graph the FLAP-style baseline already uses).
 */
import { ModelMap } from '../../core/model/model-map';
import { channelMoments, FlapOptions, momentsOf } from '../baselines/flap';
import { OnnxModel } from '../onnx/model';

/** One layer's channel means, float32 as stored beside a compensated model. */
export interface LayerMeans {
  index: number;
  /** Mean of h[:, k] for each down-projection input channel k ([I]). */
  ffn: Float32Array;
  /** Mean of A[:, c] for each o-projection input channel c ([H·d], head-major). */
  attention: Float32Array;
}

export interface ProjectionMeans {
  /** Real tokens the means are over. */
  tokens: number;
  layers: LayerMeans[];
}

export type MeansOptions = FlapOptions;

/** The means of every layer's down and o projection inputs over the documents' real tokens. */
export async function projectionMeans(
  model: OnnxModel,
  map: ModelMap,
  documents: number[][],
  options: MeansOptions = {}
): Promise<ProjectionMeans> {
  const moments = await channelMoments(model, map, documents, options);
  const means = (index: number, kind: 'ffn' | 'attention') => {
    const { output, sums } = momentsOf(model, moments, index, kind);
    // The first half of the moments is Σ_t h per channel, the second Σ_t h².
    const channels = output.width / 2;
    return Float32Array.from(
      sums.subarray(0, channels),
      s => s / moments.tokens
    );
  };
  return {
    tokens: moments.tokens,
    layers: map.layers.map(layer => ({
      index: layer.index,
      ffn: means(layer.index, 'ffn'),
      attention: means(layer.index, 'attention')
    }))
  };
}
