/**
 * The eval job: model files (dense, or pruned and written) scored on evaluation sets, with an
 * optional greedy-generation check and prefill/decode latency, each model with its own
 * tokenizer folder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RuntimeOptions } from '../../engine/capture/runtime';
import { loadTokenizer } from '../../engine/corpus';
import { readUtf8File } from '../../engine/corpus/utf8';
import { CusprunError } from '../../core/errors';
import type { ModelEvaluation } from '../../core/experiment';
import { latency, ModelRunner } from '../../engine/eval';
import {
  EvalSettings,
  evaluate,
  generationCheck,
  loadEvalSets,
  Prompt
} from '../../engine/experiment';
import { OnnxModel, resolveModelFile } from '../../engine/onnx/model';
import { DEFAULT_EVAL_TRUNCATION } from './experiment';
import { stopIds } from './generate';

export interface EvalJob {
  models: string[];
  evalSets: string[];
  truncation?: number;
  batchSize?: number;
  threads?: number;
  /** JSON Lines of `{prompt, reference?}` to decode greedily from. */
  prompts?: string;
  maxNewTokens?: number;
  latency?: boolean;
}

export function readPrompts(file: string): Prompt[] {
  const prompts: Prompt[] = [];
  readUtf8File(file)
    .split(/\r?\n/)
    .forEach((raw, i) => {
      if (raw.trim() === '') {
        return;
      }
      let value: Record<string, unknown>;
      try {
        value = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        throw new CusprunError(
          'bad-argument',
          `line ${i + 1}: not valid JSON`,
          file
        );
      }
      if (typeof value?.prompt !== 'string' || value.prompt === '') {
        throw new CusprunError(
          'bad-argument',
          `line ${i + 1}: no "prompt" string (each line is {"prompt": …, "reference": …})`,
          file
        );
      }
      if (
        value.reference !== undefined &&
        typeof value.reference !== 'string'
      ) {
        throw new CusprunError(
          'bad-argument',
          `line ${i + 1}: "reference" must be a string`,
          file
        );
      }
      prompts.push({
        prompt: value.prompt,
        reference: value.reference as string | undefined
      });
    });
  if (prompts.length === 0) {
    throw new CusprunError('bad-argument', 'holds no prompts', file);
  }
  return prompts;
}

function modelBytes(file: string): number {
  const model = OnnxModel.load(file);
  try {
    return [model.file, ...model.externalDataFiles()].reduce(
      (sum, f) => sum + fs.statSync(f).size,
      0
    );
  } finally {
    model.close();
  }
}

export async function runEvalJob(job: EvalJob): Promise<ModelEvaluation[]> {
  const sets = loadEvalSets(job.evalSets);
  const prompts = job.prompts ? readPrompts(job.prompts) : undefined;
  const settings: EvalSettings = {
    truncation: job.truncation ?? DEFAULT_EVAL_TRUNCATION,
    ...(job.batchSize ? { batchSize: job.batchSize } : {})
  };
  const runtime: RuntimeOptions = { threads: job.threads };
  const results: ModelEvaluation[] = [];
  for (const given of job.models) {
    const file = resolveModelFile(given);
    const tokenizer = loadTokenizer(path.dirname(file));
    const runner = await ModelRunner.open(file, runtime);
    try {
      const result: ModelEvaluation = {
        model: given,
        bytes: modelBytes(file),
        metrics: await evaluate(runner, sets, tokenizer, settings)
      };
      if (prompts) {
        result.generation = await generationCheck(runner, tokenizer, {
          prompts,
          maxNewTokens: job.maxNewTokens ?? 16,
          stopIds: stopIds(path.dirname(file))
        });
      }
      if (job.latency) {
        result.latency = await latency(runner, {
          promptTokens: 64,
          decodeTokens: 16,
          repeats: 3
        });
      }
      results.push(result);
    } finally {
      await runner.release();
    }
  }
  return results;
}
