/**
 * Evaluates the dense model and pruned variants of it on a suite of sets. A pruned variant is
 * built in memory (no file written) and released after; results are cached by model, suite
 * and the exact units removed, so a repeated point costs a lookup.
 */
import * as fs from 'node:fs';
import { ModelMap } from '../../core/model/model-map';
import { RuntimeOptions } from '../capture/runtime';
import { sha256Hex } from '../corpus';
import { CorpusTokenizer } from '../corpus/tokenizer';
import { ModelRunner } from '../eval/runner';
import { OnnxModel } from '../onnx/model';
import { UnitPlan } from '../../core/model/unit-plan';
import { ProjectionMeans } from '../prune/means';
import { meansSha256 } from '../prune/means-file';
import { pruneModel } from '../prune/structural';
import {
  EvalMetric,
  EvalSet,
  EvalSettings,
  evaluate,
  suiteIdentity
} from './eval-sets';

export interface EvaluatedModel {
  source: OnnxModel;
  map: ModelMap;
  /** The source's SHA-256, part of every cache key. */
  sha256: string;
  tokenizer: CorpusTokenizer;
}

/**
 * Results by key, kept in memory and, given a file, appended to it as JSON Lines (one line per
 * result: a crash loses at most the line being written, which reading skips).
 */
export class EvalCache {
  private readonly entries = new Map<string, EvalMetric[]>();

  constructor(private readonly file?: string) {
    if (file && fs.existsSync(file)) {
      for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        try {
          const entry = JSON.parse(line) as {
            key: string;
            metrics: EvalMetric[];
          };
          this.entries.set(entry.key, entry.metrics);
        } catch {
          // a torn last line from an interrupted run
        }
      }
    }
  }

  get(key: string): EvalMetric[] | undefined {
    return this.entries.get(key);
  }

  put(key: string, metrics: EvalMetric[]): void {
    this.entries.set(key, metrics);
    if (this.file) {
      fs.appendFileSync(this.file, `${JSON.stringify({ key, metrics })}\n`);
    }
  }
}

/** Means to bias-compensate pruned variants with, named by their file's SHA-256. */
export interface Compensation {
  means: ProjectionMeans;
  sha256: string;
}

export function compensationWith(means: ProjectionMeans): Compensation {
  return { means, sha256: meansSha256(means) };
}

export interface Evaluation {
  metrics: EvalMetric[];
  cached: boolean;
}

export class Evaluator {
  private readonly suite: string;

  constructor(
    readonly model: EvaluatedModel,
    readonly sets: EvalSet[],
    readonly settings: EvalSettings,
    private readonly cache: EvalCache = new EvalCache(),
    private readonly runtime: RuntimeOptions = {}
  ) {
    this.suite = suiteIdentity(sets, settings);
  }

  /**
   * The dense model without a plan, else the model with the plan's units removed (given
   * `compensation`, bias-compensated with its means: their SHA-256 is part of the key).
   */
  async evaluate(
    plan?: UnitPlan,
    compensation?: Compensation
  ): Promise<Evaluation> {
    const key = sha256Hex(
      JSON.stringify({
        model: this.model.sha256,
        suite: this.suite,
        removed:
          plan?.layers.filter(l => l.ffn.length || l.attention.length) ?? [],
        means: plan && compensation?.sha256
      })
    );
    const hit = this.cache.get(key);
    if (hit) {
      return { metrics: hit, cached: true };
    }
    const { source, map, tokenizer } = this.model;
    const runner = plan
      ? await ModelRunner.inMemory(
          source,
          pruneModel(source, map, plan, compensation?.means),
          this.runtime
        )
      : await ModelRunner.open(source.file, this.runtime);
    try {
      const metrics = await evaluate(
        runner,
        this.sets,
        tokenizer,
        this.settings
      );
      this.cache.put(key, metrics);
      return { metrics, cached: false };
    } finally {
      await runner.release();
    }
  }
}
