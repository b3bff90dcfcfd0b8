/**
 * Relevance scores of every unit for every document (the Cus-Prun method, paper form):
 *   FFN channel k:     Imp(k | c) = ‖h[:, k]‖₂ · ‖W_down[k, :]‖₂
 *   attention group j: Imp(j | c) = ‖Σ_{h ∈ group j} A_h · W_o[rows of h, :]‖_F
 * both over the document's real tokens; or the code form, or the Wanda-style baseline's
 * Σ_t |h[t, k]| · ‖W_down[k, :]‖₂ (attention: the same summed over a group's o inputs). The
 * scoring graph returns the sums over tokens; this module combines them with the weights'
 * row norms (see `ScoringOutput`) and appends each document's record to the score store. Documents already in the store are skipped, so an
 * interrupted run resumes where its last commit ended.
 */
import { LayerMap, ModelMap } from '../../core/model/model-map';
import { Progress } from '../../core/protocol';
import { RuntimeOptions } from '../capture/runtime';
import {
  ScoreForm,
  ScoringGraph,
  ScoringOutput
} from '../capture/scoring-graph';
import { ScoringSession } from '../capture/scoring-session';
import { CusprunError } from '../../core/errors';
import { OnnxModel } from '../onnx/model';
import { modelIdentity } from './identity';
import { NewRecord, ScoreStore, StoreHeader, storeLayers } from './store';
import { inputRowNorms } from './weights';
import { lengthOrder, Shard, shardBatches } from './shard';

export interface ScoreDocument {
  id: string;
  tokens: number[];
}

/** The engine's scoring progress: the protocol's, before the sidecar adds the ETA. */
export type ScoreProgress = Omit<Progress, 'etaSeconds'>;

export interface ScoreOptions extends RuntimeOptions {
  /** Documents per run of the scoring graph (default 8). */
  batchSize?: number;
  scoreForm?: ScoreForm;
  /** The token that fills the padding (masked out; default 0). */
  padId?: number;
  /**
   * `length` (default): longest documents first, so a batch holds documents of similar length
   * and pads little; `input`: the order given. Either way deterministic, so a resumed run forms
   * the same batches as an uninterrupted one.
   */
  order?: 'length' | 'input';
  /**
   * Score only this shard's batches of the documents (batch b in the order above goes to shard
   * b mod count; see shard.ts), as the same batches as a single run forms.
   */
  shard?: Shard;
  /** Where the scoring graph's temporary folder goes (default the system's temp folder). */
  workDir?: string;
  onProgress?: (progress: ScoreProgress) => void;
  /** Stops after the batch in flight (its scores are committed). */
  signal?: AbortSignal;
}

export interface ScoreSummary {
  scored: number;
  skipped: number;
  tokens: number;
  seconds: number;
  /** False when the signal stopped the run early. */
  complete: boolean;
}

/** The header a store for this model, map and FFN score form carries. */
export function storeHeader(
  model: OnnxModel,
  map: ModelMap,
  scoreForm: ScoreForm = 'paper'
): StoreHeader {
  return {
    model: modelIdentity(model),
    family: map.family,
    scoreForm,
    layers: storeLayers(map)
  };
}

/** Opens (or creates) the score store in `dir` for this model. */
export function openScoreStore(
  dir: string,
  model: OnnxModel,
  map: ModelMap,
  scoreForm: ScoreForm = 'paper'
): ScoreStore {
  return ScoreStore.open(dir, storeHeader(model, map, scoreForm));
}

function checkDocuments(documents: ScoreDocument[], vocab: number): void {
  const ids = new Set<string>();
  for (const d of documents) {
    if (ids.has(d.id)) {
      throw new CusprunError(
        'bad-argument',
        `document id '${d.id}' appears twice`
      );
    }
    ids.add(d.id);
    if (d.tokens.length === 0) {
      throw new CusprunError(
        'bad-argument',
        `document '${d.id}' has no tokens`
      );
    }
    for (const t of d.tokens) {
      if (!Number.isInteger(t) || t < 0 || (vocab > 0 && t >= vocab)) {
        throw new CusprunError(
          'bad-argument',
          `document '${d.id}' holds token id ${t}, outside the vocabulary (0…${vocab - 1})`
        );
      }
    }
  }
}

/** Scores the documents the store does not hold yet and appends them, batch by batch. */
export async function scoreDocuments(
  model: OnnxModel,
  map: ModelMap,
  documents: ScoreDocument[],
  store: ScoreStore,
  options: ScoreOptions = {}
): Promise<ScoreSummary> {
  const scoreForm = options.scoreForm ?? 'paper';
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new CusprunError(
      'bad-argument',
      `the batch size must be a positive integer, got ${batchSize}`
    );
  }
  const header = store.header;
  if (
    header.scoreForm !== scoreForm ||
    JSON.stringify(header.layers) !== JSON.stringify(storeLayers(map))
  ) {
    throw new CusprunError(
      'bad-argument',
      `the score store holds ${header.scoreForm}-form scores for ${header.layers.length} layers; this run makes ${scoreForm}-form scores for ${map.layers.length}`,
      store.dir
    );
  }
  checkDocuments(documents, map.vocab);
  const ordered =
    options.order === 'input'
      ? documents
      : lengthOrder(documents, d => d.tokens.length);
  const mine = options.shard
    ? shardBatches(ordered, batchSize, options.shard)
    : ordered;
  const todo = mine.filter(d => !store.has(d.id));
  const skipped = mine.length - todo.length;
  const started = Date.now();
  const summary: ScoreSummary = {
    scored: 0,
    skipped,
    tokens: 0,
    seconds: 0,
    complete: true
  };
  const report = () => {
    const elapsedMs = Date.now() - started;
    options.onProgress?.({
      done: skipped + summary.scored,
      total: mine.length,
      skipped,
      tokens: summary.tokens,
      tokensPerSecond: elapsedMs > 0 ? (summary.tokens * 1000) / elapsedMs : 0,
      elapsedMs
    });
  };
  if (todo.length === 0) {
    report();
    return summary;
  }
  const parts = store.parts;
  const graph = ScoringGraph.write(model, map, {
    scoreForm,
    workDir: options.workDir
  });
  const rowNorms = new Map(
    graph.outputs
      .filter(o => o.scaleByRowNorms)
      .map(o => {
        const layer = map.layers.find(l => l.index === o.layer) as LayerMap;
        const projection =
          o.kind === 'ffn' ? layer.ffn.down : layer.attention.o;
        return [o.name, inputRowNorms(model, projection)];
      })
  );
  let session: ScoringSession | undefined;
  try {
    session = await ScoringSession.open(graph, {
      threads: options.threads,
      executionProvider: options.executionProvider
    });
    const partOf = new Map(parts.map(p => [`${p.kind}.${p.layer}`, p]));
    for (let start = 0; start < todo.length; start += batchSize) {
      if (options.signal?.aborted) {
        summary.complete = false;
        break;
      }
      const batch = todo.slice(start, start + batchSize);
      const reductions = await session.run(
        batch.map(d => d.tokens),
        options.padId ?? 0
      );
      const records: NewRecord[] = batch.map(d => ({
        id: d.id,
        tokens: d.tokens.length,
        scores: new Float32Array(store.recordFloats)
      }));
      for (const { output, data } of reductions) {
        const part = partOf.get(`${output.kind}.${output.layer}`);
        if (!part || part.units !== output.units) {
          throw new Error(`no record part for ${output.name}`);
        }
        const norms = rowNorms.get(output.name);
        records.forEach((record, row) =>
          unitScores(
            output,
            data.subarray(row * output.width, (row + 1) * output.width),
            norms,
            record.scores.subarray(part.offset, part.offset + part.units)
          )
        );
      }
      store.append(records);
      summary.scored += batch.length;
      summary.tokens += batch.reduce((sum, d) => sum + d.tokens.length, 0);
      report();
    }
  } finally {
    await session?.release();
    graph.dispose();
  }
  summary.seconds = (Date.now() - started) / 1000;
  return summary;
}

/** Turns one batch row of a reduction into unit scores, as `ScoringOutput` describes. */
function unitScores(
  output: ScoringOutput,
  values: Float32Array,
  norms: Float32Array | undefined,
  target: Float32Array
): void {
  const perUnit = output.width / output.units;
  const root = output.reduction === 'sum-of-squares';
  target.fill(0);
  for (let c = 0; c < output.width; c++) {
    const base = root ? Math.sqrt(values[c]) : values[c];
    target[Math.floor(c / perUnit)] += norms ? base * norms[c] : base;
  }
}
