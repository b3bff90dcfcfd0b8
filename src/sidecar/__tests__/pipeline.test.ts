/**
 * score → plan → prune as a user runs them: real processes on the built CLI, a fixture model
 * with its tokenizer, and the fixture corpora.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspectModel } from '../../engine/arch';
import { INDEX_FILE, MANIFEST_FILE, ScoreStore } from '../../engine/score';
import { FIXTURES, fixtureManifest } from '../../engine/__tests__/fixtures';
import { EXIT_WITH_PARENT_ENV } from '../../core/protocol';
import { isAlive } from '../../engine/output/staging';
import { CLI, cusprun, cusprunWith, notProgress } from './cli-process';

const MODEL = path.join(FIXTURES, 'qwen2', 'torchscript');
const CORPUS = path.resolve(FIXTURES, '..', 'corpora', 'corpus.yaml');

let tmp: string;
let run: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-pipeline-'));
  run = path.join(tmp, 'run');
  const scored = cusprun(
    'score',
    MODEL,
    '--corpus',
    CORPUS,
    '--run',
    run,
    '--batch',
    '4'
  );
  expect(scored.stderr).not.toMatch(/\n\s+at /);
  expect(scored.code).toBe(0);
  expect(scored.stdout).toMatch(
    /^scored 24 documents \([\d,]+ tokens\) in [\d.]+ s; 0 were already scored$/m
  );
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('cusprun score, plan and prune', () => {
  it('records the run and resumes without redoing finished documents', () => {
    const record = JSON.parse(
      fs.readFileSync(path.join(run, 'run.json'), 'utf8')
    );
    expect(
      record.corpus.dimensions.map((d: { dimension: string }) => d.dimension)
    ).toEqual(['language', 'domain', 'task']);
    expect(record.model.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(record.versions.onnxruntime).toBe('1.30.0');
    const again = cusprun('score', MODEL, '--corpus', CORPUS, '--run', run);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(
      /scored 0 documents .*; 24 were already scored/
    );
  });

  it('draws the plan: relevance histograms with σ, ratio against σ, units per layer', () => {
    const charts = path.join(tmp, 'plan-charts');
    const { code, stdout, stderr } = cusprun(
      'plan',
      '--run',
      run,
      '--sigma',
      '0.4',
      '--json',
      '--charts',
      charts
    );
    expect(code).toBe(0);
    expect(JSON.parse(stdout).sigma).toBe(0.4);
    for (const [chart, mark, showsSigma] of [
      ['relevance-histogram', 'mark-rect', true],
      ['ratio-vs-sigma', 'mark-line', true],
      ['pruned-per-layer', 'mark-rect', false]
    ] as const) {
      const svg = path.join(charts, `${chart}.svg`);
      expect(stderr).toContain(`wrote ${svg}\n`);
      expect(fs.readFileSync(svg, 'utf8')).toContain(mark);
      const spec = JSON.parse(
        fs.readFileSync(path.join(charts, `${chart}.vl.json`), 'utf8')
      );
      expect(JSON.stringify(spec).includes('0.4')).toBe(showsSigma);
    }
  });

  it('plans at σ with the documented JSON', () => {
    const { code, stdout } = cusprun(
      'plan',
      '--run',
      run,
      '--sigma',
      '0.4',
      '--json'
    );
    expect(code).toBe(0);
    const plan = JSON.parse(stdout);
    expect(plan.sigma).toBe(0.4);
    expect(plan.dimensions).toEqual(['language', 'domain', 'task']);
    expect(plan.ratio).toBeGreaterThan(0);
    expect(plan.ratio).toBeLessThanOrEqual(0.4);
    for (const layer of plan.layers) {
      expect(layer).toMatchObject({
        index: expect.any(Number),
        ffn: { pruned: expect.any(Array) },
        attention: { prunedGroups: expect.any(Array) }
      });
    }
    // Fewer dimensions prune at least as much: the intersection can only shrink.
    const oneDim = JSON.parse(
      cusprun(
        'plan',
        '--run',
        run,
        '--sigma',
        '0.4',
        '--dims',
        'language',
        '--json'
      ).stdout
    );
    expect(oneDim.ratio).toBeGreaterThanOrEqual(plan.ratio);
  });

  it('prunes to a target ratio, writes a model that maps and loads, and records the check', () => {
    const out = path.join(tmp, 'expert');
    const { code, stdout } = cusprun(
      'prune',
      '--run',
      run,
      '--target-ratio',
      '0.15',
      '--out',
      out
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(/solved for a target of 15\.00%/);
    expect(stdout).toMatch(
      /checked against the original with the units replaced by their ridge predictions: max \|logit difference\| /
    );
    const before = inspectModel(MODEL);
    const after = inspectModel(out);
    expect(after.prunableParams).toBeLessThan(before.prunableParams);
    const record = JSON.parse(
      fs.readFileSync(path.join(run, 'run.json'), 'utf8')
    );
    expect(record.prunes).toHaveLength(1);
    expect(record.prunes[0].maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(cusprun('verify', out).code).toBe(0);
    expect(record.prunes[0].plan.targetRatio).toBe(0.15);
  });

  it.each(['pooled-intersect', 'rank-mean'])(
    'plans, prunes and verifies under --rule %s, recording the rule',
    rule => {
      const planned = (...args: string[]) => {
        const result = cusprun('plan', '--run', run, '--json', ...args);
        expect(result.stderr).toBe('');
        return JSON.parse(result.stdout);
      };
      const plan = planned('--target-ratio', '0.2', '--rule', rule);
      const paper = planned('--target-ratio', '0.2', '--rule', 'paper');
      expect(plan.rule).toBe(rule);
      expect(paper.rule).toBe('paper');
      expect(plan.q).toBe(1);
      // Another rule chooses other units (what the rule is for) at a ratio near the target.
      expect(plan.layers).not.toEqual(paper.layers);
      expect(Math.abs(plan.ratio - 0.2)).toBeLessThan(0.05);
      const out = path.join(tmp, `expert-${rule}`);
      const pruned = cusprun(
        'prune',
        '--run',
        run,
        '--target-ratio',
        '0.2',
        '--rule',
        rule,
        '--min-keep',
        '2',
        '--out',
        out
      );
      expect(notProgress(pruned.stderr)).toEqual([]);
      expect(pruned.code).toBe(0);
      expect(pruned.stdout).toMatch(new RegExp(`rule ${rule}\\)$`, 'm'));
      const record = JSON.parse(
        fs.readFileSync(path.join(run, 'run.json'), 'utf8')
      );
      expect(record.prunes[record.prunes.length - 1].plan).toMatchObject({
        rule,
        q: 1,
        minKeep: 2
      });
      // The written model has the widths of the plan under the same rule and guards.
      const kept = planned(
        '--target-ratio',
        '0.2',
        '--rule',
        rule,
        '--min-keep',
        '2'
      );
      expect(inspectModel(out).layers.map(l => l.ffn.units)).toEqual(
        kept.layers.map(
          (l: { ffn: { width: number; pruned: number[] } }) =>
            l.ffn.width - l.ffn.pruned.length
        )
      );
      expect(cusprun('verify', out).code).toBe(0);
    }
  );

  it('prunes with per-layer counts allocated by sensitivity, and verifies', () => {
    const out = path.join(tmp, 'expert-sensitivity');
    const pruned = cusprun(
      'prune',
      '--run',
      run,
      '--target-ratio',
      '0.2',
      '--rule',
      'rank-mean',
      '--allocate',
      'sensitivity',
      '--out',
      out
    );
    expect(notProgress(pruned.stderr)).toEqual([]);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toMatch(
      /^sigma +[\d.]+ \(one σ's at a target of 20\.00%; the counts were allocated by sensitivity\)$/m
    );
    const { plan } = JSON.parse(
      fs.readFileSync(path.join(out, 'cusprun-plan.json'), 'utf8')
    );
    expect(plan.allocation.method).toBe('sensitivity');
    // One probe per layer module, each removing at least one unit where the guards allow.
    expect(plan.allocation.probes).toHaveLength(2 * plan.layers.length);
    expect(Math.abs(plan.ratio - 0.2)).toBeLessThan(0.05);
    // rank-mean alone removes the same share of every layer: the allocation does not.
    const ffn = plan.layers.map(
      (l: { ffn: { pruned: number[] } }) => l.ffn.pruned.length
    );
    expect(new Set(ffn).size).toBeGreaterThan(1);
    expect(inspectModel(out).layers.map(l => l.ffn.units)).toEqual(
      plan.layers.map(
        (l: { ffn: { width: number; pruned: number[] } }) =>
          l.ffn.width - l.ffn.pruned.length
      )
    );
    expect(cusprun('verify', out).code).toBe(0);
    const refused = cusprun(
      'prune',
      '--run',
      run,
      '--sigma',
      '0.3',
      '--allocate',
      'sensitivity',
      '--out',
      path.join(tmp, 'never')
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'cusprun: allocation by sensitivity needs a target ratio (--target-ratio R), not σ\n'
    );
    expect(fs.existsSync(path.join(tmp, 'never'))).toBe(false);
  });

  it.each([
    [
      ['--rule', 'mean'],
      /^cusprun: --rule: unknown rule 'mean'; choose from paper, q, pooled-intersect, rank-mean$/m
    ],
    [
      ['--rule', 'rank-mean', '--q', '0.5'],
      /^cusprun: --q applies only to --rule q; drop it or use --rule q$/m
    ],
    [
      ['--rule', 'q'],
      /^cusprun: --rule q needs --q Q, a fraction of each dimension's documents in \(0, 1\]$/m
    ]
  ])('plan %j is a usage mistake: one line, exit 2', (args, message) => {
    const result = cusprun('plan', '--run', run, '--sigma', '0.3', ...args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
  });

  it.each([
    [
      ['plan', '--run', 'RUN', '--sigma', '1.5'],
      /σ must lie strictly between 0 and 1, got 1.5/
    ],
    [
      ['plan', '--run', 'RUN', '--sigma', '0.3', '--target-ratio', '0.2'],
      /not both/
    ],
    [
      ['plan', '--run', 'RUN', '--sigma', '0.3', '--dims', 'language,style'],
      /unknown dimension 'style': this run scored language, domain, task/
    ],
    [
      ['plan', '--run', 'RUN', '--target-ratio', '0.95'],
      /the target ratio 95.00% cannot be reached/
    ],
    [['plan', '--run', 'NOWHERE', '--sigma', '0.3'], /not a run folder/],
    [
      ['plan', '--run', 'RUN'],
      /^cusprun: give σ \(--sigma S\) or a target ratio \(--target-ratio R\)$/m
    ]
  ])('%j is refused with one clear line', (args, message) => {
    const result = cusprun(
      ...args.map(a =>
        a === 'RUN' ? run : a === 'NOWHERE' ? path.join(tmp, 'nowhere') : a
      )
    );
    expect(result.code).toBe(1);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
  });

  it('never writes over an existing output', () => {
    const out = path.join(tmp, 'occupied');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'keep.txt'), 'mine');
    const result = cusprun(
      'prune',
      '--run',
      run,
      '--sigma',
      '0.3',
      '--out',
      out
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `cusprun: ${out}: holds files cusprun did not write (keep.txt); choose a new folder\n`
    );
    expect(fs.readdirSync(out)).toEqual(['keep.txt']);
  });
});

describe('a scoring run killed mid-way', () => {
  /** One document per batch, so a kill lands between commits. */
  const scoreInto = (runDir: string) => [
    'score',
    MODEL,
    '--corpus',
    CORPUS,
    '--run',
    runDir,
    '--batch',
    '1'
  ];

  /** Starts a score into `runDir` and sends `signal` once a batch is committed. */
  const scoreUntilSignal = async (
    runDir: string,
    signal: NodeJS.Signals,
    tmpdir: string
  ) => {
    const child = spawn(process.execPath, [CLI, ...scoreInto(runDir)], {
      env: { ...process.env, TMPDIR: tmpdir }
    });
    // The first progress line means at least one batch is committed; signal before the end.
    // Once: a second Ctrl-C while the first one's exit removes the folders kills the process
    // outright, as a shell user expects (the CI saw exit status null from later chunks' kills).
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        if (!child.killed && /documents/.test(chunk.toString())) {
          child.kill(signal);
          resolve();
        }
      });
      child.on('exit', () => resolve());
      child.on('error', reject);
    });
    await new Promise(resolve => child.on('close', resolve));
    return child;
  };
  const tmpdirOf = (name: string) => {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir);
    return dir;
  };

  // Three CLI processes one after another: more than jest's 5 s on a loaded 2-core machine.
  it('resumes after SIGKILL and ends with the scores of an uninterrupted run', async () => {
    const whole = path.join(tmp, 'whole');
    expect(cusprun(...scoreInto(whole)).code).toBe(0);

    const killed = path.join(tmp, 'killed');
    const tmpdir = tmpdirOf('killed-tmpdir');
    const child = await scoreUntilSignal(killed, 'SIGKILL', tmpdir);
    expect(child.signalCode).toBe('SIGKILL');
    // The killed process's scoring graph is left behind, named with its pid…
    expect(fs.readdirSync(tmpdir)).toEqual([
      expect.stringMatching(new RegExp(`^cusprun-scoring-${child.pid}-`))
    ]);
    const partial = ScoreStore.open(path.join(killed, 'scores'));
    const committed = partial.size;
    partial.close();
    expect(committed).toBeGreaterThan(0);
    expect(committed).toBeLessThan(24);
    // The batches were committed as lines of the commit index, the manifest left as created.
    const onDisk = (run: string, file: string) =>
      path.join(run, 'scores', file);
    expect(fs.existsSync(onDisk(killed, INDEX_FILE))).toBe(true);
    expect(
      JSON.parse(fs.readFileSync(onDisk(killed, MANIFEST_FILE), 'utf8'))
        .documents
    ).toHaveLength(0);

    const resumed = cusprunWith(
      { env: { TMPDIR: tmpdir } },
      ...scoreInto(killed)
    );
    expect(resumed.code).toBe(0);
    // …and the next cusprun process removes it, as its own leaves nothing either.
    expect(fs.readdirSync(tmpdir)).toEqual([]);
    expect(resumed.stdout).toMatch(
      new RegExp(
        `scored ${24 - committed} documents .*; ${committed} were already scored`
      )
    );
    expect(fs.existsSync(onDisk(killed, INDEX_FILE))).toBe(false);
    const batches = (run: string) =>
      JSON.parse(fs.readFileSync(onDisk(run, MANIFEST_FILE), 'utf8')).batches;
    expect(batches(killed)).toEqual(batches(whole));
    const a = ScoreStore.open(path.join(whole, 'scores'));
    const b = ScoreStore.open(path.join(killed, 'scores'));
    try {
      expect(b.size).toBe(24);
      for (const doc of a.documents) {
        expect(Array.from(b.record(doc.id))).toEqual(
          Array.from(a.record(doc.id))
        );
      }
    } finally {
      a.close();
      b.close();
    }
  }, 30_000);

  it('stops on Ctrl-C with exit status 130 and takes its temporary folders with it', async () => {
    const tmpdir = tmpdirOf('interrupted-tmpdir');
    const child = await scoreUntilSignal(
      path.join(tmp, 'interrupted'),
      'SIGINT',
      tmpdir
    );
    expect({ code: child.exitCode, signal: child.signalCode }).toEqual({
      code: 130,
      signal: null
    });
    expect(fs.readdirSync(tmpdir)).toEqual([]);
  }, 30_000);

  it('started by a Ray task, exits when that task’s worker is killed', async () => {
    // A corpus that takes far longer to score than the test waits: only the exit can end it.
    const lines = path.join(tmp, 'many-lines.txt');
    const count = 20_000;
    fs.writeFileSync(
      lines,
      Array.from({ length: count }, (_, i) => `Satz ${i} über Dateien.\n`).join(
        ''
      )
    );
    const manifest = path.join(tmp, 'many.yaml');
    const dimension = { name: 'de', sources: [lines], format: 'lines' };
    fs.writeFileSync(
      manifest,
      JSON.stringify({
        dimensions: { language: dimension },
        truncation: 16,
        documents: count
      })
    );
    const run = path.join(tmp, 'orphaned');
    const score = [CLI, 'score', MODEL, '--corpus', manifest, '--run', run];
    const tmpdir = tmpdirOf('orphaned-tmpdir');
    // The worker starts the CLI as a Ray task does, prints its pid, and is killed at the CLI's
    // first progress line.
    const worker = spawn(
      process.execPath,
      [
        '-e',
        `const c = require('node:child_process').spawn(process.execPath, ${JSON.stringify(
          [...score, '--batch', '1']
        )}, { stdio: ['ignore', 'ignore', 'inherit'] }); console.log(c.pid);`
      ],
      { env: { ...process.env, TMPDIR: tmpdir, [EXIT_WITH_PARENT_ENV]: '1' } }
    );
    let pid = 0;
    worker.stdout.on('data', (chunk: Buffer) => (pid = Number(chunk)));
    await new Promise<void>(resolve =>
      worker.stderr.on('data', (chunk: Buffer) => {
        if (pid && !worker.killed && /documents/.test(chunk.toString())) {
          worker.kill('SIGKILL');
          resolve();
        }
      })
    );
    const deadline = Date.now() + 10_000;
    while (isAlive(pid) && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 100));
    }
    expect(isAlive(pid)).toBe(false);
    expect(fs.readdirSync(tmpdir)).toEqual([]);
    const store = ScoreStore.open(path.join(run, 'scores'));
    try {
      expect(store.size).toBeLessThan(count);
    } finally {
      store.close();
    }
  }, 30_000);
});

describe('prune, then verify, on every float16 fixture', () => {
  it.each(
    fixtureManifest()
      .filter(f => f.dtype === 'float16')
      .map(f => [f.family, f.style])
  )('%s/%s', (family, style) => {
    const dir = path.join(tmp, `fp16-${family}-${style}`);
    const model = path.join(FIXTURES, family, style);
    const runDir = path.join(dir, 'run');
    expect(
      cusprun('score', model, '--corpus', CORPUS, '--run', runDir).code
    ).toBe(0);
    const out = path.join(dir, 'expert');
    const pruned = cusprun(
      'prune',
      '--run',
      runDir,
      '--sigma',
      '0.5',
      '--out',
      out
    );
    expect(notProgress(pruned.stderr)).toEqual([]);
    expect(pruned.stdout).toMatch(/bound 4 float16 ulps\)\n$/);
    const verified = cusprun('verify', out);
    expect(verified.stdout).toMatch(
      /^ok: the same logits as the original with the units replaced by their ridge predictions: .*bound 4 float16 ulps\)\n$/
    );
  });
});
