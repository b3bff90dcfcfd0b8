/** Loads a model folder (or file) with its config.json and maps it. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CusprunError } from '../../core/errors';
import { OnnxModel } from '../onnx/model';
import { ModelConfig } from './families';
import { mapModel } from './map';
import { ModelMap } from '../../core/model/model-map';

/** The Hugging Face config.json beside a model file, when there is one. */
export function readModelConfig(modelFile: string): ModelConfig | undefined {
  const file = path.join(path.dirname(modelFile), 'config.json');
  if (!fs.existsSync(file)) {
    return undefined;
  }
  try {
    const config = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    if (
      typeof config !== 'object' ||
      config === null ||
      Array.isArray(config)
    ) {
      throw new Error('not a JSON object');
    }
    return config as ModelConfig;
  } catch (error) {
    throw new CusprunError(
      'bad-argument',
      `not a valid config.json (${error instanceof Error ? error.message : String(error)})`,
      file
    );
  }
}

/** The map of an open model, with the config.json beside it: the one way cusprun maps a model. */
export function modelMapOf(model: OnnxModel): ModelMap {
  return mapModel(model, { config: readModelConfig(model.file) });
}

export function inspectModel(fileOrDir: string): ModelMap {
  const model = OnnxModel.load(fileOrDir);
  try {
    return modelMapOf(model);
  } finally {
    model.close();
  }
}
