/**
 * "Try the expert" as a main-area tab: a prompt box and Generate, then the dense model's and the
 * pruned expert's greedy continuations side by side as they stream in, each with its tokens/s.
 * The columns stack where two do not fit (style/try-expert.css), so the tab fits from 250 px up.
 */
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import { formatRatio, formatTokensPerSecond } from '../core/format';
import { DEFAULT_GENERATE_TOKENS, MAX_GENERATE_TOKENS } from '../core/protocol';
import type {
  GeneratingModel,
  GenerateRequest,
  JobInfo,
  RunDetail
} from '../core/protocol';
import { requestAPI } from './api';
import { cusprunIcon } from './icon';
import { el, labelled } from './dom';
import { JobEvents } from './job-events';
import { JobUpdate } from './jobs-model';
import { GENERATING_MODELS, TryExpertModel } from './try-expert-model';

export const TRY_EXPERT_CLASS = 'jp-CusprunTry';

export interface TryExpertContext {
  trans: TranslationBundle;
  serverSettings: ServerConnection.ISettings;
  events: JobEvents;
}

/** The tab's id for a run: one tab per run. */
export function tryExpertId(run: string): string {
  return `cusprun-try-${encodeURIComponent(run)}`;
}

interface Column {
  heading: HTMLElement;
  text: HTMLElement;
  speed: HTMLElement;
}

export class TryExpertView extends Widget {
  readonly model: TryExpertModel;
  private readonly prompt = el('textarea', `${TRY_EXPERT_CLASS}-prompt`);
  private readonly maxTokens = el('input', `${TRY_EXPERT_CLASS}-tokens`);
  private readonly button: HTMLButtonElement;
  private readonly status = el('p', `${TRY_EXPERT_CLASS}-status`);
  private readonly columns = {} as Record<GeneratingModel, Column>;

  constructor(
    run: string,
    private readonly ctx: TryExpertContext
  ) {
    super();
    const { trans, serverSettings } = ctx;
    this.id = tryExpertId(run);
    this.addClass(TRY_EXPERT_CLASS);
    this.title.label = trans.__('Try %1', run);
    this.title.caption = trans.__('Try the expert pruned in run %1', run);
    this.title.icon = cusprunIcon;
    this.title.closable = true;
    this.model = new TryExpertModel(run, {
      run: name =>
        requestAPI<RunDetail>(
          `api/runs/${encodeURIComponent(name)}`,
          {},
          serverSettings
        ),
      submit: (request: GenerateRequest) =>
        requestAPI<JobInfo>(
          'api/jobs',
          { method: 'POST', body: JSON.stringify(request) },
          serverSettings
        ),
      cancel: job =>
        requestAPI<unknown>(
          `api/jobs/${encodeURIComponent(job)}`,
          { method: 'DELETE' },
          serverSettings
        )
    });
    this.button = el(
      'button',
      'jp-mod-styled jp-mod-accept',
      trans.__('Generate')
    );
    this.node.append(this.form(), this.status, this.columnsNode());
    this.model.changed.connect(this.render, this);
    ctx.events.changed.connect(this.onJob, this);
    ctx.events.connect();
    void this.model.load();
    this.render();
  }

  private form(): HTMLFormElement {
    const { trans } = this.ctx;
    const form = el('form', `${TRY_EXPERT_CLASS}-form`);
    this.prompt.rows = 3;
    this.prompt.placeholder = trans.__(
      'A prompt to continue (Ctrl+Enter generates)'
    );
    this.prompt.setAttribute('aria-label', trans.__('Prompt'));
    this.prompt.addEventListener('keydown', event => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    Object.assign(this.maxTokens, {
      type: 'number',
      min: '1',
      max: String(MAX_GENERATE_TOKENS),
      value: String(DEFAULT_GENERATE_TOKENS),
      required: true
    });
    this.button.type = 'submit';
    form.append(
      this.prompt,
      labelled(trans.__('New tokens'), this.maxTokens),
      this.button
    );
    form.addEventListener('submit', event => {
      event.preventDefault();
      void this.model.generate(this.prompt.value, this.maxTokens.valueAsNumber);
    });
    return form;
  }

  private columnsNode(): HTMLElement {
    const node = el('div', `${TRY_EXPERT_CLASS}-columns`);
    for (const model of GENERATING_MODELS) {
      const column: Column = {
        heading: el('h3', `${TRY_EXPERT_CLASS}-heading`),
        text: el('pre', `${TRY_EXPERT_CLASS}-text`),
        speed: el('p', `${TRY_EXPERT_CLASS}-speed`)
      };
      const section = el('section', `${TRY_EXPERT_CLASS}-column`);
      section.dataset.model = model;
      section.append(column.heading, column.text, column.speed);
      node.appendChild(section);
      this.columns[model] = column;
    }
    return node;
  }

  private onJob(_: JobEvents, update: JobUpdate): void {
    this.model.apply(update);
  }

  private render(): void {
    const { trans } = this.ctx;
    const { phase, error, hasExpert, ratio, generations } = this.model;
    this.button.disabled = phase === 'starting' || phase === 'generating';
    this.status.textContent =
      phase === 'failed'
        ? (error ?? '')
        : phase === 'starting' || phase === 'generating'
          ? trans.__('Generating…')
          : !hasExpert && phase === 'idle'
            ? trans.__('This run has no pruned expert yet: prune it first.')
            : '';
    this.status.classList.toggle('jp-mod-error', phase === 'failed');
    this.columns.dense.heading.textContent = trans.__('dense');
    this.columns.expert.heading.textContent = trans.__(
      'expert (%1 removed)',
      formatRatio(ratio)
    );
    for (const model of GENERATING_MODELS) {
      const generation = generations[model];
      const column = this.columns[model];
      column.text.textContent = generation?.text ?? '';
      column.speed.textContent = generation
        ? trans.__(
            '%1 · %2 tokens%3',
            formatTokensPerSecond(generation.tokensPerSecond),
            String(generation.tokens),
            generation.usedCache ? trans.__(' · KV cache') : ''
          )
        : '';
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.ctx.events.changed.disconnect(this.onJob, this);
    this.model.stop().catch(() => undefined);
    super.dispose();
  }
}
