/**
 * "Try the expert" for one run, without DOM: the prompt's generate job and the two texts (dense
 * and expert) as the sidecar streams them, with their speeds. The view (try-expert-view.ts)
 * draws it; the sidecar's requests and the socket's updates come in through `TryExpertAPI` and
 * `apply`, so jest drives it without a browser.
 */
import { ISignal, Signal } from '@lumino/signaling';
import {
  GenerateRequest,
  GenerateResult,
  GeneratingModel,
  JobInfo,
  ModelGeneration,
  RunDetail
} from '../core/protocol';
import type { JobUpdate } from './jobs-model';

export const GENERATING_MODELS: readonly GeneratingModel[] = [
  'dense',
  'expert'
];

/** The sidecar calls the model makes. */
export interface TryExpertAPI {
  run(name: string): Promise<RunDetail>;
  submit(request: GenerateRequest): Promise<JobInfo>;
  cancel(job: string): Promise<unknown>;
}

export type TryPhase = 'idle' | 'starting' | 'generating' | 'done' | 'failed';

export class TryExpertModel {
  phase: TryPhase = 'idle';
  /** The refusal or failure, one line, while `phase` is 'failed'. */
  error: string | null = null;
  /** The pruning ratio of the expert in use: the run's latest prune until a job says. */
  ratio: number | undefined = undefined;
  /** Whether the run has a pruned expert (false: Generate would be refused). */
  hasExpert = false;
  generations: Record<GeneratingModel, ModelGeneration | null> = {
    dense: null,
    expert: null
  };
  private job: string | null = null;
  /** Updates that came before the submission's answer named the job. */
  private early: JobUpdate[] = [];
  private readonly signal = new Signal<this, void>(this);

  constructor(
    readonly run: string,
    private readonly api: TryExpertAPI
  ) {}

  get changed(): ISignal<this, void> {
    return this.signal;
  }

  /** Reads the run's latest prune: its ratio for the heading. */
  async load(): Promise<void> {
    try {
      const latest = (await this.api.run(this.run)).record.prunes.at(-1);
      this.hasExpert = latest !== undefined;
      this.ratio = latest?.plan.ratio;
    } catch (error) {
      this.fail(error);
    }
    this.signal.emit();
  }

  async generate(prompt: string, maxNewTokens?: number): Promise<void> {
    this.phase = 'starting';
    this.error = null;
    this.job = null;
    this.early = [];
    this.generations = { dense: null, expert: null };
    this.signal.emit();
    try {
      const info = await this.api.submit({
        type: 'generate',
        run: this.run,
        prompt,
        ...(maxNewTokens !== undefined ? { maxNewTokens } : {})
      });
      this.job = info.id;
      if (this.phase === 'starting') {
        this.phase = 'generating';
      }
      const early = this.early;
      this.early = [];
      early.forEach(update => this.apply(update));
      this.signal.emit();
    } catch (error) {
      this.fail(error);
      this.signal.emit();
    }
  }

  /** A socket update: this job's texts as they grow, its result or failure. */
  apply(update: JobUpdate): void {
    const { id, run } = update.kind === 'state' ? update.job : update;
    if (this.job === null) {
      if (this.phase === 'starting' && run === this.run) {
        this.early.push(update);
      }
      return;
    }
    if (id !== this.job) {
      return;
    }
    if (update.kind === 'generated') {
      this.generations = {
        ...this.generations,
        [update.generation.model]: update.generation
      };
    } else if (update.kind === 'state' && update.job.state === 'done') {
      const result = update.job.result as GenerateResult;
      this.generations = { ...result.generations };
      this.ratio = result.ratio;
      this.phase = 'done';
    } else if (update.kind === 'state' && update.job.state !== 'running') {
      if (update.job.state !== 'queued') {
        this.phase = 'failed';
        this.error = update.job.error ?? `the job was ${update.job.state}`;
      }
    } else {
      return;
    }
    this.signal.emit();
  }

  /** Cancels the generation in progress (the tab closes): the sidecar stops after a token. */
  async stop(): Promise<void> {
    if (this.phase === 'generating' && this.job !== null) {
      await this.api.cancel(this.job);
    }
  }

  private fail(error: unknown): void {
    this.phase = 'failed';
    this.error = error instanceof Error ? error.message : String(error);
  }
}
