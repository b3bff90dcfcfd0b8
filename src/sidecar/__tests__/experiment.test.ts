/**
 * cusprun eval, sweep and ablate as a user runs them: real processes on the built CLI, a fixture
 * model with a KV cache, the fixture corpora and evaluation sets.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FIXTURES } from '../../engine/__tests__/fixtures';
import { cusprun } from './cli-process';

const MODEL = path.join(FIXTURES, 'llama', 'kv');
const CORPUS = path.resolve(FIXTURES, '..', 'corpora', 'corpus.yaml');
const QA = path.resolve(FIXTURES, '..', 'corpora', 'task', 'qa.jsonl');
const EVAL = path.resolve(FIXTURES, '..', 'eval');
const MC = path.join(EVAL, 'mc.jsonl');

let tmp: string;
let run: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-experiment-cli-'));
  run = path.join(tmp, 'run');
  expect(cusprun('score', MODEL, '--corpus', CORPUS, '--run', run).code).toBe(
    0
  );
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const MEDICAL = path.resolve(FIXTURES, '..', 'corpora', 'medical.yaml');

/** A run of the same model on another corpus, to calibrate baselines on (scored once). */
function medicalRun(): string {
  const medical = path.join(tmp, 'medical-run');
  if (!fs.existsSync(medical)) {
    expect(
      cusprun('score', MODEL, '--corpus', MEDICAL, '--run', medical).code
    ).toBe(0);
  }
  return medical;
}

const EVAL_ARGS = [
  '--eval',
  QA,
  '--eval',
  MC,
  '--truncation',
  '48',
  '--threads',
  '1'
];

describe('cusprun eval', () => {
  it('scores the dense and a pruned model side by side, with generation and latency', () => {
    const pruned = path.join(tmp, 'pruned');
    expect(
      cusprun('prune', '--run', run, '--target-ratio', '0.2', '--out', pruned)
        .code
    ).toBe(0);
    const json = path.join(tmp, 'eval.json');
    const csv = path.join(tmp, 'eval.csv');
    const { code, stdout } = cusprun(
      'eval',
      MODEL,
      pruned,
      ...EVAL_ARGS,
      '--prompts',
      path.join(EVAL, 'prompts.jsonl'),
      '--max-new-tokens',
      '4',
      '--latency',
      '--json',
      json,
      '--csv',
      csv
    );
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^\\s+${MODEL}\\s+${pruned}$`));
    for (const row of [
      /^qa ppl\s+\d+\.\d\d\s+\d+\.\d\d$/,
      /^mc acc\s+0\.\d{3}\s+0\.\d{3}$/,
      /^mc acc_norm\s+/,
      /^size MiB\s+\d+\.\d\d\s+\d+\.\d\d$/,
      /^generation exact match\s+\d\.\d{3}\s+\d\.\d{3}$/,
      /^generation repeated 3-grams\s+/,
      /^prefill ms \(64 tokens\)\s+[\d.]+\s+[\d.]+$/,
      /^decode ms\/token\s+/
    ]) {
      expect(lines.some(l => row.test(l))).toBe(true);
    }
    const results = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(results).toHaveLength(2);
    const ppl = (i: number) =>
      results[i].metrics.find(
        (m: { metric: string }) => m.metric === 'perplexity'
      ).value;
    expect(ppl(1)).not.toBeCloseTo(ppl(0), 6);
    expect(results[1].bytes).toBeLessThan(results[0].bytes);
    expect(results[0].generation.samples[0].prompt).toMatch(
      /capital of Austria/
    );
    expect(results[0].latency.usedCache).toBe(true);
    expect(fs.readFileSync(csv, 'utf8').split('\n')[0]).toBe(
      'model,eval_set,metric,value,count'
    );
  });

  it("ends a generation at the model's EOS ids (generation_config.json)", () => {
    const model = path.join(tmp, 'every-id-ends');
    fs.cpSync(MODEL, model, { recursive: true });
    const { vocab_size } = JSON.parse(
      fs.readFileSync(path.join(model, 'config.json'), 'utf8')
    );
    const texts = () => {
      const json = path.join(tmp, 'eos.json');
      const args = ['--prompts', path.join(EVAL, 'prompts.jsonl')];
      expect(
        cusprun('eval', model, ...EVAL_ARGS, ...args, '--json', json).code
      ).toBe(0);
      const [result] = JSON.parse(fs.readFileSync(json, 'utf8'));
      return result.generation.samples.map((s: { text: string }) => s.text);
    };
    expect(texts().every((t: string) => t.length > 0)).toBe(true);
    // Every id is an EOS: each generation ends before its first token.
    fs.writeFileSync(
      path.join(model, 'generation_config.json'),
      JSON.stringify({ eos_token_id: [...Array(vocab_size).keys()] })
    );
    expect(texts().every((t: string) => t === '')).toBe(true);
  });

  it('names the file and the line of a bad prompt', () => {
    const prompts = path.join(tmp, 'bad-prompts.jsonl');
    fs.writeFileSync(prompts, '{"prompt": "ok"}\n{"text": "no prompt"}\n');
    const { code, stderr } = cusprun(
      'eval',
      MODEL,
      ...EVAL_ARGS,
      '--prompts',
      prompts
    );
    expect(code).toBe(1);
    expect(stderr).toBe(
      `cusprun: ${prompts}: line 2: no "prompt" string (each line is {"prompt": …, "reference": …})\n`
    );
  });
});

describe('cusprun sweep', () => {
  it('compares the expert with every baseline at each grid point and draws the charts', () => {
    const charts = path.join(tmp, 'charts');
    const csv = path.join(tmp, 'sweep.csv');
    const { code, stdout, stderr } = cusprun(
      'sweep',
      '--run',
      run,
      '--target-ratios',
      '0.1,0.2',
      ...EVAL_ARGS,
      '--charts',
      charts,
      '--csv',
      csv
    );
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(
      /^method\s+sigma\s+ratio\s+qa ppl\s+mc acc\s+mc acc_norm$/
    );
    expect(lines[1]).toMatch(/^dense\s+-\s+0\.00%\s+\d+\.\d\d/);
    const methods = lines.slice(2, 14).map(l => l.split(/\s+/)[0]);
    const all = ['cus-prun', 'random', 'magnitude', 'general', 'wanda', 'flap'];
    expect(methods).toEqual([...all, ...all]);
    // Every method at a grid point removes the same counts: one ratio per point.
    const ratioOf = (l: string) => l.split(/\s+/)[2];
    expect(new Set(lines.slice(2, 8).map(ratioOf)).size).toBe(1);
    expect(stderr).toMatch(/^\[12\] flap at σ [\d.]+ \(ratio [\d.]+%\)$/m);
    expect(stdout).toMatch(/^kept in .*\/run\/sweeps\/[\dT-]+Z\.json$/m);
    expect(
      fs.existsSync(path.join(run, 'baseline-scores', 'wanda', 'manifest.json'))
    ).toBe(true);
    for (const chart of ['ratio-vs-sigma', 'metrics-vs-ratio']) {
      const svg = fs.readFileSync(path.join(charts, `${chart}.svg`), 'utf8');
      expect(svg).toMatch(/^<svg /);
      expect(svg).toContain('mark-line');
      expect(
        JSON.parse(
          fs.readFileSync(path.join(charts, `${chart}.vl.json`), 'utf8')
        )
      ).toHaveProperty(
        '$schema',
        'https://vega.github.io/schema/vega-lite/v5.json'
      );
    }
    expect(fs.readFileSync(csv, 'utf8').split('\n')[0]).toBe(
      'method,sigma,ratio,cached,eval_set,metric,value,count'
    );

    const again = cusprun(
      'sweep',
      '--run',
      run,
      '--target-ratios',
      '0.2',
      ...EVAL_ARGS,
      '--methods',
      'cus-prun,random'
    );
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(
      /^\[1\] cus-prun at σ [\d.]+ \(ratio [\d.]+%\), from cache$/m
    );
    expect(again.stderr).toMatch(/^\[2\] random .*, from cache$/m);
  });

  it('refuses bad grids, unknown methods and a missing evaluation set clearly', () => {
    const bad = (args: string[], code: number, message: RegExp) => {
      const result = cusprun('sweep', '--run', run, ...args);
      expect(result.code).toBe(code);
      expect(result.stderr).toMatch(message);
    };
    bad(
      ['--sigma', '0.1,1.5', ...EVAL_ARGS],
      1,
      /^cusprun: --sigma: every value must lie strictly between 0 and 1, got 1.5$/m
    );
    bad(
      ['--sigma', '0.1', '--methods', 'cus-prun,lottery', ...EVAL_ARGS],
      1,
      /unknown method 'lottery': choose from cus-prun, random, magnitude, general, wanda, flap/
    );
    bad(['--sigma', '0.1'], 2, /--eval SET is required/);
    bad(
      ['--sigma', '0.1', '--target-ratios', '0.2', ...EVAL_ARGS],
      2,
      /give a σ grid/
    );
    bad(
      ['--sigma', '0.1', '--eval', CORPUS],
      1,
      /corpus\.yaml: not an evaluation set: expected \.jsonl or \.txt/
    );
    bad(
      ['--sigma', '0.1', '--dims', 'language,mood', ...EVAL_ARGS],
      1,
      /unknown dimension 'mood'/
    );
  });

  it("calibrates the baselines on another run's documents with --baseline-run", () => {
    const medical = medicalRun();
    const sweep = (...extra: string[]) => {
      const json = path.join(tmp, `baseline${extra.length}.json`);
      const args = ['--target-ratios', '0.2', '--methods', 'general,wanda'];
      const result = cusprun(
        'sweep',
        '--run',
        run,
        ...args,
        ...EVAL_ARGS,
        '--json',
        json,
        ...extra
      );
      expect(result.code).toBe(0);
      const record = JSON.parse(fs.readFileSync(json, 'utf8'));
      return { stdout: result.stdout, record };
    };
    const own = sweep();
    const other = sweep('--baseline-run', medical);
    expect(own.record.baselineRun).toBeUndefined();
    expect(other.record.baselineRun).toBe(medical);
    expect(other.stdout).toContain(
      `baselines calibrated on the documents of ${medical}\n`
    );
    expect(fs.existsSync(path.join(medical, 'baseline-scores', 'wanda'))).toBe(
      true
    );
    // The same per-layer counts, other units: other models, other perplexities.
    const points = (r: typeof own) =>
      r.record.points.map((p: { ratio: number; metrics: unknown }) => p);
    points(own).forEach((p: { ratio: number; metrics: unknown }, i: number) => {
      expect(points(other)[i].ratio).toBe(p.ratio);
      expect(points(other)[i].metrics).not.toEqual(p.metrics);
    });

    const otherModel = path.join(tmp, 'other-model-run');
    const qwen = path.join(FIXTURES, 'qwen2', 'torchscript');
    expect(
      cusprun('score', qwen, '--corpus', MEDICAL, '--run', otherModel).code
    ).toBe(0);
    const refused = cusprun(
      'sweep',
      '--run',
      run,
      '--sigma',
      '0.3',
      '--methods',
      'general',
      ...EVAL_ARGS,
      '--baseline-run',
      otherModel
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(
        `^cusprun: ${otherModel}: scored another model \\(.*qwen2.*\\) than ${run} \\(.*llama.*\\); the baselines calibrate on documents scored with the expert's model\n$`
      )
    );
  }, 60_000);
});

describe('cusprun ablate', () => {
  it('prints the 7 dimension subsets at one ratio, each with its σ, then general calibration, and draws the chart', () => {
    const charts = path.join(tmp, 'ablation-charts');
    const json = path.join(tmp, 'ablation.json');
    const csv = path.join(tmp, 'ablation.csv');
    const { code, stdout } = cusprun(
      'ablate',
      '--run',
      run,
      '--target-ratio',
      '0.1',
      ...EVAL_ARGS,
      '--charts',
      charts,
      '--json',
      json,
      '--csv',
      csv
    );
    expect(code).toBe(0);
    const rows = stdout
      .split('\n')
      .slice(2, 9)
      .map(l => l.split(/\s+/));
    expect(rows.map(r => r[0])).toEqual([
      'language',
      'domain',
      'task',
      'language+domain',
      'language+task',
      'domain+task',
      'language+domain+task'
    ]);
    for (const row of rows) {
      expect(row[1]).toMatch(/^0\.\d{4}$/);
      expect(row[2]).toMatch(/^\d+\.\d\d%$/);
    }
    // General calibration after the subsets, at the 3D expert's σ and ratio.
    const [, sigma3d, ratio3d] = rows[6];
    expect(stdout.split('\n')[9]).toMatch(
      new RegExp(`^general \\(3D counts\\)\\s+${sigma3d}\\s+${ratio3d}\\s+\\d`)
    );
    const record = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(record.rows).toHaveLength(7);
    expect(record.targetRatio).toBe(0.1);
    expect(record.general).toMatchObject({
      dimensions: ['language', 'domain', 'task'],
      sigma: record.rows[6].sigma,
      ratio: record.rows[6].ratio
    });
    expect(record.general.metrics).not.toEqual(record.rows[6].metrics);
    expect(record.baselineRun).toBeUndefined();
    expect(fs.readFileSync(csv, 'utf8')).toMatch(
      /^general \(3D counts\),[\d.]+,[\d.]+,qa,perplexity,/m
    );
    const svg = fs.readFileSync(path.join(charts, 'ablation.svg'), 'utf8');
    expect(svg).toContain('mark-rect');
    expect(svg).toContain('general calibration');
    // A sweep's general point at the same ratio is the same evaluation: it is in the cache.
    const sweep = cusprun(
      'sweep',
      '--run',
      run,
      '--target-ratios',
      '0.1',
      '--methods',
      'general',
      ...EVAL_ARGS
    );
    expect(sweep.code).toBe(0);
    expect(sweep.stderr).toMatch(/^\[1\] general at .*, from cache$/m);
  });

  it("calibrates the general row on another run's documents with --baseline-run", () => {
    const medical = medicalRun();
    const json = path.join(tmp, 'ablation-baseline.json');
    const ablate = (...extra: string[]) => {
      const result = cusprun(
        'ablate',
        '--run',
        run,
        '--target-ratio',
        '0.1',
        '--dims',
        'task',
        ...EVAL_ARGS,
        '--json',
        json,
        ...extra
      );
      expect(result.code).toBe(0);
      return {
        stdout: result.stdout,
        ...JSON.parse(fs.readFileSync(json, 'utf8'))
      };
    };
    const own = ablate();
    const other = ablate('--baseline-run', medical);
    expect(other.baselineRun).toBe(medical);
    expect(other.stdout).toContain(
      `baselines calibrated on the documents of ${medical}\n`
    );
    expect(other.stdout).toMatch(/^general \(1D counts\)\s/m);
    // The same counts, other units: other metrics; the subsets' rows are the run's own.
    expect(other.general.ratio).toBe(own.general.ratio);
    expect(other.general.metrics).not.toEqual(own.general.metrics);
    expect(other.rows[0].metrics).toEqual(own.rows[0].metrics);
  }, 60_000);

  it('says so when a subset cannot reach the ratio, and wants a ratio, not σ', () => {
    const { code, stdout } = cusprun(
      'ablate',
      '--run',
      run,
      '--target-ratio',
      '0.99',
      '--dims',
      'task',
      ...EVAL_ARGS
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^task\s+-\s+-\s+unreachable: the target ratio 99.00% cannot be reached/m
    );
    const sigma = cusprun(
      'ablate',
      '--run',
      run,
      '--sigma',
      '0.3',
      ...EVAL_ARGS
    );
    expect(sigma.code).toBe(2);
    expect(sigma.stderr).toMatch(
      /ablate solves σ per subset: give --target-ratio, not --sigma/
    );
  });

  it('--points I/N: the shards fill the cache with every evaluation once, and the whole ablation reads them', () => {
    const copy = path.join(tmp, 'points-run');
    fs.cpSync(run, copy, { recursive: true });
    const cache = path.join(copy, 'evaluations.jsonl');
    fs.rmSync(cache, { force: true }); // the ablations above filled the run's
    const ablate = (...args: string[]) =>
      cusprun(
        'ablate',
        '--run',
        copy,
        '--target-ratio',
        '0.1',
        '--dims',
        'language,task',
        ...EVAL_ARGS,
        ...args
      );
    // Dense (e 0) and language+task (e 3); language (e 1) and general (e 4); task (e 2).
    const made = [0, 1, 2].map(i => ablate('--points', `${i}/3`));
    expect(made.map(r => [r.code, r.stdout])).toEqual(
      [2, 2, 1].map((n, i) => [
        0,
        `ablation evaluations ${i}/3: ${n} in ${cache}\n`
      ])
    );
    // 5 evaluations on 2 sets: a line per evaluation and set, each once.
    const lines = fs.readFileSync(cache, 'utf8').trim().split('\n');
    expect(new Set(lines.map(l => JSON.parse(l).key)).size).toBe(5 * 2);
    expect(lines).toHaveLength(5 * 2);
    const json = path.join(tmp, 'points-ablation.json');
    const whole = ablate('--json', json);
    expect(whole.code).toBe(0);
    const record = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(record.rows).toHaveLength(3);
    expect(record.rows.every((r: { cached: boolean }) => r.cached)).toBe(true);
    expect(record.general.cached).toBe(true);
    expect(fs.readFileSync(cache, 'utf8').trim().split('\n')).toEqual(lines);
    const refused = ablate('--points', '0/3', '--json', json);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /--points keeps no record: --json, --csv and --charts go with the whole ablation/
    );
    expect(ablate('--points', '3/3').stderr).toMatch(
      /--points: takes I\/N, shard I of N counted from 0/
    );
  });
});
