/** The architecture families cusprun knows, one folder each, and how a model is assigned one. */
import { LayerMap } from '../../../core/model/model-map';
import { Family } from './family';
import { gemma } from './gemma';
import { gemma3 } from './gemma3';
import { gpt2 } from './gpt2';
import { llama } from './llama';
import { mistral } from './mistral';
import { phi3 } from './phi3';
import { qwen2 } from './qwen2';
import { qwen3 } from './qwen3';

export type { Family } from './family';

/**
 * Most specific signature first (Gemma 3 is Gemma's GeGLU with Qwen3's q/k norms); Llama is
 * the general gated-SiLU case.
 */
export const FAMILIES: Family[] = [
  gpt2,
  phi3,
  gemma3,
  qwen3,
  qwen2,
  gemma,
  mistral,
  llama
];

/** The fields of a Hugging Face config.json that the map reads. */
export interface ModelConfig {
  model_type?: string;
  [key: string]: unknown;
}

export interface FamilyDecision {
  name: string;
  source: 'config' | 'structure';
}

/**
 * The family named by config.json when a known family claims its model_type; otherwise the
 * first family whose structural signature the layers show; otherwise 'unknown'.
 */
export function detectFamily(
  layers: LayerMap[],
  config: ModelConfig | undefined
): FamilyDecision {
  const byConfig = FAMILIES.find(
    f => config?.model_type && f.modelTypes.includes(config.model_type)
  );
  if (byConfig) {
    return { name: byConfig.name, source: 'config' };
  }
  const byStructure = FAMILIES.find(f => f.matches(layers));
  return { name: byStructure?.name ?? 'unknown', source: 'structure' };
}
