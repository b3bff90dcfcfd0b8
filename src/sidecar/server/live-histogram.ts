/**
 * The dimensions' relevance histograms over the documents scored so far, while a score job
 * runs. Strict deciding ranks are a running maximum over documents (select/from-scores), so an
 * update folds in only the documents committed since the last one: one rank sort per new
 * document and unit group, read back from the score store the job commits to.
 */
import * as path from 'node:path';
import { histogramSpec, relevanceHistogram } from '../../core/charts';
import { ScoreStore } from '../../engine/score';
import {
  dimensionLayerRanks,
  expertLayerRanks,
  LayerRanks
} from '../../core/select';
import { JobEvent, PREVIEW_SIGMA } from '../../core/protocol';
import { readRun, SCORES_DIR } from '../run-folder';
import { HISTOGRAM_BINS } from '../../core/plan-view';

export type HistogramPayload = Pick<
  Extract<JobEvent, { type: 'histogram' }>,
  'documents' | 'histogram' | 'spec'
>;

export class LiveHistogram {
  /** Store documents already folded in (the store keeps commit order). */
  private folded = 0;
  private readonly ranks = new Map<string, LayerRanks[]>();
  private readonly counts = new Map<string, number>();
  private dimensions?: { order: string[]; of: Map<string, string> };
  private last = 0;

  constructor(
    private readonly runDir: string,
    /** At most one histogram this often, however fast batches commit. */
    private readonly intervalMs = 1000
  ) {}

  /** The histogram now, or undefined when one went out less than `intervalMs` ago. */
  update(force = false): HistogramPayload | undefined {
    const now = Date.now();
    if (!force && now - this.last < this.intervalMs) {
      return undefined;
    }
    this.last = now;
    if (!this.dimensions) {
      // run.json is written before the first batch, so it lists every document by now.
      const { dimensions } = readRun(this.runDir).corpus;
      this.dimensions = {
        order: dimensions.map(d => d.dimension),
        of: new Map(
          dimensions.flatMap(d => d.documents.map(doc => [doc.id, d.dimension]))
        )
      };
    }
    const store = ScoreStore.open(path.join(this.runDir, SCORES_DIR));
    try {
      for (const doc of store.documents.slice(this.folded)) {
        const dimension = this.dimensions.of.get(doc.id) as string;
        const ranks = dimensionLayerRanks([store.documentScores(doc.id)]);
        const before = this.ranks.get(dimension);
        this.ranks.set(
          dimension,
          before ? expertLayerRanks([before, ranks]) : ranks
        );
        this.counts.set(dimension, (this.counts.get(dimension) ?? 0) + 1);
      }
      this.folded = store.size;
    } finally {
      store.close();
    }
    const scored = this.dimensions.order.filter(d => this.ranks.has(d));
    if (scored.length === 0) {
      return undefined;
    }
    const histogram = relevanceHistogram(
      scored.map(name => ({
        name,
        layers: this.ranks.get(name) as LayerRanks[]
      })),
      PREVIEW_SIGMA,
      HISTOGRAM_BINS
    );
    const documents = Object.fromEntries(this.counts);
    const scoredSoFar = Object.entries(documents)
      .map(([dimension, n]) => `${dimension} ${n}`)
      .join(', ');
    return {
      documents,
      histogram,
      spec: histogramSpec(histogram, {
        title: `Deciding ranks so far (documents scored: ${scoredSoFar})`
      })
    };
  }
}
