/**
 * The bad-input matrix: what a user can get wrong, or what their machine can do to a run (a
 * read-only folder, a full disk, a killed process), through the CLI and the sidecar as a user
 * runs them. Every case asserts the one line it prints, its exit status, and that every file
 * around it is byte-identical afterwards.
 */
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mapModel } from '../../engine/arch/map';
import { readModelConfig } from '../../engine/arch/inspect';
import { OnnxModel } from '../../engine/onnx/model';
import { zeroUnits } from '../../engine/prune';
import { ScoreStore } from '../../engine/score';
import { FIXTURES } from '../../engine/__tests__/fixtures';
import { JobInfo } from '../../core/protocol';
import { SidecarProcess, spawnSidecar } from './sidecar-client';
import { CLI, CliResult, cusprunIn, notProgress } from './cli-process';

jest.setTimeout(120_000);

// Made when the file loads: the cases' expected lines name paths in it.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-bad-input-'));
const project = path.join(tmp, 'project');
const cli = (...args: string[]) => cusprunIn(project, ...args);

/** Every file and folder under `dir`, with a hash of each file's bytes. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const full = path.join(dir, rel);
    const stat = fs.lstatSync(full);
    if (stat.isDirectory()) {
      out[`${rel}/`] = 'folder';
      fs.readdirSync(full).forEach(name => walk(path.join(rel, name)));
    } else {
      out[rel] = crypto
        .createHash('sha256')
        .update(fs.readFileSync(full))
        .digest('hex');
    }
  };
  walk('.');
  return out;
}

/** A researcher's folder: a model, corpora, a scored run, notes and a notebook. */
function makeProject(dir: string): void {
  fs.mkdirSync(path.join(dir, 'models'), { recursive: true });
  fs.cpSync(
    path.join(FIXTURES, 'qwen2', 'torchscript'),
    path.join(dir, 'models', 'qwen2'),
    { recursive: true }
  );
  fs.cpSync(
    path.resolve(FIXTURES, '..', 'corpora'),
    path.join(dir, 'corpora'),
    {
      recursive: true
    }
  );
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'my notes\n');
  fs.mkdirSync(path.join(dir, 'notebooks'));
  fs.writeFileSync(path.join(dir, 'notebooks', 'analysis.ipynb'), '{}\n');
  const scored = cusprunIn(
    dir,
    'score',
    'models/qwen2',
    '--corpus',
    'corpora/corpus.yaml',
    '--run',
    'runs/mine',
    '--batch',
    '8'
  );
  expect(scored.code).toBe(0);
}

beforeAll(() => {
  makeProject(project);
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/**
 * Runs the CLI in the project and expects one line on stderr (after the progress of work done
 * before the refusal, as a full disk's) and the project unchanged.
 */
function refused(args: string[], line: string, code = 1): CliResult {
  const before = tree(project);
  const result = cli(...args);
  expect({
    code: result.code,
    stdout: result.stdout,
    stderr: notProgress(result.stderr)
  }).toEqual({
    code,
    stdout: '',
    stderr: [`cusprun: ${line}`]
  });
  expect(result.stderr.endsWith(`cusprun: ${line}\n`)).toBe(true);
  expect(tree(project)).toEqual(before);
  return result;
}

const PRUNE = ['prune', '--run', 'runs/mine', '--sigma', '0.5'];
const SCORE = ['score', 'models/qwen2', '--corpus', 'corpora/corpus.yaml'];

describe('outputs never replace what cusprun did not write', () => {
  it.each([
    [
      [...PRUNE, '--out', '.', '--overwrite'],
      '.: is the current working folder; choose another place for the output'
    ],
    [
      [...PRUNE, '--out', 'models', '--overwrite'],
      'models: holds the input model (qwen2/model.onnx); choose another place for the output'
    ],
    [
      [...PRUNE, '--out', 'models/qwen2', '--overwrite'],
      'models/qwen2: holds the input model (model.onnx); choose another place for the output'
    ],
    [
      [...PRUNE, '--out', 'runs/mine', '--overwrite'],
      'runs/mine: is the run folder; choose another place for the output'
    ],
    [
      [...PRUNE, '--out', 'runs', '--overwrite'],
      'runs: holds the run folder (mine); choose another place for the output'
    ],
    [
      [...PRUNE, '--out', 'corpora', '--overwrite'],
      'corpora: holds the corpus manifest (corpus.yaml); choose another place for the output'
    ],
    [
      [...PRUNE, '--out', 'notebooks', '--overwrite'],
      'notebooks: holds files cusprun did not write (analysis.ipynb); choose a new folder'
    ],
    [[...PRUNE, '--out', 'notes.txt'], 'notes.txt: is a file; name a folder'],
    [
      [...PRUNE, '--out', 'notes.txt/expert'],
      'notes.txt/expert: a part of this path is a file, not a folder; name a folder'
    ],
    [
      [...SCORE, '--run', 'notes.txt'],
      'notes.txt: is a file; --run names a run folder (new, empty, or a run to resume)'
    ],
    [
      [...SCORE, '--run', 'notebooks'],
      'notebooks: is not a run folder (no run.json) and holds other files (analysis.ipynb); choose a new folder for the run'
    ],
    [
      ['plan', '--run', 'runs/mine', '--sigma', '0.3', '--charts', 'notes.txt'],
      'notes.txt: is a file; name a folder for the charts'
    ],
    [
      ['eval', 'models/qwen2', '--eval', 'missing.jsonl'],
      `${path.join(project, 'missing.jsonl')}: no such file or folder; check the path`
    ],
    [
      ['plan', '--run', 'notes.txt', '--sigma', '0.3'],
      "notes.txt: not a run folder (no run.json); make one with 'cusprun score'"
    ]
  ])('%j', (args, line) => {
    refused(args, line);
  });

  it('replaces an output file only while cusprun owns it unchanged', () => {
    const charts = ['plan', '--run', 'runs/mine', '--sigma', '0.3', '--charts'];
    expect(cli(...charts, 'charts').code).toBe(0);
    expect(cli(...charts, 'charts').code).toBe(0);
    fs.appendFileSync(path.join(project, 'charts', 'ratio-vs-sigma.svg'), ' ');
    refused(
      [...charts, 'charts'],
      'charts/ratio-vs-sigma.svg: was changed after cusprun wrote it; move it away or choose another name'
    );
    refused(
      [
        'eval',
        'models/qwen2',
        '--eval',
        'corpora/language/de.txt',
        '--csv',
        'notes.txt'
      ],
      'notes.txt: exists and was not written by cusprun; move it away or choose another name'
    );
    fs.rmSync(path.join(project, 'charts'), { recursive: true });
  });

  it('replaces a pruned folder it wrote only when told to, and not once a file was added', () => {
    expect(cli(...PRUNE, '--out', 'expert').code).toBe(0);
    refused(
      [...PRUNE, '--out', 'expert'],
      'expert: holds an earlier output of cusprun; allow overwriting (--overwrite) to replace it'
    );
    expect(cli(...PRUNE, '--out', 'expert', '--overwrite').code).toBe(0);
    fs.writeFileSync(path.join(project, 'expert', 'README.md'), 'mine\n');
    refused(
      [...PRUNE, '--out', 'expert', '--overwrite'],
      'expert: holds files added or changed after cusprun wrote it (README.md); move them away or choose a new folder'
    );
    fs.rmSync(path.join(project, 'expert'), { recursive: true });
  });

  it('removes what a killed writer left in the same place, and only that', () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
    const stale = path.join(project, `expert.cusprun-staging-${dead}-1`);
    const live = path.join(project, `expert.cusprun-staging-${process.pid}-1`);
    for (const dir of [stale, live]) {
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'model.onnx'), 'half a model');
    }
    expect(cli(...PRUNE, '--out', 'expert').code).toBe(0);
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.existsSync(live)).toBe(true);
    fs.rmSync(live, { recursive: true });
    fs.rmSync(path.join(project, 'expert'), { recursive: true });
  });
});

describe('mistakes in the command line: one line, exit status 2', () => {
  it.each([
    [
      ['plan', '--run', 'runs/mine', '--sigma', '0.3', '--bogus'],
      "--bogus: unknown option of 'cusprun plan'; see 'cusprun plan --help'"
    ],
    [
      ['plan', '--run', 'runs/mine', '--sigma'],
      "--sigma: needs a value (S); see 'cusprun plan --help'"
    ],
    [
      ['plan', '--run', 'runs/mine', '--sigma', '0.2', '--sigma', '0.3'],
      '--sigma: given twice; give it once'
    ],
    [
      ['plan', '--run', 'runs/mine', '--sigma', '0.3', '--json=1'],
      "--json: takes no value, got '1'"
    ],
    [
      ['ablate', '--run', 'runs/mine', '--sigma', '0.3'],
      '--sigma: ablate solves σ per subset: give --target-ratio, not --sigma'
    ],
    [
      ['inspect', 'a', 'b'],
      "inspect takes one MODEL, got 'a' 'b'; see 'cusprun inspect --help'"
    ],
    [['prnue'], "prnue: unknown command; see 'cusprun --help'"]
  ])('%j', (args, line) => {
    refused(args, line, 2);
  });
});

describe('values that are out of range: one line naming the value, exit status 1', () => {
  it.each([
    [
      ['plan', '--run', 'runs/mine', '--sigma', '-1'],
      'σ must lie strictly between 0 and 1, got -1'
    ],
    [
      ['plan', '--run', 'runs/mine'],
      'give σ (--sigma S) or a target ratio (--target-ratio R)'
    ],
    [
      ['plan', '--run', 'runs/mine', '--target-ratio', '0.99'],
      'the target ratio 99.00% cannot be reached: with these documents, dimensions and guards no σ prunes more than 83.44%; ask for less'
    ],
    [
      [
        'sweep',
        '--run',
        'runs/mine',
        '--sigma',
        '0.1:0.9:1e-9',
        '--eval',
        'corpora/language/de.txt'
      ],
      '--sigma: 800,000,001 grid points are more than the limit of 1,000; ask for fewer (a larger STEP)'
    ]
  ])('%j', (args, line) => {
    refused(args, line);
  });
});

describe('every command answers --help', () => {
  const names = [
    'inspect',
    'score',
    'merge',
    'plan',
    'prune',
    'verify',
    'eval',
    'sweep',
    'ablate',
    'serve'
  ];

  it.each(names)('%s --help', name => {
    const { code, stdout, stderr } = cli(name, '--help');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(new RegExp(`^usage: cusprun ${name}\\b`));
    expect(stdout).toMatch(/^ {2}-h, --help +show this help$/m);
  });

  it('the command list names every command', () => {
    const { code, stdout } = cli('--help');
    expect(code).toBe(0);
    for (const name of [...names, 'export']) {
      expect(stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    }
  });
});

describe('prune, then verify', () => {
  let expert: string;
  beforeAll(() => {
    expert = path.join(tmp, 'verified-expert');
    const pruned = cli(...PRUNE, '--out', expert);
    expect(pruned.code).toBe(0);
  });

  it('verify passes on what prune wrote', () => {
    const { code, stdout } = cli('verify', expert);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^ok: the same logits as the original with the units replaced by their ridge predictions: max \|logit difference\| \S+ \(worst [\d.]+ ulps at \|logit\| [\d.]+; bound 512 float32 ulps\)\n$/
    );
  });

  it('verify fails with one line on a model altered after prune', () => {
    const altered = path.join(tmp, 'altered-expert');
    fs.cpSync(expert, altered, { recursive: true });
    const file = path.join(altered, 'model.onnx');
    const model = OnnxModel.load(file);
    const map = mapModel(model, { config: readModelConfig(file) });
    const proto = zeroUnits(model, map, {
      layers: [{ index: 0, ffn: [0], attention: [] }]
    });
    model.save(path.join(tmp, 'altered.onnx'), {}, proto);
    model.close();
    fs.renameSync(path.join(tmp, 'altered.onnx'), file);
    const { code, stdout, stderr } = cli('verify', altered);
    expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
    expect(stderr).toMatch(
      new RegExp(
        `^cusprun: ${file}: the pruned model differs from the original with the same units replaced by their ridge predictions: max \\|logit difference\\| \\S+ \\(worst [\\d.]+ ulps at \\|logit\\| [\\d.]+; bound 512 float32 ulps\\); if the folder was not changed after 'cusprun prune' wrote it, please report this export\\n$`
      )
    );
  });

  it('finds the original by --model when it moved, and refuses another model', () => {
    const moved = path.join(tmp, 'moved-model');
    fs.cpSync(path.join(project, 'models', 'qwen2'), moved, {
      recursive: true
    });
    expect(cli('verify', expert, '--model', moved).code).toBe(0);
    const other = path.join(FIXTURES, 'llama', 'torchscript');
    refused(
      ['verify', expert, '--model', other],
      `${other}: is not the model this folder was pruned from (its SHA-256 differs from ${JSON.parse(fs.readFileSync(path.join(expert, 'cusprun-plan.json'), 'utf8')).source.sha256.slice(0, 12)}…); name the original with --model`
    );
  });
});

describe('the sidecar refuses the same outputs, and verifies', () => {
  const TOKEN = 'bad-input-token-0123456789';
  let sidecar: SidecarProcess;

  async function job(request: unknown): Promise<JobInfo> {
    const submitted = await sidecar.client.request<JobInfo>(
      'POST',
      '/api/jobs',
      request
    );
    expect(submitted.status).toBe(202);
    for (;;) {
      const { body } = await sidecar.client.request<JobInfo>(
        'GET',
        `/api/jobs/${submitted.body.id}`
      );
      if (!['queued', 'running'].includes(body.state)) {
        return body;
      }
      await new Promise(resolve => setTimeout(resolve, 50));
    }
  }

  beforeAll(async () => {
    fs.cpSync(
      path.join(project, 'runs', 'mine'),
      path.join(project, '.cusprun', 'mine'),
      {
        recursive: true
      }
    );
    sidecar = await spawnSidecar(CLI, ['--store', '.cusprun'], {
      token: TOKEN,
      cwd: project
    });
  });
  afterAll(async () => {
    sidecar.child.kill('SIGTERM');
    await sidecar.exited;
    fs.rmSync(path.join(project, '.cusprun'), { recursive: true });
  });

  it.each([
    [
      'models',
      'models: holds the input model (qwen2/model.onnx); choose another place for the output'
    ],
    [
      'notebooks',
      'notebooks: holds files cusprun did not write (analysis.ipynb); choose a new folder'
    ],
    [
      '.cusprun',
      '.cusprun: is the run store; choose another place for the output'
    ]
  ])('"out": %j with "overwrite": true', async (out, line) => {
    const before = tree(project);
    const info = await job({
      type: 'prune',
      run: 'mine',
      sigma: 0.5,
      out,
      overwrite: true
    });
    expect({ state: info.state, error: info.error }).toEqual({
      state: 'failed',
      error: { code: 'would-overwrite', message: line }
    });
    const after = tree(project);
    // The store's own event log records the refused job; nothing else changed.
    for (const file of Object.keys(after).filter(f =>
      f.startsWith('.cusprun/mine/events')
    )) {
      delete after[file];
      delete before[file];
    }
    expect(after).toEqual(before);
  });

  it('prunes, then verifies what it wrote', async () => {
    const pruned = await job({
      type: 'prune',
      run: 'mine',
      sigma: 0.5,
      out: 'experts/mine'
    });
    expect(pruned.state).toBe('done');
    const verified = await job({
      type: 'verify',
      run: 'mine',
      pruned: 'experts/mine'
    });
    expect(verified.state).toBe('done');
    expect(verified.result).toMatchObject({
      ok: true,
      type: 'float32',
      boundUlps: 512,
      maxAbsDiff: expect.any(Number)
    });
  });
});

/** Mounts a tmpfs (read-only or of a given size) for the duration of `work`; needs root. */
function canMount(): boolean {
  if (process.getuid?.() !== 0) {
    return false;
  }
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-mount-'));
  const mounted = spawnSync('mount', [
    '-t',
    'tmpfs',
    '-o',
    'size=64k',
    'tmpfs',
    probe
  ]);
  if (mounted.status === 0) {
    spawnSync('umount', [probe]);
  }
  fs.rmdirSync(probe);
  return mounted.status === 0;
}

function mount(options: string): string {
  const point = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-tmpfs-'));
  const result = spawnSync('mount', [
    '-t',
    'tmpfs',
    '-o',
    options,
    'tmpfs',
    point
  ]);
  expect(result.status).toBe(0);
  return point;
}

function unmount(point: string): void {
  spawnSync('umount', [point]);
  fs.rmdirSync(point);
}

// Mounting needs root (CI runs as root); elsewhere these cases are skipped, and say why.
const withMounts = canMount() ? describe : describe.skip;

withMounts('a read-only folder and a full disk (tmpfs mounts, as root)', () => {
  it('a read-only folder: one line for prune, plan --charts and score', () => {
    const ro = mount('ro,size=64k');
    try {
      refused(
        [...PRUNE, '--out', path.join(ro, 'expert')],
        `${path.join(ro, 'expert')}: read-only file system; write to a folder on a writable disk`
      );
      refused(
        [
          'plan',
          '--run',
          'runs/mine',
          '--sigma',
          '0.3',
          '--charts',
          path.join(ro, 'charts')
        ],
        `${path.join(ro, 'charts')}: read-only file system; write to a folder on a writable disk`
      );
      refused(
        [...SCORE, '--run', path.join(ro, 'run')],
        `${path.join(ro, 'run')}: read-only file system; write to a folder on a writable disk`
      );
    } finally {
      unmount(ro);
    }
  });

  it('a full disk: prune and charts leave nothing behind', () => {
    const full = mount('size=16k');
    try {
      refused(
        [...PRUNE, '--out', path.join(full, 'expert')],
        `${path.join(full, 'expert')}: no space left on the device; free some space or write to another disk`
      );
      const charts = cli(
        'plan',
        '--run',
        'runs/mine',
        '--sigma',
        '0.3',
        '--charts',
        path.join(full, 'charts')
      );
      expect(charts.code).toBe(1);
      expect(charts.stderr).toMatch(
        /: no space left on the device; free some space or write to another disk\n$/
      );
      expect(fs.readdirSync(full)).toEqual([]);
    } finally {
      unmount(full);
    }
  });

  it('a full disk during scoring: one line, and the run resumes to the same scores', () => {
    const reference = path.join(tmp, 'reference-run');
    expect(cli(...SCORE, '--run', reference, '--batch', '4').code).toBe(0);
    // The smallest disk that holds some batches but not all of them (sizes vary by kernel).
    for (const kb of [24, 28, 32, 36, 40, 48, 56, 64]) {
      const full = mount(`size=${kb}k`);
      try {
        const run = path.join(full, 'run');
        const result = cli(...SCORE, '--run', run, '--batch', '4');
        if (result.code === 0) {
          continue;
        }
        expect(result.stderr.replace(/^\[.*\n/gm, '')).toBe(
          `cusprun: ${run}: no space left on the device; free some space or write to another disk\n`
        );
        const committed = scores(run).size;
        if (committed === 0) {
          continue;
        }
        spawnSync('mount', ['-o', `remount,size=1m`, full]);
        const resumed = cli(...SCORE, '--run', run, '--batch', '4');
        expect(resumed.code).toBe(0);
        expect(resumed.stdout).toMatch(`; ${committed} were already scored`);
        expect(scores(run)).toEqual(scores(reference));
        return;
      } finally {
        unmount(full);
      }
    }
    throw new Error('no tmpfs size held part of the run');
  });
});

/** A run's scores, record by record, keyed by document id. */
function scores(run: string): Map<string, Buffer> {
  const store = ScoreStore.open(path.join(run, 'scores'));
  try {
    return new Map(
      store.documents.map(d => [d.id, Buffer.from(store.record(d.id).buffer)])
    );
  } finally {
    store.close();
  }
}
