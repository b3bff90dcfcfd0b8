/**
 * Writes a pruned model folder: the pruned ONNX model (external data when the source had it),
 * the tokenizer files, and a config.json that says what changed. The folder is assembled under
 * a temporary name beside the target and renamed into place, so a crash never leaves half a
 * model; an existing output is replaced only if cusprun wrote it and the caller allows it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mapModel } from '../arch/map';
import { readModelConfig } from '../arch/inspect';
import { ModelMap } from '../../core/model/model-map';
import { OnnxModel } from '../onnx/model';
import { checkOutputFolder, OutputGuard, writeOutputFolder } from '../output';
import { UnitPlan } from '../../core/model/unit-plan';
import { CompensationStatistics } from './compensate';
import { pruneModel } from './structural';
import { removedParams, unitsByLayer } from './units';

/** Files of a Hugging Face model folder that a pruned model keeps as they are. */
const KEPT_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'generation_config.json',
  'vocab.json',
  'merges.txt'
];

export interface WrittenModel {
  dir: string;
  file: string;
  removedParams: number;
  prunableParamsBefore: number;
  /** Bytes of model.onnx (+ its data file) before and after. */
  bytesBefore: number;
  bytesAfter: number;
}

function modelBytes(file: string): number {
  const data = `${file}_data`;
  return (
    fs.statSync(file).size + (fs.existsSync(data) ? fs.statSync(data).size : 0)
  );
}

/**
 * config.json of the pruned model: uniform widths go into the standard fields, so runtimes that
 * read them (transformers) stay correct; per-layer widths, which only the ONNX graph can carry,
 * are listed under `cusprun`.
 */
function prunedConfig(
  config: Record<string, unknown> | undefined,
  map: ModelMap,
  plan: UnitPlan,
  source: string
): Record<string, unknown> {
  const layers = unitsByLayer(map, plan).map((units, i) => {
    const layer = map.layers[i];
    return {
      index: layer.index,
      ffnWidth: layer.ffn.width - units.ffn.length,
      heads:
        layer.attention.heads -
        units.attention.length * layer.attention.groupSize,
      kvHeads: layer.attention.kvHeads - units.attention.length
    };
  });
  const uniform = (key: 'ffnWidth' | 'heads' | 'kvHeads') =>
    layers.every(l => l[key] === layers[0][key]) ? layers[0][key] : undefined;
  const out: Record<string, unknown> = { ...(config ?? {}) };
  const fields: [string, number | undefined][] = [
    [
      map.family === 'gpt2' ? 'n_inner' : 'intermediate_size',
      uniform('ffnWidth')
    ],
    [
      map.family === 'gpt2' ? 'n_head' : 'num_attention_heads',
      uniform('heads')
    ],
    ...(map.family === 'gpt2'
      ? []
      : [
          ['num_key_value_heads', uniform('kvHeads')] as [
            string,
            number | undefined
          ]
        ])
  ];
  for (const [key, value] of fields) {
    if (config && key in config && value !== undefined) {
      out[key] = value;
    }
  }
  out.cusprun = {
    prunedFrom: source,
    uniformWidths: layers.every(
      l =>
        l.ffnWidth === layers[0].ffnWidth &&
        l.heads === layers[0].heads &&
        l.kvHeads === layers[0].kvHeads
    ),
    layers
  };
  return out;
}

/** `guard` with the input model's files protected: what a pruned folder's place is checked by. */
function prunedGuard(model: OnnxModel, guard: OutputGuard = {}): OutputGuard {
  const inputs = [model.file, ...model.externalDataFiles()].map(file => ({
    path: file,
    what: 'the input model'
  }));
  return { ...guard, protect: [...inputs, ...(guard.protect ?? [])] };
}

/** Refuses, before any work, a place writePrunedModel would refuse (it checks again). */
export function checkPrunedOutput(
  model: OnnxModel,
  outDir: string,
  guard?: OutputGuard
): void {
  checkOutputFolder(outDir, prunedGuard(model, guard));
}

/**
 * Writes the pruned model folder `outDir` whole (see output/guard.ts for what it may replace).
 * `finish` completes the staged folder before it takes its place (checks the model, adds
 * files); if it throws, nothing is left behind.
 */
export async function writePrunedModel(
  model: OnnxModel,
  plan: UnitPlan,
  outDir: string,
  options: {
    guard?: OutputGuard;
    finish?: (staging: string) => Promise<void>;
    /** Compensate the removed units with these statistics (compensate.ts). */
    compensation?: CompensationStatistics;
  } = {}
): Promise<WrittenModel> {
  const config = readModelConfig(model.file);
  const map = mapModel(model, { config });
  const dir = await writeOutputFolder(
    outDir,
    async staging => {
      const file = path.join(staging, 'model.onnx');
      model.save(file, {}, pruneModel(model, map, plan, options.compensation));
      for (const name of KEPT_FILES) {
        const from = path.join(model.dir, name);
        if (fs.existsSync(from)) {
          fs.copyFileSync(from, path.join(staging, name));
        }
      }
      const json = JSON.stringify(
        prunedConfig(config as Record<string, unknown>, map, plan, model.file),
        null,
        2
      );
      fs.writeFileSync(path.join(staging, 'config.json'), `${json}\n`);
      await options.finish?.(staging);
    },
    prunedGuard(model, options.guard)
  );
  const file = path.join(dir, 'model.onnx');
  return {
    dir,
    file,
    removedParams: removedParams(map, plan),
    prunableParamsBefore: map.prunableParams,
    bytesBefore: modelBytes(model.file),
    bytesAfter: modelBytes(file)
  };
}
