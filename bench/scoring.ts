/**
 * Scoring against a plain forward, and pruned against dense, on a Llama-architecture model
 * generated here (bench/llama-onnx.ts: 8 layers, hidden 512, GQA), all measured side by side in
 * this run:
 *
 * - one batch, the sessions taking turns in one process: the dense forward fetching logits, the
 *   same forward without the lm_head (its trunk, fetching the last hidden state), the scoring
 *   graph exactly as scoreDocuments builds and opens it, and the model pruned to 25% and 45% of
 *   its prunable parameters (the same share of FFN channels and attention groups removed from
 *   every layer, written with writePrunedModel and checked against the zeroed original);
 * - whole passes over the documents, each in a fresh Node process: scoreDocuments into a new
 *   store against a plain forward, their times and peak RSS (weights inline and in an
 *   external-data file).
 *
 * This process only starts the others, so each pass's peak RSS is its own (a child's maxRSS
 * starts from its parent's RSS at fork). The machine is shared: every figure is a median, and
 * what is compared takes turns.
 *
 *   node dist-bench/bench/scoring.js [--rounds 3] [--documents 32] [--tokens 256] [--batch 8]
 *                                    [--threads 2] [--latency-runs 7]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { mapModel, ModelMap, readModelConfig } from '../src/engine/arch';
import {
  ModelSession,
  pruneToOutputs,
  ScoringGraph,
  ScoringSession
} from '../src/engine/capture';
import { tensorValueInfo } from '../src/engine/capture/graph-builder';
import { ScoringInput } from '../src/engine/capture/scoring-graph';
import { batchFeeds } from '../src/engine/capture/scoring-session';
import {
  DataType,
  encodeModel,
  GraphProto,
  OnnxModel
} from '../src/engine/onnx';
import {
  assertWithinBound,
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
  buildLlamaProto,
  DEFAULT_CONFIG,
  LAST_HIDDEN,
  LlamaConfig,
  writeLlamaModel
} from './llama-onnx';

const TARGETS = [0.25, 0.45];
const EXTERNAL_ROUNDS = 1;

type PassKind =
  | 'idle'
  | 'forward'
  | 'trunk'
  | 'score'
  | 'forward-external'
  | 'score-external';
type Measured = Exclude<PassKind, 'idle'>;
type Step = PassKind | 'prepare' | 'interleaved';

interface Setup {
  documents: number;
  tokens: number;
  batch: number;
  threads: number;
  rounds: number;
  latencyRuns: number;
}

interface Document {
  id: string;
  tokens: number[];
}

/** What the prepare step leaves in the work folder's prepared.json. */
interface Prepared {
  dense: string;
  /** The dense model again, its weights in an external-data file. */
  denseExternal: string;
  trunk: string;
  documents: string;
  model: Record<string, unknown>;
  generateMs: number;
  pruneMs: number;
  pruned: {
    target: number;
    ratio: number;
    groupsPerLayer: number;
    channelsPerLayer: number;
    file: string;
    bytes: number;
    maxAbsDiffAgainstZeroed: number;
  }[];
}

interface PassResult {
  kind: PassKind;
  /** Whole pass: set-up (session; for scoring also the model, map, graph and store) and batches. */
  totalMs: number;
  /** Time of each batch after the first (the first carries warm-up and, for scoring, set-up). */
  batchMs: number[];
  peakRss: number;
}

const INPUTS: ScoringInput[] = [
  { name: 'input_ids', role: 'input-ids', elemType: DataType.INT64 },
  { name: 'attention_mask', role: 'attention-mask', elemType: DataType.INT64 }
];

function seededDocuments(
  count: number,
  length: number,
  vocab: number
): Document[] {
  let state = 20240607;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  return Array.from({ length: count }, (_, d) => ({
    id: `doc-${String(d).padStart(3, '0')}`,
    tokens: Array.from({ length }, () => 1 + Math.floor(next() * (vocab - 1)))
  }));
}

/** The map must find exactly what was generated; anything else is a bug here or in the mapper. */
function checkMap(map: ModelMap, config: LlamaConfig): void {
  const problems: string[] = [];
  if (
    map.family !== 'llama' ||
    map.layers.length !== config.layers ||
    map.hidden !== config.hidden ||
    map.vocab !== config.vocab ||
    !map.lmHead ||
    map.blockers.length
  ) {
    problems.push(
      `${describeMap(map)}, lm_head ${map.lmHead?.node}, blockers ${map.blockers}`
    );
  }
  for (const layer of map.layers) {
    const a = layer.attention;
    if (
      a.heads !== config.heads ||
      a.kvHeads !== config.kvHeads ||
      a.headSize !== (config.headSize ?? config.hidden / config.heads) ||
      layer.ffn.width !== config.ffn ||
      layer.ffn.kind !== 'gated' ||
      layer.ffn.activation !== 'silu' ||
      !layer.shapeConstants.some(c => c.quantity === 'kvHeads') ||
      !layer.shapeConstants.some(c => c.quantity === 'heads')
    ) {
      problems.push(`layer ${layer.index}: ${JSON.stringify(layer)}`);
    }
  }
  if (problems.length) {
    throw new Error(`the model map is not what was generated: ${problems}`);
  }
}

/**
 * The dense model, its trunk (the same graph up to the final norm: no lm_head), the documents,
 * and the pruned models, each checked against the dense model with its units zeroed.
 */
async function prepare(work: string, setup: Setup): Promise<Prepared> {
  const config = DEFAULT_CONFIG;
  let started = performance.now();
  const proto = buildLlamaProto(config);
  const dense = writeLlamaModel(path.join(work, 'dense'), config, proto);
  const graph = proto.graph as GraphProto;
  const trunk = path.join(work, 'trunk', 'model.onnx');
  fs.mkdirSync(path.dirname(trunk));
  const hidden = tensorValueInfo(LAST_HIDDEN, DataType.FLOAT, [
    'batch',
    'sequence',
    config.hidden
  ]);
  fs.writeFileSync(
    trunk,
    encodeModel({
      ...proto,
      graph: pruneToOutputs({ ...graph, output: [hidden] })
    })
  );
  const generateMs = performance.now() - started;

  const model = OnnxModel.load(dense);
  const map = mapModel(model, { config: readModelConfig(dense) });
  checkMap(map, config);
  const denseExternal = path.join(work, 'dense-external', 'model.onnx');
  model.save(denseExternal, { externalData: true });
  fs.copyFileSync(
    path.join(model.dir, 'config.json'),
    path.join(work, 'dense-external', 'config.json')
  );
  const documents = seededDocuments(
    setup.documents,
    setup.tokens,
    config.vocab
  );
  const documentsFile = path.join(work, 'documents.json');
  fs.writeFileSync(documentsFile, JSON.stringify(documents));

  started = performance.now();
  const pruned: Prepared['pruned'] = [];
  for (const target of TARGETS) {
    const uniform = uniformPlan(map, target);
    const written = await writePrunedModel(
      model,
      uniform.plan,
      path.join(work, `pruned-${Math.round(target * 100)}`)
    );
    const comparison = await verifyPruned(
      model,
      map,
      uniform.plan,
      written.file,
      [documents[0].tokens.slice(0, 64)],
      { threads: setup.threads }
    );
    assertWithinBound(comparison, written.file);
    pruned.push({
      target,
      ratio: uniform.ratio,
      groupsPerLayer: uniform.groups,
      channelsPerLayer: uniform.channels,
      file: written.file,
      bytes: written.bytesAfter,
      maxAbsDiffAgainstZeroed: comparison.maxAbsDiff
    });
  }
  const pruneMs = performance.now() - started;
  model.close();
  const layer = map.layers[0];
  return {
    dense,
    denseExternal,
    trunk,
    documents: documentsFile,
    generateMs,
    pruneMs,
    pruned,
    model: {
      description: describeMap(map),
      layers: map.layers.length,
      hidden: map.hidden,
      heads: layer.attention.heads,
      kvHeads: layer.attention.kvHeads,
      headSize: layer.attention.headSize,
      ffn: layer.ffn.width,
      vocab: map.vocab,
      totalParams: map.totalParams,
      prunableParams: map.prunableParams,
      lmHeadParams: map.lmHead ? map.lmHead.in * map.lmHead.out : 0,
      bytes: fs.statSync(dense).size,
      nodes: graph.node.length,
      seed: config.seed
    }
  };
}

/** One pass over every document: a plain forward, a trunk forward, or scoring. */
async function runPass(
  kind: PassKind,
  prepared: Prepared,
  setup: Setup,
  work: string
): Promise<PassResult> {
  const documents = readJson<Document[]>(prepared.documents);
  const started = performance.now();
  const stamps: number[] = [];
  const file = {
    idle: prepared.dense,
    forward: prepared.dense,
    score: prepared.dense,
    trunk: prepared.trunk,
    'forward-external': prepared.denseExternal,
    'score-external': prepared.denseExternal
  }[kind];
  if (kind === 'forward' || kind === 'forward-external' || kind === 'trunk') {
    const output = kind === 'trunk' ? LAST_HIDDEN : 'logits';
    const session = await ModelSession.open(file, { threads: setup.threads });
    for (const batch of batches(documents, setup.batch)) {
      const feeds = batchFeeds(
        INPUTS,
        batch.map(d => d.tokens)
      );
      const result = await session.run(feeds, [output]);
      if (!result[output]) {
        throw new Error(`the ${kind} pass fetched no ${output}`);
      }
      stamps.push(performance.now());
    }
    await session.release();
  } else if (kind === 'score' || kind === 'score-external') {
    const model = OnnxModel.load(file);
    const map = mapModel(model, { config: readModelConfig(model.file) });
    const store = openScoreStore(path.join(work, 'store'), model, map);
    const summary = await scoreDocuments(model, map, documents, store, {
      batchSize: setup.batch,
      threads: setup.threads,
      workDir: work,
      onProgress: () => stamps.push(performance.now())
    });
    model.close();
    if (summary.scored !== documents.length) {
      throw new Error(`scored ${summary.scored} of ${documents.length}`);
    }
  }
  return {
    kind,
    totalMs: performance.now() - started,
    batchMs: stamps.slice(1).map((t, i) => t - stamps[i]),
    peakRss: peakRss()
  };
}

/** Times of each run, per session: forward, trunk, scoring, then the pruned models. */
interface Interleaved {
  forwardMs: number[];
  trunkMs: number[];
  scoringMs: number[];
  prunedMs: number[][];
}

/**
 * One batch through each session in one process, the sessions taking turns run by run (the
 * order rotating), so that load from other jobs falls on all of them alike: the dense forward,
 * its trunk, the scoring graph as scoreDocuments builds and opens it, and the pruned models.
 */
async function interleaved(
  prepared: Prepared,
  setup: Setup,
  work: string
): Promise<Interleaved> {
  const documents = readJson<Document[]>(prepared.documents);
  const tokens = documents.slice(0, setup.batch).map(d => d.tokens);
  const feeds = batchFeeds(INPUTS, tokens);
  const options = { threads: setup.threads };
  const model = OnnxModel.load(prepared.dense);
  const map = mapModel(model, { config: readModelConfig(model.file) });
  const graph = ScoringGraph.write(model, map, { workDir: work });
  model.close();
  const plain = async (file: string, output: string) => {
    const session = await ModelSession.open(file, options);
    return {
      run: () => session.run(feeds, [output]),
      release: () => session.release()
    };
  };
  const runners: {
    run: () => Promise<unknown>;
    release: () => Promise<void>;
  }[] = [];
  const times: number[][] = [];
  try {
    runners.push(await plain(prepared.dense, 'logits'));
    runners.push(await plain(prepared.trunk, LAST_HIDDEN));
    const scoring = await ScoringSession.open(graph, options);
    runners.push({
      run: () => scoring.run(tokens),
      release: () => scoring.release()
    });
    for (const p of prepared.pruned) {
      runners.push(await plain(p.file, 'logits'));
    }
    for (const runner of runners) {
      await runner.run();
      times.push([]);
    }
    for (let r = 0; r < setup.latencyRuns; r++) {
      for (let i = 0; i < runners.length; i++) {
        const k = (i + r) % runners.length;
        const start = performance.now();
        await runners[k].run();
        times[k].push(performance.now() - start);
      }
    }
  } finally {
    for (const runner of runners) {
      await runner.release();
    }
    graph.dispose();
  }
  const [forwardMs, trunkMs, scoringMs, ...prunedMs] = times;
  return { forwardMs, trunkMs, scoringMs, prunedMs };
}

/** Runs inside a child process: one step, its result printed as JSON on the last line. */
async function child(step: Step, work: string): Promise<void> {
  const setup = readJson<Setup>(path.join(work, 'setup.json'));
  const preparedFile = path.join(work, 'prepared.json');
  let result: unknown;
  if (step === 'prepare') {
    result = await prepare(work, setup);
    fs.writeFileSync(preparedFile, JSON.stringify(result));
  } else {
    const stepDir = path.join(work, 'step');
    fs.rmSync(stepDir, { recursive: true, force: true });
    fs.mkdirSync(stepDir);
    const prepared = readJson<Prepared>(preparedFile);
    result =
      step === 'interleaved'
        ? await interleaved(prepared, setup, stepDir)
        : await runPass(step, prepared, setup, stepDir);
    fs.rmSync(stepDir, { recursive: true, force: true });
  }
  reply(result);
}

function spawnStep<T>(step: Step, work: string): T {
  return spawnChild<T>(__filename, ['--child', step, '--work', work]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      work: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      documents: { type: 'string', default: '32' },
      tokens: { type: 'string', default: '256' },
      batch: { type: 'string', default: '8' },
      threads: { type: 'string', default: '2' },
      'latency-runs': { type: 'string', default: '7' }
    }
  });
  if (values.child) {
    await child(values.child as Step, values.work as string);
    return;
  }
  const setup: Setup = {
    documents: Number(values.documents),
    tokens: Number(values.tokens),
    batch: Number(values.batch),
    threads: Number(values.threads),
    rounds: Number(values.rounds),
    latencyRuns: Number(values['latency-runs'])
  };
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-bench-'));
  try {
    fs.writeFileSync(path.join(work, 'setup.json'), JSON.stringify(setup));
    const prepared = spawnStep<Prepared>('prepare', work);
    const idle = spawnStep<PassResult>('idle', work);
    // Passes per kind: the timed pair every round; the others are there for their peak RSS,
    // which varies little.
    const passes: Record<Measured, number> = {
      forward: setup.rounds,
      score: setup.rounds,
      trunk: 1,
      'forward-external': Math.min(setup.rounds, EXTERNAL_ROUNDS),
      'score-external': Math.min(setup.rounds, EXTERNAL_ROUNDS)
    };
    const kinds = Object.keys(passes) as Measured[];
    const runs = Object.fromEntries(
      kinds.map(kind => [kind, [] as PassResult[]])
    ) as Record<Measured, PassResult[]>;
    for (let r = 0; r < setup.rounds; r++) {
      for (let i = 0; i < kinds.length; i++) {
        const kind = kinds[(i + r) % kinds.length];
        if (r < passes[kind]) {
          runs[kind].push(spawnStep<PassResult>(kind, work));
        }
      }
    }
    const turns = spawnStep<Interleaved>('interleaved', work);

    const summary = (kind: Measured) => ({
      passes: runs[kind].length,
      totalMs: median(runs[kind].map(p => p.totalMs)),
      batchMs: median(runs[kind].flatMap(p => p.batchMs)),
      peakRss: median(runs[kind].map(p => p.peakRss))
    });
    const forward = summary('forward');
    const score = summary('score');
    const trunk = summary('trunk');
    const forwardExternal = summary('forward-external');
    const scoreExternal = summary('score-external');
    const results = {
      model: prepared.model,
      setup: {
        ...setup,
        cpus: os.cpus().length,
        loadAverage: os.loadavg(),
        generateMs: prepared.generateMs,
        pruneAndVerifyMs: prepared.pruneMs
      },
      oneBatch: {
        forwardMs: median(turns.forwardMs),
        trunkMs: median(turns.trunkMs),
        scoringMs: median(turns.scoringMs),
        ratioScoringToForward:
          median(turns.scoringMs) / median(turns.forwardMs),
        ratioScoringToForwardWithoutLmHead:
          median(turns.scoringMs) / median(turns.trunkMs),
        ratioForwardWithoutLmHeadToForward:
          median(turns.trunkMs) / median(turns.forwardMs),
        // The same ratios taken turn by turn, then their median: another view of the noise.
        pairedRatios: {
          scoringToForward: pairedRatio(turns.scoringMs, turns.forwardMs),
          scoringToForwardWithoutLmHead: pairedRatio(
            turns.scoringMs,
            turns.trunkMs
          ),
          prunedToDense: turns.prunedMs.map(t =>
            pairedRatio(t, turns.forwardMs)
          )
        },
        runs: turns
      },
      passes: {
        forward,
        score,
        forwardWithoutLmHead: trunk,
        forwardExternalData: forwardExternal,
        scoreExternalData: scoreExternal,
        idlePeakRss: idle.peakRss,
        ratioPassScoreToForward: score.totalMs / forward.totalMs,
        ratioBatchScoreToForward: score.batchMs / forward.batchMs,
        ratioPeakRssScoreToForward: score.peakRss / forward.peakRss,
        ratioPeakRssAboveIdleScoreToForward:
          (score.peakRss - idle.peakRss) / (forward.peakRss - idle.peakRss),
        ratioPeakRssScoreToForwardExternalData:
          scoreExternal.peakRss / forwardExternal.peakRss,
        runs
      },
      pruning: prepared.pruned.map((p, i) => ({
        ...p,
        file: undefined,
        prefillMs: median(turns.prunedMs[i]),
        ratioToDense: median(turns.prunedMs[i]) / median(turns.forwardMs)
      }))
    };

    const ms = (n: number) => `${n.toFixed(0)} ms`;
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    const x = (n: number) => n.toFixed(3);
    const ratio = (a: string, b: string, r: number) => `${a} / ${b}  = ${x(r)}`;
    const b = results.oneBatch;
    const s = results.passes;
    const rows: [string, string][] = [
      [
        `one batch (${setup.batch} × ${setup.tokens}), sessions taking turns, medians of ${setup.latencyRuns} turns:`,
        ''
      ],
      ['  forward (logits)', ms(b.forwardMs)],
      ['  forward without lm_head', ms(b.trunkMs)],
      ['  scoring graph', ms(b.scoringMs)],
      ['    scoring / forward', x(b.ratioScoringToForward)],
      [
        '    scoring / forward without lm_head',
        x(b.ratioScoringToForwardWithoutLmHead)
      ],
      ...results.pruning.map((p): [string, string] => [
        `  pruned ${(p.ratio * 100).toFixed(1)}% (-${p.groupsPerLayer}/${prepared.model.kvHeads} groups, -${p.channelsPerLayer}/${prepared.model.ffn} ch)`,
        `${ms(p.prefillMs)}  = ${x(p.ratioToDense)} of dense`
      ]),
      [
        `whole passes over the ${setup.documents} documents, fresh processes, medians of ${setup.rounds}:`,
        ''
      ],
      [
        '  scoreDocuments / forward',
        ratio(ms(score.totalMs), ms(forward.totalMs), s.ratioPassScoreToForward)
      ],
      [
        '  per batch after the first',
        ratio(
          ms(score.batchMs),
          ms(forward.batchMs),
          s.ratioBatchScoreToForward
        )
      ],
      ['  peak RSS: empty Node process', mib(idle.peakRss)],
      [
        `  peak RSS: forward without lm_head (${trunk.passes} pass)`,
        mib(trunk.peakRss)
      ],
      [
        '  peak RSS: scoring / forward',
        ratio(
          mib(score.peakRss),
          mib(forward.peakRss),
          s.ratioPeakRssScoreToForward
        )
      ],
      [
        `    weights in external data (${scoreExternal.passes} pass)`,
        ratio(
          mib(scoreExternal.peakRss),
          mib(forwardExternal.peakRss),
          s.ratioPeakRssScoreToForwardExternalData
        )
      ]
    ];
    const width =
      Math.max(...rows.filter(([, v]) => v).map(([label]) => label.length)) + 2;
    console.log(
      `scoring and pruned latency: ${prepared.model.description} (${(Number(prepared.model.totalParams) / 1e6).toFixed(1)}M parameters), ${setup.threads} threads`
    );
    for (const [label, value] of rows) {
      console.log(value ? `  ${label.padEnd(width)}${value}` : label);
    }
    const out = path.resolve(__dirname, '../../bench/out');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(
      path.join(out, 'scoring.json'),
      `${JSON.stringify(results, null, 2)}\n`
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
