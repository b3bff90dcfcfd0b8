import { LayerMap } from '../../../core/model/model-map';

/** What one architecture family contributes: how to recognise it and what to tell users. */
export interface Family {
  name: string;
  /** Hugging Face `model_type` values of this family. */
  modelTypes: string[];
  /**
   * Whether mapped layers show this family's structural signature. Families are tried most
   * specific first; a family that is structurally identical to another (Mistral to Llama)
   * returns false and is only named by config.json.
   */
  matches(layers: LayerMap[]): boolean;
}
