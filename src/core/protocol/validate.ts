/**
 * Reading request bodies into the protocol's types: every field checked, unknown fields refused
 * (a misspelt option must not be silently ignored), each mistake one line that names the field.
 * Pure, so a client can check what it is about to send with the same rules.
 */
import {
  AblateRequest,
  ChartsRequest,
  checkRunId,
  ClientMessage,
  EvalOptions,
  EvalRequest,
  ExpertQuery,
  GenerateRequest,
  JOB_TYPES,
  MAX_GENERATE_TOKENS,
  JobRequest,
  MAX_BODY_DEPTH,
  JobType,
  METHODS,
  OpenModelRequest,
  PlanQuery,
  RanksQuery,
  RayOptions,
  PlanRequest,
  PruneRequest,
  VerifyRequest,
  RegisterCorpusRequest,
  RequestError,
  ScoreRequest,
  STUDY_ALLOCATIONS,
  STUDY_ATTENTIONS,
  COMPENSATIONS,
  STUDY_RULES,
  StudyAllocation,
  StudyAttention,
  CompensationKind,
  StudyRequest,
  SweepRequest
} from './index';
import { planTarget } from '../select/expert';
import { RULES, ruleSettings } from '../select/rules';

function bad(message: string): RequestError {
  return new RequestError(400, 'bad-request', message);
}

/** The first of `given` that is not one of `known`, refused in one line that lists them. */
function refuseUnknown(
  what: string,
  noun: string,
  given: readonly string[] | undefined,
  known: readonly string[],
  note = ''
): void {
  const unknown = given?.find(v => !known.includes(v));
  if (unknown !== undefined) {
    throw bad(
      `${what}: unknown ${noun} ${JSON.stringify(unknown)}; ${noun}s are ${known.join(', ')}${note}`
    );
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads the fields of one JSON object; `done` refuses the ones nobody read. */
class Fields {
  private readonly read = new Set<string>();

  constructor(
    private readonly body: Record<string, unknown>,
    readonly what: string
  ) {}

  take(name: string, required = false): unknown {
    this.read.add(name);
    const value = this.body[name];
    if (value === undefined && required) {
      throw bad(`${this.what}: "${name}" is required`);
    }
    return value;
  }

  private fail(name: string, expected: string): never {
    throw bad(
      `${this.what}: "${name}" must be ${expected}, got ${JSON.stringify(this.body[name])}`
    );
  }

  string(name: string): string | undefined;
  string(name: string, required: true): string;
  string(name: string, required = false): string | undefined {
    const value = this.take(name, required);
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      this.fail(name, 'a non-empty string');
    }
    return value as string | undefined;
  }

  number(name: string): number | undefined;
  number(name: string, required: true): number;
  number(name: string, required = false): number | undefined {
    const value = this.take(name, required);
    if (
      value !== undefined &&
      (typeof value !== 'number' || !Number.isFinite(value))
    ) {
      this.fail(name, 'a number');
    }
    return value as number | undefined;
  }

  boolean(name: string): boolean | undefined {
    const value = this.take(name, false);
    if (value !== undefined && typeof value !== 'boolean') {
      this.fail(name, 'true or false');
    }
    return value as boolean | undefined;
  }

  strings(name: string, required = false): string[] | undefined {
    const value = this.take(name, required);
    if (
      value !== undefined &&
      (!Array.isArray(value) ||
        value.length === 0 ||
        !value.every(v => typeof v === 'string' && v !== ''))
    ) {
      this.fail(name, 'a non-empty list of non-empty strings');
    }
    return value as string[] | undefined;
  }

  numbers(name: string): number[] | undefined {
    const value = this.take(name, false);
    if (
      value !== undefined &&
      (!Array.isArray(value) ||
        value.length === 0 ||
        !value.every(v => typeof v === 'number' && Number.isFinite(v)))
    ) {
      this.fail(name, 'a non-empty list of numbers');
    }
    return value as number[] | undefined;
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T | undefined {
    const value = this.take(name, false);
    if (value !== undefined && !values.includes(value as T)) {
      this.fail(name, `one of ${values.join(', ')}`);
    }
    return value as T | undefined;
  }

  runId(name: string): string {
    return checkRunId(this.string(name, true));
  }

  optionalRunId(name: string): string | undefined {
    const id = this.string(name);
    return id === undefined ? undefined : checkRunId(id);
  }

  /** A nested object's fields, read by `read` (its unknown fields refused). */
  object<T extends object>(
    name: string,
    read: (f: Fields) => T
  ): T | undefined {
    const value = this.take(name, false);
    if (value === undefined) {
      return undefined;
    }
    if (!isObject(value)) {
      this.fail(name, 'a JSON object');
    }
    const f = new Fields(value, `${this.what}: "${name}"`);
    const nested = read(f);
    f.done();
    return defined(nested);
  }

  done(): void {
    const unknown = Object.keys(this.body).filter(k => !this.read.has(k));
    if (unknown.length) {
      throw bad(
        `${this.what}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map(k => `"${k}"`).join(', ')} (known: ${[...this.read].join(', ')})`
      );
    }
  }
}

/** Drops the fields left undefined, so requests echo back as they were sent. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined)
  ) as T;
}

function fieldsOf(body: unknown, what: string): Fields {
  if (!isObject(body)) {
    throw bad(`${what}: the body must be a JSON object`);
  }
  return new Fields(body, what);
}

const JSON_RULE_NAMES = { rule: '"rule"', q: '"q"' };

function expertQuery(f: Fields): ExpertQuery {
  const rule = f.oneOf('rule', RULES);
  const q = f.number('q');
  try {
    ruleSettings({ rule, q }, JSON_RULE_NAMES);
  } catch (error) {
    throw bad(`${f.what}: ${(error as Error).message}`);
  }
  return {
    dims: f.strings('dims'),
    rule,
    q,
    minKeep: f.number('minKeep'),
    multipleOf: f.number('multipleOf'),
    keepAttention: f.boolean('keepAttention')
  };
}

const JSON_TARGET_NAMES = { sigma: '"sigma"', targetRatio: '"targetRatio"' };

function planQuery(f: Fields, what: string): PlanQuery {
  const given = {
    sigma: f.number('sigma'),
    targetRatio: f.number('targetRatio')
  };
  // The expert's fields name themselves: only planTarget's message needs `what` before it.
  const expert = expertQuery(f);
  try {
    return { ...expert, ...planTarget(given, JSON_TARGET_NAMES) };
  } catch (error) {
    throw bad(`${what}: ${(error as Error).message}`);
  }
}

/** A whole number ≥ `least`, or undefined. */
function count(f: Fields, name: string, least: number): number | undefined {
  const value = f.number(name);
  if (value !== undefined && !(Number.isInteger(value) && value >= least)) {
    throw bad(
      `${f.what}: "${name}" must be a whole number ≥ ${least}, got ${value}`
    );
  }
  return value;
}

function rayOptions(f: Fields): RayOptions | undefined {
  return f.object('ray', (r): RayOptions => ({
    address: r.string('address', true),
    shards: count(r, 'shards', 1),
    shipLimit: count(r, 'shipLimit', 0)
  }));
}

function evalOptions(f: Fields): EvalOptions {
  return {
    evalSets: f.strings('evalSets', true) as string[],
    truncation: f.number('truncation'),
    batchSize: f.number('batchSize'),
    threads: f.number('threads')
  };
}

type Reader<T extends JobType> = (
  f: Fields,
  what: string
) => Extract<JobRequest, { type: T }>;

const JOB_READERS: { [T in JobType]: Reader<T> } = {
  score: (f): ScoreRequest => ({
    type: 'score',
    run: f.runId('run'),
    model: f.string('model', true),
    corpus: f.string('corpus', true),
    batchSize: f.number('batchSize'),
    threads: f.number('threads'),
    scoreForm: f.oneOf('scoreForm', ['paper', 'code'] as const),
    ray: rayOptions(f)
  }),
  plan: (f, what): PlanRequest => ({
    type: 'plan',
    run: f.runId('run'),
    ...planQuery(f, what)
  }),
  prune: (f, what): PruneRequest => ({
    type: 'prune',
    run: f.runId('run'),
    ...planQuery(f, what),
    out: f.string('out', true),
    overwrite: f.boolean('overwrite'),
    compensation: f.oneOf('compensation', COMPENSATIONS)
  }),
  verify: (f): VerifyRequest => ({
    type: 'verify',
    run: f.optionalRunId('run'),
    pruned: f.string('pruned', true),
    model: f.string('model')
  }),
  eval: (f): EvalRequest => ({
    type: 'eval',
    run: f.optionalRunId('run'),
    models: f.strings('models', true) as string[],
    ...evalOptions(f),
    prompts: f.string('prompts'),
    maxNewTokens: f.number('maxNewTokens'),
    latency: f.boolean('latency')
  }),
  sweep: (f, what): SweepRequest => {
    const request: SweepRequest = {
      type: 'sweep',
      run: f.runId('run'),
      ...expertQuery(f),
      ...evalOptions(f),
      sigmas: f.numbers('sigmas'),
      targetRatios: f.numbers('targetRatios'),
      methods: f.strings('methods') as SweepRequest['methods'],
      seed: f.number('seed'),
      compensation: f.oneOf('compensation', COMPENSATIONS),
      baselineRun: f.optionalRunId('baselineRun'),
      ray: rayOptions(f)
    };
    if (
      (request.sigmas === undefined) ===
      (request.targetRatios === undefined)
    ) {
      throw bad(`${what}: give "sigmas" or "targetRatios" (exactly one)`);
    }
    const unknown = request.methods?.filter(m => !METHODS.includes(m));
    if (unknown?.length) {
      throw bad(
        `${what}: unknown method ${JSON.stringify(unknown[0])}; methods are ${METHODS.join(', ')}`
      );
    }
    return request;
  },
  ablate: (f): AblateRequest => ({
    type: 'ablate',
    run: f.runId('run'),
    ...expertQuery(f),
    ...evalOptions(f),
    targetRatio: f.number('targetRatio', true),
    compensation: f.oneOf('compensation', COMPENSATIONS),
    baselineRun: f.optionalRunId('baselineRun'),
    ray: rayOptions(f)
  }),
  study: (f, what): StudyRequest => {
    const seedRuns = f.strings('seedRuns');
    const request: StudyRequest = {
      type: 'study',
      run: f.runId('run'),
      seedRuns: seedRuns?.map(checkRunId),
      baselineRun: f.optionalRunId('baselineRun'),
      dims: f.strings('dims'),
      ...evalOptions(f),
      targetRatios: f.numbers('targetRatios') ?? [],
      qs: f.numbers('qs'),
      rules: f.strings('rules') as StudyRequest['rules'],
      allocations: f.strings('allocations') as StudyAllocation[],
      attentions: f.strings('attentions') as StudyAttention[],
      compensations: f.strings('compensations') as CompensationKind[],
      methods: f.strings('methods') as StudyRequest['methods'],
      prompts: f.string('prompts'),
      maxNewTokens: f.number('maxNewTokens')
    };
    if (request.targetRatios.length === 0) {
      throw bad(`${what}: "targetRatios" is required (a non-empty list)`);
    }
    const ratio = request.targetRatios.find(v => !(v > 0 && v < 1));
    if (ratio !== undefined) {
      throw bad(
        `${what}: every "targetRatios" value must lie strictly between 0 and 1, got ${ratio}`
      );
    }
    const q = request.qs?.find(v => !(v > 0 && v <= 1));
    if (q !== undefined) {
      throw bad(`${what}: every "qs" value must lie in (0, 1], got ${q}`);
    }
    refuseUnknown(what, 'method', request.methods, METHODS);
    refuseUnknown(
      what,
      'rule',
      request.rules,
      STUDY_RULES,
      ` (the paper's rule and the q rule come from "qs")`
    );
    refuseUnknown(what, 'allocation', request.allocations, STUDY_ALLOCATIONS);
    refuseUnknown(what, 'attention', request.attentions, STUDY_ATTENTIONS);
    refuseUnknown(what, 'compensation', request.compensations, COMPENSATIONS);
    return request;
  },
  generate: (f, what): GenerateRequest => {
    const request: GenerateRequest = {
      type: 'generate',
      run: f.runId('run'),
      prompt: f.string('prompt', true),
      maxNewTokens: f.number('maxNewTokens'),
      expert: f.string('expert')
    };
    if (request.prompt.trim() === '') {
      throw bad(`${what}: "prompt" is empty: type some text to continue`);
    }
    const n = request.maxNewTokens;
    if (
      n !== undefined &&
      !(Number.isInteger(n) && n >= 1 && n <= MAX_GENERATE_TOKENS)
    ) {
      throw bad(
        `${what}: "maxNewTokens" must be a whole number from 1 to ${MAX_GENERATE_TOKENS}, got ${n}`
      );
    }
    return request;
  }
};

/** `POST /api/jobs`. */
export function readJobRequest(body: unknown): JobRequest {
  const type = isObject(body) ? body.type : undefined;
  if (typeof type !== 'string' || !JOB_TYPES.includes(type as JobType)) {
    throw bad(
      `unknown job type ${JSON.stringify(type)}: a job's "type" is one of ${JOB_TYPES.join(', ')}`
    );
  }
  const what = `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type} job`;
  const f = fieldsOf(body, what);
  f.string('type');
  const request = (JOB_READERS[type as JobType] as Reader<JobType>)(f, what);
  f.done();
  return defined(request);
}

/** `POST /api/runs/:run/sigma`. */
export function readPlanQuery(body: unknown): PlanQuery {
  const what = 'a σ query';
  const f = fieldsOf(body, what);
  const query = planQuery(f, what);
  f.done();
  return defined(query);
}

/** Largest σ grid a ranks query may ask for (its answer grows with it). */
const MAX_RANK_BINS = 1000;

/** `POST /api/runs/:run/ranks`. */
export function readRanksQuery(body: unknown): RanksQuery {
  const what = 'a ranks query';
  const f = fieldsOf(body, what);
  const query: RanksQuery = { ...expertQuery(f), bins: f.number('bins') };
  f.done();
  const { bins } = query;
  if (
    bins !== undefined &&
    !(Number.isInteger(bins) && bins >= 1 && bins <= MAX_RANK_BINS)
  ) {
    throw bad(
      `${what}: "bins" must be a whole number from 1 to ${MAX_RANK_BINS}, got ${bins}`
    );
  }
  return defined(query);
}

/** `POST /api/runs/:run/charts`. */
export function readChartsRequest(body: unknown): ChartsRequest {
  const what = 'a charts request';
  const f = fieldsOf(body, what);
  const source = f.oneOf('source', [
    'plan',
    'sweep',
    'ablation',
    'study'
  ] as const);
  if (source === undefined) {
    throw bad(`${what}: "source" is required (plan, sweep, ablation or study)`);
  }
  const options = { svg: f.boolean('svg'), names: f.strings('names') };
  const request: ChartsRequest =
    source === 'plan'
      ? { ...options, source, ...planQuery(f, what) }
      : { ...options, source, file: f.string('file') };
  f.done();
  return defined(request);
}

/** `POST /api/models/open`. */
export function readOpenModel(body: unknown): OpenModelRequest {
  const f = fieldsOf(body, 'opening a model');
  const request = { model: f.string('model', true) };
  f.done();
  return request;
}

/** `POST /api/corpora`. */
export function readRegisterCorpus(body: unknown): RegisterCorpusRequest {
  const f = fieldsOf(body, 'registering a corpus');
  const request = defined({
    manifest: f.string('manifest', true),
    name: f.string('name')
  });
  f.done();
  return request;
}

/**
 * Refuses JSON that nests arrays and objects deeper than MAX_BODY_DEPTH, counted without parsing:
 * code that walks parsed JSON recursively (these readers, JSON.stringify) would run out of stack
 * on a body nested 400,000 deep, which fits in a megabyte.
 */
export function checkDepth(text: string, what: string): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') {
        i++;
      } else if (c === '"') {
        inString = false;
      }
    } else if (c === '"') {
      inString = true;
    } else if (c === '[' || c === '{') {
      if (++depth > MAX_BODY_DEPTH) {
        throw bad(
          `${what} nests arrays and objects deeper than the limit of ${MAX_BODY_DEPTH} levels`
        );
      }
    } else if (c === ']' || c === '}') {
      depth--;
    }
  }
}

/** A WebSocket message from a client. */
export function readClientMessage(text: string): ClientMessage {
  checkDepth(text, 'a message');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const type = isObject(body) ? body.type : undefined;
  const what = `a ${String(type)} message`;
  if (type === 'request') {
    const f = fieldsOf(body, what);
    f.string('type');
    const id = f.take('id', true);
    if (typeof id !== 'string' && typeof id !== 'number') {
      throw bad(`${what}: "id" must be a string or a number`);
    }
    const method = f.oneOf('method', ['GET', 'POST', 'DELETE'] as const);
    if (method === undefined) {
      throw bad(`${what}: "method" is required (GET, POST or DELETE)`);
    }
    const message = {
      type: 'request' as const,
      id,
      method,
      path: f.string('path', true),
      body: f.take('body')
    };
    f.done();
    return message;
  }
  if (type === 'subscribe') {
    const f = fieldsOf(body, what);
    f.string('type');
    const runs = f.take('runs');
    if (runs !== null) {
      f.strings('runs', true);
    }
    f.done();
    return { type: 'subscribe', runs: runs as string[] | null };
  }
  throw bad(
    'a message is a JSON object: {"type": "request", "id", "method", "path", "body"?} or {"type": "subscribe", "runs": [RUN, …] | null}'
  );
}
