/**
 * Evaluates the dense model and pruned variants of it on a suite of sets, and, given prompts,
 * decodes them greedily. A pruned variant is built in memory (no file written) and released
 * after; results are cached by model, set (or prompts) and the exact units removed, so a
 * repeated point costs a lookup, and adding a set or prompts to a study measures only what was
 * added.
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
import { gramsSha256, ProjectionGrams } from '../prune/regression';
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

/**
 * Statistics to compensate pruned variants with (means: bias, Gram matrices: regression),
 * named by their SHA-256.
 */
export interface Compensation {
  statistics: ProjectionMeans | ProjectionGrams;
  sha256: string;
}

export function compensationWith(
  statistics: ProjectionMeans | ProjectionGrams
): Compensation {
  return {
    statistics,
    sha256:
      'kind' in statistics ? gramsSha256(statistics) : meansSha256(statistics)
  };
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
  private readonly setSuites: string[];
  /** The suites of the sets' leading runs of two or more, the longest first. */
  private readonly leadingSuites: string[];
  private readonly promptSet?: string;

  constructor(
    readonly model: EvaluatedModel,
    readonly sets: EvalSet[],
    readonly settings: EvalSettings,
    private readonly cache: EvalCache = new EvalCache(),
    private readonly runtime: RuntimeOptions = {},
    readonly generation?: GenerationSettings
  ) {
    this.setSuites = sets.map(set => suiteIdentity([set], settings));
    this.leadingSuites = sets
      .map((_, i) => suiteIdentity(sets.slice(0, i + 1), settings))
      .slice(1)
      .reverse();
    this.promptSet = generation && sha256Hex(JSON.stringify(generation));
  }

  /**
   * The dense model without a plan, else the model with the plan's units removed (given
   * `compensation`, compensated with its statistics: their SHA-256 is part of the key).
   */
  async evaluate(
    plan?: UnitPlan,
    compensation?: Compensation
  ): Promise<Evaluation> {
    // A key is the one earlier versions wrote for a whole suite (same fields, same order); each
    // set is kept now as a suite of its own.
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
    const setKeys = this.setSuites.map(suite => keyOf({ suite }));
    if (setKeys.some(key => this.cache.get(key) === undefined)) {
      this.splitSuiteEntry(
        this.leadingSuites.map(suite => keyOf({ suite })),
        setKeys
      );
    }
    const perSet = setKeys.map(key => this.cache.get(key));
    const generationKey = this.promptSet && keyOf({ prompts: this.promptSet });
    const generation = generationKey
      ? this.cache.getGeneration(generationKey)
      : undefined;
    const missing = this.sets.filter((_, i) => perSet[i] === undefined);
    if (missing.length === 0 && (!generationKey || generation)) {
      return {
        metrics: perSet.flat() as EvalMetric[],
        cached: true,
        ...(generation ? { generation } : {})
      };
    }
    const runner = await this.open(plan, compensation);
    try {
      const measured = await this.measure(runner, missing, setKeys);
      const texts =
        generation ??
        (generationKey ? await this.decode(runner, generationKey) : undefined);
      return {
        metrics: this.sets.flatMap(
          (set, i) => perSet[i] ?? measured.get(set.name) ?? []
        ),
        cached: false,
        ...(texts ? { generation: texts } : {})
      };
    } finally {
      await runner.release();
    }
  }

  /**
   * Earlier versions kept a suite's metrics under one key: the longest leading run of the sets
   * found so becomes one entry per set, so a study that appends a set reuses them.
   */
  private splitSuiteEntry(suiteKeys: string[], setKeys: string[]): void {
    const metrics = suiteKeys
      .map(key => this.cache.get(key))
      .find(m => m !== undefined);
    this.sets.forEach((set, i) => {
      const own = metrics?.filter(m => m.evalSet === set.name) ?? [];
      if (own.length && this.cache.get(setKeys[i]) === undefined) {
        this.cache.put(setKeys[i], own);
      }
    });
  }

  private open(plan?: UnitPlan, compensation?: Compensation) {
    const { source, map } = this.model;
    return plan
      ? ModelRunner.inMemory(
          source,
          pruneModel(source, map, plan, compensation?.statistics),
          this.runtime
        )
      : ModelRunner.open(source.file, this.runtime);
  }

  /** The `sets` asked for, each kept under its own key; by set name. */
  private async measure(
    runner: ModelRunner,
    sets: EvalSet[],
    setKeys: string[]
  ): Promise<Map<string, EvalMetric[]>> {
    const measured = new Map<string, EvalMetric[]>();
    for (const set of sets) {
      const metrics = await evaluate(
        runner,
        [set],
        this.model.tokenizer,
        this.settings
      );
      this.cache.put(setKeys[this.sets.indexOf(set)], metrics);
      measured.set(set.name, metrics);
    }
    return measured;
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
