/**
 * Evaluates the dense model and pruned variants of it on a suite of sets, and, given prompts,
 * decodes them greedily. A pruned variant is built in memory (no file written) and released
 * after; results are cached by model, suite (or prompts) and the exact units removed, so a
 * repeated point costs a lookup, and adding prompts to a study reuses its cached metrics.
 */
import * as fs from 'node:fs';
import { ModelMap } from '../../core/model/model-map';
import type { GenerationCheck } from '../../core/experiment';
import { RuntimeOptions } from '../capture/runtime';
import { sha256Hex } from '../corpus';
import { CorpusTokenizer } from '../corpus/tokenizer';
import { generationCheck, Prompt } from './generation';
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

/** What one cache line holds: a suite's metrics, or the greedy texts from the prompts. */
interface CacheEntry {
  metrics?: EvalMetric[];
  generation?: GenerationCheck;
}

/**
 * Results by key, kept in memory and, given a file, appended to it as JSON Lines (one line per
 * result: a crash loses at most the line being written, which reading skips).
 */
export class EvalCache {
  private readonly entries = new Map<string, CacheEntry>();

  constructor(private readonly file?: string) {
    if (file && fs.existsSync(file)) {
      for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        try {
          const { key, ...entry } = JSON.parse(line) as CacheEntry & {
            key: string;
          };
          this.entries.set(key, entry);
        } catch {
          // a torn last line from an interrupted run
        }
      }
    }
  }

  get(key: string): EvalMetric[] | undefined {
    return this.entries.get(key)?.metrics;
  }

  getGeneration(key: string): GenerationCheck | undefined {
    return this.entries.get(key)?.generation;
  }

  put(key: string, metrics: EvalMetric[]): void {
    this.append(key, { metrics });
  }

  putGeneration(key: string, generation: GenerationCheck): void {
    this.append(key, { generation });
  }

  private append(key: string, entry: CacheEntry): void {
    this.entries.set(key, entry);
    if (this.file) {
      fs.appendFileSync(this.file, `${JSON.stringify({ key, ...entry })}\n`);
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

/** Prompts every evaluated model decodes greedily from. */
export interface GenerationSettings {
  prompts: Prompt[];
  maxNewTokens: number;
  /** Ids that end a generation (the model's EOS ids). */
  stopIds?: number[];
}

export interface Evaluation {
  metrics: EvalMetric[];
  cached: boolean;
  /** Present when the evaluator was given prompts. */
  generation?: GenerationCheck;
}

export class Evaluator {
  private readonly suite: string;
  private readonly promptSet?: string;

  constructor(
    readonly model: EvaluatedModel,
    readonly sets: EvalSet[],
    readonly settings: EvalSettings,
    private readonly cache: EvalCache = new EvalCache(),
    private readonly runtime: RuntimeOptions = {},
    readonly generation?: GenerationSettings
  ) {
    this.suite = suiteIdentity(sets, settings);
    this.promptSet = generation && sha256Hex(JSON.stringify(generation));
  }

  /**
   * The dense model without a plan, else the model with the plan's units removed (given
   * `compensation`, bias-compensated with its means: their SHA-256 is part of the key).
   */
  async evaluate(
    plan?: UnitPlan,
    compensation?: Compensation
  ): Promise<Evaluation> {
    // The metrics' key is the one earlier versions wrote (same fields, same order).
    const keyOf = (identity: { suite: string } | { prompts?: string }) =>
      sha256Hex(
        JSON.stringify({
          model: this.model.sha256,
          ...identity,
          removed:
            plan?.layers.filter(l => l.ffn.length || l.attention.length) ?? [],
          means: plan && compensation?.sha256
        })
      );
    const metricsKey = keyOf({ suite: this.suite });
    const generationKey = this.promptSet && keyOf({ prompts: this.promptSet });
    const metrics = this.cache.get(metricsKey);
    const generation = generationKey
      ? this.cache.getGeneration(generationKey)
      : undefined;
    if (metrics && (!generationKey || generation)) {
      return { metrics, cached: true, ...(generation ? { generation } : {}) };
    }
    const runner = await this.open(plan, compensation);
    try {
      const fresh = metrics ?? (await this.measure(runner, metricsKey));
      const texts =
        generation ??
        (generationKey ? await this.decode(runner, generationKey) : undefined);
      return {
        metrics: fresh,
        cached: false,
        ...(texts ? { generation: texts } : {})
      };
    } finally {
      await runner.release();
    }
  }

  private open(plan?: UnitPlan, compensation?: Compensation) {
    const { source, map } = this.model;
    return plan
      ? ModelRunner.inMemory(
          source,
          pruneModel(source, map, plan, compensation?.means),
          this.runtime
        )
      : ModelRunner.open(source.file, this.runtime);
  }

  private async measure(runner: ModelRunner, key: string) {
    const metrics = await evaluate(
      runner,
      this.sets,
      this.model.tokenizer,
      this.settings
    );
    this.cache.put(key, metrics);
    return metrics;
  }

  private async decode(runner: ModelRunner, key: string) {
    const check = await generationCheck(
      runner,
      this.model.tokenizer,
      this.generation as GenerationSettings
    );
    this.cache.putGeneration(key, check);
    return check;
  }
}
