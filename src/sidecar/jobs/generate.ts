/**
 * "Try the expert": one prompt decoded greedily by a run's dense model and by its pruned expert,
 * a step of each in turn so that both texts grow together, every new token reported with the
 * text so far and that model's own tokens/s. Decoding is the engine's GreedyDecoder (KV cache
 * where the export has one), token for token what `generate` in engine/eval decodes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CusprunError } from '../../core/errors';
import type { GeneratingModel, ModelGeneration } from '../../core/protocol';
import { RuntimeOptions } from '../../engine/capture/runtime';
import { CorpusTokenizer, loadTokenizer } from '../../engine/corpus';
import { GreedyDecoder, ModelRunner } from '../../engine/eval';

export interface GenerateJob {
  /** Model files (or folders holding one). */
  dense: string;
  expert: string;
  prompt: string;
  maxNewTokens: number;
  threads?: number;
  /** Called after each new token of either model. */
  onToken(generation: ModelGeneration): void;
}

/** The ids that end a generation: `eos_token_id` of generation_config.json, else config.json. */
export function stopIds(modelDir: string): number[] {
  for (const name of ['generation_config.json', 'config.json']) {
    const file = path.join(modelDir, name);
    if (!fs.existsSync(file)) {
      continue;
    }
    let eos: unknown;
    try {
      eos = (
        JSON.parse(fs.readFileSync(file, 'utf8')) as { eos_token_id?: unknown }
      ).eos_token_id;
    } catch {
      throw new CusprunError('bad-argument', 'not valid JSON', file);
    }
    const ids = [eos].flat().filter((id): id is number => Number.isInteger(id));
    if (ids.length > 0) {
      return ids;
    }
  }
  return [];
}

/** One model's side of the generation: its decoder, its tokens and the time its steps took. */
class Side {
  readonly tokens: number[] = [];
  private seconds = 0;
  private pending: number | undefined;
  finished = false;

  private constructor(
    readonly model: GeneratingModel,
    private readonly runner: ModelRunner,
    private readonly tokenizer: CorpusTokenizer,
    private readonly stop: Set<number>,
    private readonly decoder: GreedyDecoder
  ) {}

  static async open(
    model: GeneratingModel,
    file: string,
    runtime: RuntimeOptions
  ): Promise<Side> {
    const dir = path.dirname(file);
    const tokenizer = loadTokenizer(dir);
    const runner = await ModelRunner.open(file, runtime);
    const decoder = new GreedyDecoder(runner, runner.hasKvCache);
    return new Side(model, runner, tokenizer, new Set(stopIds(dir)), decoder);
  }

  /** Decodes one more token (the prompt first); marks the side finished at a stop id or the limit. */
  async step(prompt: string, maxNewTokens: number): Promise<void> {
    const started = performance.now();
    const token =
      this.pending === undefined
        ? await this.decoder.prefill(this.tokenizer.encode(prompt))
        : await this.decoder.next(this.pending);
    this.seconds += (performance.now() - started) / 1000;
    if (this.stop.has(token)) {
      this.finished = true;
      return;
    }
    this.tokens.push(token);
    this.pending = token;
    this.finished = this.tokens.length === maxNewTokens;
  }

  generation(): ModelGeneration {
    return {
      model: this.model,
      text: this.tokenizer.decode(this.tokens),
      tokens: this.tokens.length,
      tokensPerSecond: this.seconds > 0 ? this.tokens.length / this.seconds : 0,
      usedCache: this.decoder.usesCache
    };
  }

  release(): Promise<void> {
    return this.runner.release();
  }
}

export async function runGenerateJob(
  job: GenerateJob
): Promise<Record<GeneratingModel, ModelGeneration>> {
  const runtime: RuntimeOptions = { threads: job.threads };
  const sides: Side[] = [];
  try {
    sides.push(await Side.open('dense', job.dense, runtime));
    sides.push(await Side.open('expert', job.expert, runtime));
    while (sides.some(s => !s.finished)) {
      for (const side of sides.filter(s => !s.finished)) {
        const before = side.tokens.length;
        await side.step(job.prompt, job.maxNewTokens);
        if (side.tokens.length > before) {
          job.onToken(side.generation());
        }
      }
    }
    const [dense, expert] = sides.map(s => s.generation());
    return { dense, expert };
  } finally {
    await Promise.all(sides.map(s => s.release()));
  }
}
