/**
 * A run store for the panel's slider benchmark (ui-tests/bench): two scored runs, as
 * `cusprun score` writes them (run.json, a score store with one record per document), on
 * synthetic Llama models that differ only in their FFN width:
 *
 *   bench-1m   32 layers × (31,250 FFN channels + 8 KV groups) = 1,000,256 units
 *   bench-1k   32 layers × (24 FFN channels + 8 KV groups)     =     1,024 units (the baseline)
 *
 * The graphs are bench/llama-onnx.ts's (hidden 64, 16 heads / 8 KV heads), built with a tiny FFN
 * and then given their real FFN width in the weights' shapes. Every weight of at least 1,024
 * elements lives in an external-data file that is only ever stat'ed and hashed, never read as
 * weights: it is made with ftruncate, a sparse file of zeros that costs no disk. The scores are
 * seeded: a per-unit relevance shared by every document times a per-document factor, so the
 * dimensions overlap as real ones do.
 *
 *   node dist-bench/bench/panel-store.js --out DIR
 *     → DIR/store/{bench-1m,bench-1k}/   the run store (pass DIR/store as --Cusprun.store)
 *       DIR/models/{bench-1m,bench-1k}/  model.onnx, model.onnx_data, config.json
 *       DIR/corpus/                      the manifest and documents the runs name
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { inspectModel } from '../src/engine/arch';
import { runtimeVersion } from '../src/engine/capture/runtime';
import {
  DataType,
  encodeModel,
  externalTensor,
  ModelProto,
  OnnxModel,
  TensorProto
} from '../src/engine/onnx';
import { mulberry32 } from '../src/engine/corpus';
import { NewRecord, openScoreStore } from '../src/engine/score';
import { documentId } from '../src/sidecar/jobs/score';
import { RunRecord, SCORES_DIR, writeRun } from '../src/sidecar/run-folder';
import {
  buildLlamaProto,
  DEFAULT_CONFIG,
  hfConfig,
  LlamaConfig
} from './llama-onnx';

const ROOT = path.resolve(__dirname, '..', '..');

export interface BenchRun {
  id: string;
  /** FFN channels per layer: what sets the number of units. */
  ffn: number;
}

export const RUNS: BenchRun[] = [
  { id: 'bench-1m', ffn: 31_250 },
  { id: 'bench-1k', ffn: 24 }
];

const MODEL: Omit<LlamaConfig, 'ffn'> = {
  ...DEFAULT_CONFIG,
  layers: 32,
  hidden: 64,
  heads: 16,
  kvHeads: 8,
  vocab: 256,
  maxPositions: 16,
  seed: 7
};
const DIMENSIONS = [
  { dimension: 'language', name: 'de' },
  { dimension: 'domain', name: 'computing' },
  { dimension: 'task', name: 'qa' }
];
const DOCUMENTS_PER_DIMENSION = 4;
const DATA_FILE = 'model.onnx_data';
/** Float initializers this large or larger go to the external-data file. */
const EXTERNAL_ELEMENTS = 1024;
const ALIGNMENT = 64;

const sha256 = (text: string | Uint8Array) =>
  crypto.createHash('sha256').update(text).digest('hex');

/**
 * Writes model.onnx, a sparse model.onnx_data and config.json into `dir`: the llama graph with
 * FFN width `ffn`, its large weights declared external. Returns the model file.
 */
export function writeSparseLlama(dir: string, ffn: number): string {
  const config: LlamaConfig = { ...MODEL, ffn };
  // The graph never spells out the FFN width (only the weights' shapes do): build it with two
  // channels, so no weights of the real size are ever generated, then declare the real shapes.
  const proto = buildLlamaProto({ ...config, ffn: 2 });
  const graph = proto.graph!;
  let offset = 0;
  const initializer = graph.initializer.map((t): TensorProto => {
    const name = t.name ?? '';
    let dims = (t.dims ?? []).map(Number);
    if (/\.(gate_proj|up_proj)$/.test(name)) {
      dims = [config.hidden, ffn];
    } else if (/\.down_proj$/.test(name)) {
      dims = [ffn, config.hidden];
    }
    const elements = dims.reduce((a, c) => a * c, 1);
    if (t.data_type !== DataType.FLOAT || elements < EXTERNAL_ELEMENTS) {
      return t;
    }
    const length = elements * 4;
    const tensor = externalTensor(name, DataType.FLOAT, dims, {
      location: DATA_FILE,
      offset,
      length
    });
    offset += Math.ceil(length / ALIGNMENT) * ALIGNMENT;
    return tensor;
  });
  const model: ModelProto = { ...proto, graph: { ...graph, initializer } };
  fs.mkdirSync(dir, { recursive: true });
  const fd = fs.openSync(path.join(dir, DATA_FILE), 'w');
  try {
    fs.ftruncateSync(fd, offset);
  } finally {
    fs.closeSync(fd);
  }
  const file = path.join(dir, 'model.onnx');
  fs.writeFileSync(file, encodeModel(model));
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    `${JSON.stringify(hfConfig(config), null, 2)}\n`
  );
  return file;
}

/** The documents the runs name: a few synthetic lines per dimension, and their manifest. */
function writeCorpus(dir: string): { manifest: string; sha256: string } {
  fs.mkdirSync(dir, { recursive: true });
  const lines = DIMENSIONS.map(d =>
    Array.from(
      { length: DOCUMENTS_PER_DIMENSION },
      (_, i) => `Synthetic ${d.name} document ${i} for the panel benchmark.`
    )
  );
  DIMENSIONS.forEach((d, k) =>
    fs.writeFileSync(
      path.join(dir, `${d.dimension}.txt`),
      `${lines[k].join('\n')}\n`
    )
  );
  const manifest = path.join(dir, 'corpus.yaml');
  const text = [
    '# Synthetic: the panel benchmark writes these scores itself (bench/panel-store.ts).',
    'dimensions:',
    ...DIMENSIONS.flatMap(d => [
      `  ${d.dimension}:`,
      `    name: ${d.name}`,
      `    sources: [${d.dimension}.txt]`,
      '    format: lines'
    ]),
    'truncation: 64',
    'seed: 0',
    `documents: ${DOCUMENTS_PER_DIMENSION}`,
    ''
  ].join('\n');
  fs.writeFileSync(manifest, text);
  return { manifest, sha256: sha256(text + lines.flat().join('\n')) };
}

/** One scored run in `store`, on a model written under `models`. Returns its unit count. */
export function writeBenchRun(
  store: string,
  models: string,
  corpus: { manifest: string; sha256: string },
  run: BenchRun,
  seed = 1
): number {
  const modelFile = writeSparseLlama(path.join(models, run.id), run.ffn);
  const map = inspectModel(modelFile);
  const runDir = path.join(store, run.id);
  fs.mkdirSync(runDir, { recursive: true });
  const model = OnnxModel.load(modelFile);
  const scores = openScoreStore(
    path.join(runDir, SCORES_DIR),
    model,
    map,
    'paper'
  );
  try {
    const now = new Date().toISOString();
    const dimensions = DIMENSIONS.map(d => ({
      ...d,
      available: DOCUMENTS_PER_DIMENSION,
      truncated: 0,
      documents: Array.from({ length: DOCUMENTS_PER_DIMENSION }, (_, i) => {
        const hash = sha256(
          `Synthetic ${d.name} document ${i} for the panel benchmark.`
        );
        return {
          id: documentId(d.dimension, i, hash),
          sha256: hash,
          source: { file: `${d.dimension}.txt`, line: i + 1 },
          tokens: 64,
          truncated: false
        };
      })
    }));
    const record: RunRecord = {
      format: 'cusprun-run',
      version: 1,
      created: now,
      updated: now,
      model: {
        file: model.file,
        sha256: scores.header.model.sha256,
        family: map.family
      },
      corpus: {
        manifest: corpus.manifest,
        sha256: corpus.sha256,
        truncation: 64,
        seed: 0,
        documentsPerDimension: DOCUMENTS_PER_DIMENSION,
        tokenizerSha256: sha256(''),
        dimensions
      },
      scoring: { scoreForm: 'paper', batchSize: 8, threads: 0 },
      // What toolVersions() records; it finds package.json from dist/, not from dist-bench/.
      versions: {
        cusprun: (
          JSON.parse(
            fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')
          ) as { version: string }
        ).version,
        onnxruntime: runtimeVersion(),
        node: process.version
      },
      prunes: []
    };
    writeRun(runDir, record);
    // Per unit: a relevance every document shares, times a per-document factor in [0.25, 4).
    const random = mulberry32(seed);
    const floats = scores.recordFloats;
    const base = Float32Array.from({ length: floats }, () =>
      Math.exp(4 * random() - 2)
    );
    const documents = dimensions.flatMap(d => d.documents);
    for (const doc of documents) {
      const values = new Float32Array(floats);
      for (let i = 0; i < floats; i++) {
        values[i] = base[i] * 4 ** (2 * random() - 1);
      }
      const next: NewRecord = {
        id: doc.id,
        tokens: doc.tokens,
        scores: values
      };
      scores.append([next]);
    }
    writeRun(runDir, record);
    return map.layers.reduce(
      (sum, l) => sum + l.ffn.units + l.attention.units,
      0
    );
  } finally {
    scores.close();
    model.close();
  }
}

function main(): void {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  if (!values.out) {
    throw new Error('usage: node dist-bench/bench/panel-store.js --out DIR');
  }
  const out = path.resolve(values.out);
  const started = Date.now();
  const corpus = writeCorpus(path.join(out, 'corpus'));
  const units = RUNS.map(run =>
    writeBenchRun(
      path.join(out, 'store'),
      path.join(out, 'models'),
      corpus,
      run
    )
  );
  console.log(
    `panel benchmark store ${path.join(out, 'store')}: ${RUNS.map(
      (r, i) => `${r.id} ${units[i].toLocaleString('en-US')} units`
    ).join(', ')} (${((Date.now() - started) / 1000).toFixed(1)} s)`
  );
}

if (require.main === module) {
  main();
}
