/**
 * The side panel's state logic, apart from its widget: what the version handshake means, the
 * run table's rows, sorting and filtering, and the σ-sweep payload the panel builds from the
 * sidecar's ranks. Pure (no DOM, no Jupyter imports), so jest covers it without a browser.
 */
import { sigmaArgument } from '../core/format';
import { PROTOCOL_VERSION, RunSummary, VersionAnswer } from '../core/protocol';
import {
  DEFAULT_RULE,
  Rule,
  ruleLabel,
  RuleSettings
} from '../core/select/rules';
import { SweepPayload, SweepSubset, Translate } from './sweep-model';

/** What the panel makes of the handshake. */
export interface Handshake {
  kind: 'missing' | 'mismatch' | 'waiting' | 'down' | 'running' | 'error';
  /** The status line, translated. */
  message: string;
  /** Whether the panel should ask again soon (the sidecar is on its way). */
  retry: boolean;
  version?: string;
  /** The run store the sidecar runs on (absolute), when it runs. */
  store?: string;
}

/** Reads the answer (or failure) of the version request: `status` 0 when the server is unreachable. */
export function interpretHandshake(
  status: number,
  body: unknown,
  trans: Translate
): Handshake {
  if (status === 404) {
    return {
      kind: 'missing',
      retry: false,
      message: trans.__(
        'The cusprun server extension is not running: install cusprun into the Python environment that runs JupyterLab and restart JupyterLab (`pip install cusprun`, then check `jupyter server extension list`).'
      )
    };
  }
  if (status === 0) {
    return {
      kind: 'error',
      retry: true,
      message: trans.__('The Jupyter server cannot be reached; retrying…')
    };
  }
  const answer = body as Partial<VersionAnswer> | null;
  if (
    status !== 200 ||
    !answer ||
    typeof answer.protocol !== 'number' ||
    typeof answer.sidecar?.state !== 'string'
  ) {
    return {
      kind: 'error',
      retry: true,
      message: trans.__(
        'The cusprun server extension answered unexpectedly (HTTP %1); retrying…',
        String(status)
      )
    };
  }
  const version = String(answer.version ?? '?');
  if (answer.protocol !== PROTOCOL_VERSION) {
    return {
      kind: 'mismatch',
      retry: false,
      version,
      message: trans.__(
        'This panel speaks cusprun protocol %1, but the server extension (cusprun %2) speaks protocol %3: the JupyterLab extension and the Python package come from different cusprun installs. Reinstall cusprun in the environment that runs JupyterLab, restart JupyterLab and reload the page.',
        String(PROTOCOL_VERSION),
        version,
        String(answer.protocol)
      )
    };
  }
  const detail = answer.sidecar.message ? ` (${answer.sidecar.message})` : '';
  switch (answer.sidecar.state) {
    case 'running':
      return {
        kind: 'running',
        retry: false,
        version,
        message: trans.__('Sidecar: running · cusprun %1', version),
        ...(typeof answer.sidecar.store === 'string'
          ? { store: answer.sidecar.store }
          : {})
      };
    case 'starting':
      return {
        kind: 'waiting',
        retry: true,
        version,
        message: trans.__('Sidecar: starting…') + detail
      };
    case 'restarting':
      return {
        kind: 'waiting',
        retry: true,
        version,
        message: trans.__('Sidecar: restarting…') + detail
      };
    case 'failed':
      return {
        kind: 'down',
        retry: true,
        version,
        message:
          trans.__(
            'Sidecar: failed; see the JupyterLab server log. It is started again on a restart of JupyterLab.'
          ) + detail
      };
    default:
      return {
        kind: 'down',
        retry: true,
        version,
        message: trans.__('Sidecar: stopped') + detail
      };
  }
}

export interface RunRow {
  id: string;
  model: string;
  /** The dimensions, as shown ("language, domain, task"). */
  dimensions: string;
  /** The dimensions, as the run names them. */
  dimensionList: string[];
  /** "scored/documents" */
  progress: string;
  scored: number;
  documents: number;
  /** The latest job, whoever ran it ("prune done", "sweep done (CLI)"). */
  lastJob: string;
  /** When the run last changed (ISO): run.json's time, or its latest job's if later. */
  updated: string;
  /** Why the run cannot be read ('' when it can). */
  damaged: string;
}

export type SortKey =
  'id' | 'model' | 'dimensions' | 'progress' | 'lastJob' | 'updated';

export interface Sort {
  key: SortKey;
  ascending: boolean;
}

export const SORT_KEYS: SortKey[] = [
  'id',
  'model',
  'dimensions',
  'progress',
  'lastJob',
  'updated'
];

/** The model's file name without its folders ("…/torchscript/model.onnx" → "torchscript/model.onnx"). */
function shortModel(file: string): string {
  const parts = file.split(/[\\/]/).filter(Boolean);
  return parts.slice(-2).join('/');
}

export function runRow(run: RunSummary): RunRow {
  return {
    id: run.id,
    model: run.damaged
      ? ''
      : `${shortModel(run.model.file)} (${run.model.family})`,
    dimensions: run.corpus.dimensions.join(', '),
    dimensionList: [...run.corpus.dimensions],
    progress: `${run.scored}/${run.documents}`,
    scored: run.scored,
    documents: run.documents,
    lastJob: run.lastJob
      ? `${run.lastJob.type} ${run.lastJob.state}${run.lastJob.origin === 'cli' ? ' (CLI)' : ''}`
      : '',
    updated:
      run.lastJob && Date.parse(run.lastJob.at) > Date.parse(run.updated)
        ? run.lastJob.at
        : run.updated,
    damaged: run.damaged ?? ''
  };
}

function compare(a: RunRow, b: RunRow, key: SortKey): number {
  if (key === 'progress') {
    const fa = a.documents ? a.scored / a.documents : 0;
    const fb = b.documents ? b.scored / b.documents : 0;
    return fa - fb || a.scored - b.scored;
  }
  return a[key].localeCompare(b[key]);
}

/** Rows sorted by a column (ties by id), a new array. */
export function sortRows(rows: readonly RunRow[], sort: Sort): RunRow[] {
  const sign = sort.ascending ? 1 : -1;
  return [...rows].sort(
    (a, b) => sign * compare(a, b, sort.key) || a.id.localeCompare(b.id) * sign
  );
}

/** Clicking a header: the same column flips its direction, another sorts ascending. */
export function nextSort(current: Sort, key: SortKey): Sort {
  return current.key === key
    ? { key, ascending: !current.ascending }
    : { key, ascending: true };
}

/** Rows any of whose shown cells contain every word of the filter (case-insensitive). */
export function filterRows(rows: readonly RunRow[], text: string): RunRow[] {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) {
    return [...rows];
  }
  return rows.filter(row => {
    const hay = [
      row.id,
      row.model,
      row.dimensions,
      row.progress,
      row.lastJob,
      row.updated
    ]
      .join(' ')
      .toLowerCase();
    return words.every(w => hay.includes(w));
  });
}

/**
 * The non-empty subsets of a run's dimensions the panel asks ranks for, the full set first:
 * every subset up to `maxDims` dimensions (2^d - 1 requests, once per selected run), else the
 * full set only.
 */
export function subsetsToRank(
  dimensions: readonly string[],
  maxDims = 4
): string[][] {
  const dims = [...dimensions];
  if (dims.length === 0) {
    return [];
  }
  if (dims.length > maxDims) {
    return [dims];
  }
  const out: string[][] = [];
  for (let mask = (1 << dims.length) - 1; mask > 0; mask--) {
    out.push(dims.filter((_, i) => mask & (1 << i)));
  }
  // the full set first, then the larger subsets before the smaller ones
  return out.sort((a, b) => b.length - a.length);
}

/** The σ-sweep output's payload (sweep-model.ts) for a run's ranks, so the panel draws as the cell does. */
export function payloadFromRanks(
  run: string,
  subsets: readonly SweepSubset[],
  sigma = 0.5
): SweepPayload {
  if (subsets.length === 0) {
    throw new Error(`the sidecar returned no ranks for run ${run}`);
  }
  return {
    format: 'cusprun-sweep',
    version: 1,
    run,
    file: null,
    sigma,
    prunableParams: subsets[0].prunableParams,
    ratios: [],
    layers: [],
    subsets: [...subsets]
  };
}

/**
 * A plan query as the view on screen states it: dimensions only when not all of the run's, the
 * rule (and q) only when not the default.
 */
export interface ViewQuery {
  sigma: number;
  dims?: string[];
  rule?: Rule;
  q?: number;
}

/** The query's words for a rule: none for the default, the q rule with its q. */
export function ruleQuery({
  rule,
  q
}: RuleSettings): Pick<ViewQuery, 'rule' | 'q'> {
  if (rule === DEFAULT_RULE) {
    return {};
  }
  return rule === 'q' ? { rule, q } : { rule };
}

/** A word of a magic's command line, quoted when the shell would split or expand it. */
function shellWord(word: string): string {
  return /^[\w.,:/+=@-]+$/.test(word)
    ? word
    : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The cell the panel inserts for a view: the magic that displays the same outputs. */
export function planCellSource(run: string, query: ViewQuery): string {
  const words = ['plan', '--run', run, '--sigma', sigmaArgument(query.sigma)];
  if (query.dims) {
    words.push('--dims', query.dims.join(','));
  }
  if (query.rule) {
    words.push('--rule', query.rule);
  }
  if (query.q !== undefined) {
    words.push('--q', String(query.q));
  }
  return `%cusprun ${words.map(shellWord).join(' ')}`;
}

/**
 * Where the panel proposes to write the expert of a view, relative to the server's folder (the
 * sidecar refuses absolute paths and '..'): `experts/RUN-sigmaS[-DIMS][-RULE].onnx`.
 */
export function expertOutPath(run: string, query: ViewQuery): string {
  const safe = (text: string) => text.replace(/[^\w.-]+/g, '_');
  const dims = query.dims ? `-${query.dims.map(safe).join('+')}` : '';
  const { rule, q = 1 } = query;
  const named = rule ? `-${safe(ruleLabel({ rule, q }))}` : '';
  return `experts/${safe(run)}-sigma${sigmaArgument(query.sigma)}${dims}${named}.onnx`;
}

/** The evaluation sets of a comma-separated field (`FILE` or `NAME=FILE` each). */
export function readEvalSets(text: string): string[] {
  return text
    .split(',')
    .map(part => part.trim())
    .filter(Boolean);
}
