/**
 * Memory and speed on real shapes (issue 17), each figure a ratio against a baseline measured in
 * the same run, every step in a fresh Node process (its peak RSS its own):
 *
 * - on two generated models of real size, made here in bounded memory (bench/llama-onnx.ts):
 *   Gemma 3 270M's shapes with its 262,144-token vocabulary, weights in external data, and
 *   SmolLM2-135M's shapes with its weights inline — prune (25% of the prunable parameters)
 *   and evaluation (perplexity, dense and pruned in memory) peak RSS ÷ the weights' bytes,
 *   against a forward that fetches the full logits; the prune regression-compensated (the
 *   Gram pass over the perplexity texts, the fit, the edited weights) against the plain one,
 *   and its Gram matrices made in passes of a bounded size (as `cusprun prune` does) against
 *   one pass over every layer;
 * - on the real exports when present (SmolLM2-135M-Instruct and Gemma 3 270M, exported with a
 *   KV cache as `make demo` does, into demo/build/<model> or --models DIR): the same, and
 *   scoring the demo's 96 documents against an onnxruntime forward without the lm_head (the
 *   sessions taking turns batch by batch) and against PyTorch forward hooks computing the same
 *   sums (bench/torch_hooks.py, run with the venv `make setup-export` installs torch into), and decode latency of
 *   the 25%-pruned expert against the dense model, both with the KV cache.
 *
 *   node dist-bench/bench/real-shapes.js [--models DIR] [--only NAME,…] [--rounds 3]
 *                                        [--threads 2] [--batch 8]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { mapModel, readModelConfig } from '../src/engine/arch';
import {
  batchFeeds,
  modelInputs,
  ModelSession,
  pruneToOutputs,
  ScoringGraph,
  ScoringSession
} from '../src/engine/capture';
import { tensorValueInfo } from '../src/engine/capture/graph-builder';
import { loadCorpus, loadTokenizer } from '../src/engine/corpus';
import { latency, ModelRunner, sequenceLogProbs } from '../src/engine/eval';
import { DataType, GraphProto, OnnxModel } from '../src/engine/onnx';
import {
  describeComparison,
  fitRegression,
  GRAM_BUDGET_BYTES,
  projectionGrams,
  pruneModel,
  regressionFit,
  verifyPruned,
  writePrunedModel
} from '../src/engine/prune';
import { openScoreStore, scoreDocuments } from '../src/engine/score';
import {
  batches,
  describeMap,
  median,
  pairedRatio,
  peakRss,
  readJson,
  reply,
  spawnChild,
  uniformPlan
} from './harness';
import {
  DEFAULT_CONFIG,
  GEMMA_LIKE_CONFIG,
  LlamaConfig,
  writeLlamaModelExternal
} from './llama-onnx';

const ROOT = path.resolve(__dirname, '..', '..');
const CORPUS = path.join(ROOT, 'demo', 'expert-de-computing-qa.yaml');
const EVAL_SET = path.join(
  ROOT,
  'demo',
  'data',
  'eval',
  'ppl-cell-en-computing-qa.jsonl'
);
// The venv `make setup-export` gives torch (it marks it with .export-extra).
const EXPORT_VENV = path.join(ROOT, '.venv');
const EXPORT_PYTHON = path.join(EXPORT_VENV, 'bin', 'python');
const WEIGHTS =
  process.env.CUSPRUN_WEIGHTS ??
  path.join(os.homedir(), '.cache', 'cusprun', 'weights');
const GGUF: Record<string, string> = {
  smollm2: 'smollm2/SmolLM2-135M-Instruct.Q4_1.gguf',
  gemma3: 'gemma3/gemma-3-270m-q4_k_m.gguf'
};
const SMOLLM2_LIKE_CONFIG: LlamaConfig = {
  ...DEFAULT_CONFIG,
  layers: 30,
  hidden: 576,
  heads: 9,
  kvHeads: 3,
  ffn: 1536,
  vocab: 49_152,
  seed: 135
};
const TARGET = 0.25;
const EVAL_TOKENS = 128;
const EVAL_TEXTS = 16;

interface Setup {
  threads: number;
  batch: number;
  rounds: number;
  work: string;
}

/** A model the benchmark measures, and the token sequences it runs. */
interface Subject {
  name: string;
  file: string;
  real: boolean;
  /** Sequences for perplexity (and the prune check's first four). */
  evalDocuments: string;
  /** Real models: the scoring corpus as token ids, longest first. */
  scoreDocuments?: string;
  gguf?: string;
}

/** Perplexity from per-token log-probabilities, every token weighing the same. */
function perplexityOf(logProbs: Float64Array[]): number {
  let sum = 0;
  let count = 0;
  logProbs.forEach(values => {
    values.forEach(v => (sum -= v));
    count += values.length;
  });
  return Math.exp(sum / count);
}

function weightBytes(model: OnnxModel): number {
  return model.graph.initializer.reduce((n, t) => n + model.byteLength(t), 0);
}

const withMap = (file: string) => {
  const model = OnnxModel.load(file);
  return { model, map: mapModel(model, { config: readModelConfig(file) }) };
};

const elapsed = (since: number) => performance.now() - since;

/**
 * Writes the 25% expert; with `verify`, checks it as `cusprun prune` does; with `regression`,
 * regression-compensated, fitted on the perplexity texts from one pass over every layer or in
 * passes of at most GRAM_BUDGET_BYTES of Gram matrices (`cusprun prune`'s).
 */
async function prune(a: {
  model: string;
  out: string;
  verify: boolean;
  regression?: 'one-pass' | 'in-passes';
  documents: string;
  threads: number;
}) {
  const started = performance.now();
  const { model, map } = withMap(a.model);
  const { plan, ratio } = uniformPlan(map, TARGET);
  let fit;
  let gramMs;
  let fitMs;
  const documents = () => readJson<number[][]>(a.documents);
  if (a.regression === 'one-pass') {
    const grams = await projectionGrams(model, map, documents(), {
      threads: a.threads
    });
    gramMs = elapsed(started);
    fit = fitRegression(map, plan, grams);
    fitMs = elapsed(started) - gramMs;
  } else if (a.regression === 'in-passes') {
    fit = await regressionFit(model, map, plan, documents(), {
      threads: a.threads
    });
    fitMs = elapsed(started);
  }
  const written = await writePrunedModel(model, plan, a.out, {
    compensation: fit
  });
  const writeMs = elapsed(started);
  let check: string | undefined;
  if (a.verify) {
    const sequences = readJson<number[][]>(a.documents)
      .slice(0, 4)
      .map(d => d.slice(0, 64));
    const comparison = await verifyPruned(
      model,
      map,
      plan,
      written.file,
      sequences,
      { threads: a.threads }
    );
    check = describeComparison(comparison);
  }
  const result = {
    weightBytes: weightBytes(model),
    ratio,
    bytesAfter: written.bytesAfter,
    writeMs,
    gramMs,
    fitMs,
    totalMs: elapsed(started),
    peakRss: peakRss(),
    check
  };
  model.close();
  return result;
}

/** Perplexity of the dense model from its file, or of the 25% expert built in memory. */
async function evaluate(a: {
  model: string;
  pruned: boolean;
  documents: string;
  threads: number;
}) {
  const documents = readJson<number[][]>(a.documents);
  const started = performance.now();
  let runner: ModelRunner;
  if (a.pruned) {
    const { model, map } = withMap(a.model);
    const { plan } = uniformPlan(map, TARGET);
    runner = await ModelRunner.inMemory(model, pruneModel(model, map, plan), {
      threads: a.threads
    });
    model.close();
  } else {
    runner = await ModelRunner.open(a.model, { threads: a.threads });
  }
  const openMs = elapsed(started);
  const logProbs = await sequenceLogProbs(
    runner,
    documents,
    documents.map(() => 1),
    4
  );
  await runner.release();
  return {
    perplexity: perplexityOf(logProbs),
    openMs,
    totalMs: elapsed(started),
    peakRss: peakRss()
  };
}

/** log softmax(row)[target] in float64, max subtracted: evaluation's JS before its graph. */
function logSoftmax(
  values: Float32Array,
  at: number,
  vocab: number,
  target: number
) {
  let max = -Infinity;
  for (let v = 0; v < vocab; v++) {
    max = Math.max(max, values[at + v]);
  }
  let sum = 0;
  for (let v = 0; v < vocab; v++) {
    sum += Math.exp(values[at + v] - max);
  }
  return values[at + target] - max - Math.log(sum);
}

/**
 * What evaluation did before its graph: a forward fetching the full logits, 4 rows a run, and
 * the log-softmax of every position in JS.
 */
async function logitsForward(a: {
  model: string;
  documents: string;
  threads: number;
}) {
  const documents = readJson<number[][]>(a.documents);
  const started = performance.now();
  const model = OnnxModel.load(a.model);
  const inputs = modelInputs(model.graph, model.file);
  model.close();
  const session = await ModelSession.open(a.model, { threads: a.threads });
  let fetched = 0;
  const logProbs: Float64Array[] = [];
  for (const batch of batches(documents, 4)) {
    const { logits } = await session.run(batchFeeds(inputs, batch), ['logits']);
    const [, time, vocab] = logits.dims;
    const values = logits.data as Float32Array;
    fetched = Math.max(fetched, values.byteLength);
    batch.forEach((ids, row) =>
      logProbs.push(
        Float64Array.from(ids.slice(1), (id, t) =>
          logSoftmax(values, (row * time + t) * vocab, vocab, id)
        )
      )
    );
  }
  await session.release();
  return {
    perplexity: perplexityOf(logProbs),
    totalMs: elapsed(started),
    peakRss: peakRss(),
    fetched
  };
}

/** The model cut to the lm_head's input: a forward without the lm_head, saved like scoring's. */
function writeTrunk(model: OnnxModel, lmHeadNode: string, dir: string) {
  const graph = model.graph;
  const node = graph.node.find(n => n.name === lmHeadNode);
  if (!node) {
    throw new Error(`no lm_head node ${lmHeadNode}`);
  }
  const hidden = node.input[0];
  const output = tensorValueInfo(hidden, DataType.FLOAT, ['batch', 'sequence']);
  const proto = {
    ...model.proto,
    graph: pruneToOutputs({ ...graph, output: [output] })
  };
  const file = path.join(dir, 'trunk', 'model.onnx');
  model.save(file, { externalData: true }, proto);
  const inputs = modelInputs(proto.graph as GraphProto, file);
  return { file, hidden, inputs };
}

/**
 * The scoring graph (as scoreDocuments builds and opens it) and the forward without the
 * lm_head, taking turns batch by batch, `rounds` passes over the documents each after one
 * untimed pass (a first run at each new shape costs more, in onnxruntime as in torch).
 */
async function scoreTurns(a: {
  model: string;
  documents: string;
  threads: number;
  batch: number;
  rounds: number;
  work: string;
}) {
  const documents = readJson<number[][]>(a.documents);
  const { model, map } = withMap(a.model);
  const trunk = writeTrunk(model, map.lmHead?.node ?? '', a.work);
  const graph = ScoringGraph.write(model, map, { workDir: a.work });
  model.close();
  const options = { threads: a.threads };
  const plain = await ModelSession.open(trunk.file, options);
  const scoring = await ScoringSession.open(graph, options);
  const runs = [
    (b: number[][]) => plain.run(batchFeeds(trunk.inputs, b), [trunk.hidden]),
    (b: number[][]) => scoring.run(b)
  ];
  const times: number[][] = [[], []];
  const all = batches(documents, a.batch);
  for (let round = -1; round < a.rounds; round++) {
    for (const [i, batch] of all.entries()) {
      for (const k of (i + round) % 2 ? [1, 0] : [0, 1]) {
        const started = performance.now();
        await runs[k](batch);
        if (round >= 0) {
          times[k].push(elapsed(started));
        }
      }
    }
  }
  await plain.release();
  await scoring.release();
  graph.dispose();
  const forms = graph.outputs.flatMap(o => o.attentionForm ?? []);
  return {
    rounds: a.rounds,
    trunkMs: times[0],
    scoringMs: times[1],
    forms: [...new Set(forms)]
  };
}

/** One whole scoreDocuments pass into a new store: set-up (graph, norms) included. */
async function scorePass(a: {
  model: string;
  documents: string;
  threads: number;
  batch: number;
  work: string;
}) {
  const documents = readJson<number[][]>(a.documents);
  const started = performance.now();
  const { model, map } = withMap(a.model);
  const store = openScoreStore(path.join(a.work, 'store'), model, map);
  await scoreDocuments(
    model,
    map,
    documents.map((tokens, i) => ({ id: `d${i}`, tokens })),
    store,
    { threads: a.threads, batchSize: a.batch, workDir: a.work }
  );
  store.close();
  model.close();
  return { totalMs: elapsed(started), peakRss: peakRss() };
}

/** Greedy decode latency of the dense model and the expert, with the KV cache, in turns. */
async function decode(a: {
  dense: string;
  pruned: string;
  threads: number;
  rounds: number;
}) {
  const options = { threads: a.threads };
  const runners = [
    await ModelRunner.open(a.dense, options),
    await ModelRunner.open(a.pruned, options)
  ];
  const shape = { promptTokens: 64, decodeTokens: 16, repeats: 1 };
  const decodeMs: number[][] = [[], []];
  const prefillMs: number[][] = [[], []];
  for (let round = 0; round < a.rounds; round++) {
    for (const k of round % 2 ? [1, 0] : [0, 1]) {
      const result = await latency(runners[k], shape);
      decodeMs[k].push(result.decodeMsPerToken);
      prefillMs[k].push(result.prefillMs);
    }
  }
  // Without the cache every step recomputes the sequence: a few tokens show the cost.
  const uncached = await latency(runners[0], {
    ...shape,
    decodeTokens: 4,
    useCache: false
  });
  await Promise.all(runners.map(r => r.release()));
  return {
    usedCache: runners.every(r => r.hasKvCache),
    decodeMs,
    prefillMs,
    uncachedDecodeMs: uncached.decodeMsPerToken
  };
}

/**
 * Generates a model of real shape in `dir`: its weights streamed into external data, then,
 * `inline`, rewritten into the model file by the engine's streaming writer.
 */
function generate(a: {
  config: 'gemma' | 'smollm2';
  dir: string;
  inline: boolean;
}) {
  const config = a.config === 'gemma' ? GEMMA_LIKE_CONFIG : SMOLLM2_LIKE_CONFIG;
  const drawn = a.inline ? path.join(a.dir, 'external') : a.dir;
  const file = writeLlamaModelExternal(drawn, config);
  if (!a.inline) {
    return { file };
  }
  const model = OnnxModel.load(file);
  const inline = path.join(a.dir, 'model.onnx');
  model.save(inline, { externalData: false });
  model.close();
  fs.copyFileSync(
    path.join(drawn, 'config.json'),
    path.join(a.dir, 'config.json')
  );
  fs.rmSync(drawn, { recursive: true, force: true });
  return { file: inline };
}

/** Seeded token sequences for a generated model: it has no tokenizer. */
function seededDocuments(vocab: number, count: number, length: number) {
  let state = 17;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  return Array.from({ length: count }, () =>
    Array.from({ length }, () => Math.floor(next() * vocab))
  );
}

/**
 * The token sequences a subject runs, written as JSON in `dir`: for perplexity, the first
 * texts of the demo's English computing QA set (or seeded tokens for a generated model); for
 * scoring, the demo's 96 corpus documents, longest first, as scoreDocuments orders them.
 */
function documents(a: { model: string; dir: string; real: boolean }) {
  const evalDocuments = path.join(a.dir, 'eval.json');
  if (!a.real) {
    const { model, map } = withMap(a.model);
    model.close();
    const docs = seededDocuments(map.vocab, EVAL_TEXTS, EVAL_TOKENS);
    fs.writeFileSync(evalDocuments, JSON.stringify(docs));
    return { evalDocuments, description: describeMap(map) };
  }
  const { model, map } = withMap(a.model);
  model.close();
  const tokenizer = loadTokenizer(path.dirname(a.model));
  const texts = fs
    .readFileSync(EVAL_SET, 'utf8')
    .trim()
    .split('\n')
    .slice(0, EVAL_TEXTS)
    .map(line => (JSON.parse(line) as { text: string }).text);
  const evalDocs = texts.map(t => tokenizer.encode(t).slice(0, EVAL_TOKENS));
  fs.writeFileSync(evalDocuments, JSON.stringify(evalDocs));
  const corpus = loadCorpus(CORPUS, tokenizer, { vocab: map.vocab });
  const scoring = corpus.dimensions
    .flatMap(d => d.documents.map(doc => doc.tokens))
    .sort((x, y) => y.length - x.length);
  const scoreDocuments = path.join(a.dir, 'score.json');
  fs.writeFileSync(scoreDocuments, JSON.stringify(scoring));
  return { evalDocuments, scoreDocuments, description: describeMap(map) };
}

const TASKS = {
  generate,
  documents,
  prune,
  evaluate,
  logitsForward,
  scoreTurns,
  scorePass,
  decode
};
type Task = keyof typeof TASKS;

/** Runs `task` in a fresh Node process. */
function inChild<T>(task: Task, args: object): T {
  return spawnChild<T>(__filename, [
    '--child',
    task,
    '--args',
    JSON.stringify(args)
  ]);
}

/** PyTorch forward hooks on the same documents, or why they were not run. */
function torchHooks(
  subject: Subject,
  setup: Setup
):
  | { seconds: number[]; plainSeconds: number[]; forms: string[] }
  | { skipped: string } {
  if (!subject.gguf || !subject.scoreDocuments) {
    return { skipped: 'no GGUF weights for this model' };
  }
  if (!fs.existsSync(path.join(EXPORT_VENV, '.export-extra'))) {
    return {
      skipped: `no torch in ${path.relative(ROOT, EXPORT_VENV)} (make setup-export)`
    };
  }
  const result = spawnSync(
    EXPORT_PYTHON,
    [
      path.join(ROOT, 'bench', 'torch_hooks.py'),
      subject.gguf,
      subject.scoreDocuments,
      ...['--threads', String(setup.threads), '--batch', String(setup.batch)],
      ...['--rounds', String(setup.rounds)]
    ],
    { encoding: 'utf8', maxBuffer: 16 << 20 }
  );
  if (result.status !== 0) {
    return {
      skipped: `torch_hooks.py failed: ${result.stderr.trim().split('\n').pop()}`
    };
  }
  const lines = result.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

interface Measured {
  prune: Awaited<ReturnType<typeof prune>>;
  pruneChecked: Awaited<ReturnType<typeof prune>>;
  pruneRegression: Awaited<ReturnType<typeof prune>>;
  pruneRegressionPasses: Awaited<ReturnType<typeof prune>>;
  evalDense: Awaited<ReturnType<typeof evaluate>>;
  evalPruned: Awaited<ReturnType<typeof evaluate>>;
  logits: Awaited<ReturnType<typeof logitsForward>>;
  scoring?: Awaited<ReturnType<typeof scoreTurns>>;
  scorePass?: Awaited<ReturnType<typeof scorePass>>;
  torch?: ReturnType<typeof torchHooks>;
  decode?: Awaited<ReturnType<typeof decode>>;
}

/** Every step on one subject, each in its own process. */
function measure(subject: Subject, setup: Setup, work: string): Measured {
  const common = {
    model: subject.file,
    documents: subject.evalDocuments,
    threads: setup.threads
  };
  const pruned = path.join(work, 'pruned');
  const measured: Measured = {
    prune: inChild('prune', { ...common, out: pruned, verify: false }),
    pruneChecked: inChild('prune', {
      ...common,
      out: path.join(work, 'pruned-checked'),
      verify: true
    }),
    pruneRegression: inChild('prune', {
      ...common,
      out: path.join(work, 'pruned-regression'),
      verify: false,
      regression: 'one-pass'
    }),
    pruneRegressionPasses: inChild('prune', {
      ...common,
      out: path.join(work, 'pruned-regression-passes'),
      verify: false,
      regression: 'in-passes'
    }),
    evalDense: inChild('evaluate', { ...common, pruned: false }),
    evalPruned: inChild('evaluate', { ...common, pruned: true }),
    logits: inChild('logitsForward', common)
  };
  if (subject.real && subject.scoreDocuments) {
    const scoring = {
      ...common,
      documents: subject.scoreDocuments,
      batch: setup.batch,
      work
    };
    measured.scoring = inChild('scoreTurns', {
      ...scoring,
      rounds: setup.rounds
    });
    measured.scorePass = inChild('scorePass', scoring);
    measured.torch = torchHooks(subject, setup);
    measured.decode = inChild('decode', {
      dense: subject.file,
      pruned: path.join(pruned, 'model.onnx'),
      threads: setup.threads,
      rounds: 2 * setup.rounds + 1
    });
  }
  return measured;
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const x = (n: number) => n.toFixed(3);

/** The printed lines for one subject: label, value. */
function rows(m: Measured, weights: number): [string, string][] {
  const ofWeights = (rss: number) =>
    `${mib(rss)} = ${x(rss / weights)} of the weights`;
  const out: [string, string][] = [
    [
      'prune 25%, model written: peak RSS',
      `${ofWeights(m.prune.peakRss)}, ${sec(m.prune.writeMs)}`
    ],
    [
      '  and checked as `cusprun prune` does',
      `${ofWeights(m.pruneChecked.peakRss)}, ${sec(m.pruneChecked.totalMs)}`
    ],
    ['  check', m.pruneChecked.check ?? ''],
    [
      `  regression-compensated (Gram pass on the ${EVAL_TEXTS} texts, fit, write)`,
      `${ofWeights(m.pruneRegression.peakRss)}, ${sec(m.pruneRegression.writeMs)} (Gram pass ${sec(m.pruneRegression.gramMs ?? 0)}, fit ${sec(m.pruneRegression.fitMs ?? 0)})`
    ],
    [
      '  regression-compensated / plain',
      `RSS ${x(m.pruneRegression.peakRss / m.prune.peakRss)}, time ${x(m.pruneRegression.writeMs / m.prune.writeMs)}`
    ],
    [
      `  the same, Gram passes of ≤ ${mib(GRAM_BUDGET_BYTES)} (cusprun prune's)`,
      `${ofWeights(m.pruneRegressionPasses.peakRss)}, ${sec(m.pruneRegressionPasses.writeMs)} (passes and fits ${sec(m.pruneRegressionPasses.fitMs ?? 0)})`
    ],
    [
      '  in passes / one pass',
      `RSS ${x(m.pruneRegressionPasses.peakRss / m.pruneRegression.peakRss)}, time ${x(m.pruneRegressionPasses.writeMs / m.pruneRegression.writeMs)}`
    ],
    [
      `perplexity (${EVAL_TEXTS} × ≤${EVAL_TOKENS} tokens), dense`,
      `${ofWeights(m.evalDense.peakRss)}, ${sec(m.evalDense.totalMs)} (ppl ${m.evalDense.perplexity.toFixed(3)})`
    ],
    [
      '  25% expert pruned in memory',
      `${ofWeights(m.evalPruned.peakRss)}, ${sec(m.evalPruned.totalMs)} (ppl ${m.evalPruned.perplexity.toFixed(3)})`
    ],
    [
      '  full logits to JS, as before',
      `${ofWeights(m.logits.peakRss)}, ${sec(m.logits.totalMs)} (ppl ${m.logits.perplexity.toFixed(3)}; ${mib(m.logits.fetched)} of logits a run)`
    ],
    [
      '  dense / before',
      `RSS ${x(m.evalDense.peakRss / m.logits.peakRss)}, time ${x(m.evalDense.totalMs / m.logits.totalMs)}`
    ]
  ];
  return [...out, ...scoringRows(m), ...decodeRows(m)];
}

function scoringRows(m: Measured): [string, string][] {
  if (!m.scoring || !m.scorePass) {
    return [];
  }
  const { trunkMs, scoringMs, forms, rounds } = m.scoring;
  // Whole passes: the fastest of the rounds, the least disturbed by other jobs.
  const fastestPass = (values: number[]) => {
    const perRound = values.length / rounds;
    return Math.min(
      ...Array.from({ length: rounds }, (_, r) =>
        values.slice(r * perRound, (r + 1) * perRound).reduce((a, b) => a + b)
      )
    );
  };
  const trunk = fastestPass(trunkMs);
  const scoring = fastestPass(scoringMs);
  const out: [string, string][] = [
    [`scoring, turns batch by batch (attention: ${forms.join(', ')})`, ''],
    [
      '  scoring / forward without lm_head (fastest passes)',
      `${sec(scoring)} / ${sec(trunk)} = ${x(scoring / trunk)} (per batch, paired: ${x(pairedRatio(scoringMs, trunkMs))})`
    ],
    [
      '  scoreDocuments, one whole pass',
      `${sec(m.scorePass.totalMs)} (set-up included), peak RSS ${mib(m.scorePass.peakRss)}`
    ]
  ];
  const torch = m.torch;
  if (torch && 'seconds' in torch) {
    const hooks = Math.min(...torch.seconds) * 1000;
    const plain = Math.min(...torch.plainSeconds) * 1000;
    const overhead = pairedRatio(torch.seconds, torch.plainSeconds);
    out.push(
      [
        '  PyTorch forward hooks, same sums',
        `${sec(hooks)} (hooks / torch forward, paired: ${x(overhead)})`
      ],
      [
        '  scoring / hooks',
        `${x(scoring / hooks)} (forward without lm_head, onnxruntime / torch: ${x(trunk / plain)})`
      ]
    );
  } else if (torch) {
    out.push(['  PyTorch forward hooks', `skipped: ${torch.skipped}`]);
  }
  return out;
}

function decodeRows(m: Measured): [string, string][] {
  if (!m.decode) {
    return [];
  }
  const [dense, pruned] = m.decode.decodeMs.map(median);
  const [densePrefill, prunedPrefill] = m.decode.prefillMs.map(median);
  return [
    [
      `decode with the KV cache (${m.decode.usedCache ? 'both' : 'NOT both'}), 64-token prompt`,
      ''
    ],
    [
      '  per token: expert / dense',
      `${dense.toFixed(1)} → ${pruned.toFixed(1)} ms = ${x(pruned / dense)} (paired: ${x(pairedRatio(m.decode.decodeMs[1], m.decode.decodeMs[0]))})`
    ],
    [
      '  prefill: expert / dense',
      `${densePrefill.toFixed(0)} → ${prunedPrefill.toFixed(0)} ms = ${x(prunedPrefill / densePrefill)}`
    ],
    [
      '  dense without the cache, per token',
      `${m.decode.uncachedDecodeMs.toFixed(0)} ms`
    ]
  ];
}

/** The generated models, and the real exports that are there (or why they are not). */
function subjects(modelsDir: string): {
  generated: { name: string; config: 'gemma' | 'smollm2'; inline: boolean }[];
  real: { name: string; file: string; gguf: string }[];
  skipped: string[];
} {
  const generated = [
    { name: 'gemma-like', config: 'gemma' as const, inline: false },
    { name: 'smollm2-like', config: 'smollm2' as const, inline: true }
  ];
  const real: { name: string; file: string; gguf: string }[] = [];
  const skipped: string[] = [];
  for (const [name, weights] of Object.entries(GGUF)) {
    const gguf = path.join(WEIGHTS, weights);
    const file = path.join(modelsDir, name, 'model.onnx');
    if (!fs.existsSync(gguf)) {
      skipped.push(
        `${name}: skipped, no ${gguf} (python3 scripts/fetch_weights.py ${name})`
      );
    } else if (!fs.existsSync(file)) {
      skipped.push(
        `${name}: skipped, no export at ${path.dirname(file)} (make demo DEMO_MODEL=${name}, or cusprun export ${gguf} --kv --out ${path.dirname(file)})`
      );
    } else {
      real.push({ name, file, gguf });
    }
  }
  return { generated, real, skipped };
}

/** Measures one subject in its own work folder, prints its lines, returns its figures. */
function report(
  name: string,
  file: string,
  real: boolean,
  setup: Setup,
  gguf?: string
): unknown {
  const work = fs.mkdtempSync(path.join(setup.work, `${name}-`));
  const prepared = inChild<{
    evalDocuments: string;
    scoreDocuments?: string;
    description: string;
  }>('documents', { model: file, dir: work, real });
  const subject: Subject = { name, file, real, gguf, ...prepared };
  const measured = measure(subject, setup, work);
  const weights = measured.prune.weightBytes;
  const where = fs.existsSync(`${file}_data`) ? 'external data' : 'inline';
  console.log(
    `\n${name}: ${prepared.description}; ${mib(weights)} of weights (${where}), ${setup.threads} threads`
  );
  const lines = rows(measured, weights);
  const width = Math.max(...lines.map(([label]) => label.length)) + 2;
  for (const [label, value] of lines) {
    console.log(`  ${label.padEnd(width)}${value}`);
  }
  fs.rmSync(work, { recursive: true, force: true });
  return { name, description: prepared.description, weights, ...measured };
}

async function child(task: Task, args: string): Promise<void> {
  const run = TASKS[task] as (a: unknown) => unknown;
  reply(await run(JSON.parse(args)));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      args: { type: 'string' },
      models: { type: 'string', default: path.join(ROOT, 'demo', 'build') },
      only: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      threads: { type: 'string', default: '2' },
      batch: { type: 'string', default: '8' }
    }
  });
  if (values.child) {
    await child(values.child as Task, values.args as string);
    return;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-real-shapes-'));
  const setup: Setup = {
    threads: Number(values.threads),
    batch: Number(values.batch),
    rounds: Number(values.rounds),
    work
  };
  const only = values.only?.split(',');
  const wanted = (name: string) => !only || only.includes(name);
  const found = subjects(values.models as string);
  const results: unknown[] = [];
  try {
    for (const g of found.generated.filter(s => wanted(s.name))) {
      const dir = path.join(work, `${g.name}-model`);
      const { file } = inChild<{ file: string }>('generate', { ...g, dir });
      results.push(report(g.name, file, false, setup));
      fs.rmSync(dir, { recursive: true, force: true });
    }
    for (const r of found.real.filter(s => wanted(s.name))) {
      results.push(report(r.name, r.file, true, setup, r.gguf));
    }
    found.skipped.forEach(line => console.log(`\n${line}`));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const out = path.join(ROOT, 'bench', 'out');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(
    path.join(out, 'real-shapes.json'),
    `${JSON.stringify({ setup, results }, null, 2)}\n`
  );
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
