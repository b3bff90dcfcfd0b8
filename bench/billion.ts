/**
 * The whole pipeline on a billion-parameter model on this machine (issue 16): a random-init
 * model with Llama-3.2-1B's shapes (bench/llama-onnx.ts, weights streamed into external data,
 * made once into --dir if absent; the fixture byte-level tokenizer beside it) goes through
 * `cusprun inspect`, `score` (4 documents per dimension of at most 32 tokens), `plan`
 * (--target-ratio 0.25), `prune` and `verify`, each in its own process under /usr/bin/time -v;
 * `write` is prune's write alone (the engine's writePrunedModel with the same plan, no check),
 * `prune` the CLI's prune, which also checks the result against the zeroed original as
 * `verify` does. Prints, per step, the wall time and the peak RSS against the weights' bytes.
 * A step whose RSS passes --max-rss-gb is killed (the machine is shared), and the table says so.
 *
 *   node dist-bench/bench/billion.js [--dir /tmp/billion] [--layers 16] [--max-rss-gb 14]
 *
 * --layers N keeps Llama-3.2-1B's widths and vocabulary with fewer layers. The CLI is run from
 * dist/ (npm run build:node).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ExpertPlan, unitPlanOf } from '../src/core/select/expert';
import { OnnxModel } from '../src/engine/onnx';
import { writePrunedModel } from '../src/engine/prune';
import { LLAMA32_1B_CONFIG, writeLlamaModelExternal } from './llama-onnx';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'sidecar', 'cli.js');
const FIXTURES = path.join(ROOT, 'fixtures');
const GIB = 1024 ** 3;

interface Step {
  step: string;
  args: string[];
  /** The script to run (default: the CLI). */
  script?: string;
  /** Where its stdout goes, if kept. */
  stdout?: string;
}

interface Measured {
  step: string;
  wallS: number;
  peakRss: number;
  /** Why the step did not finish, if it did not. */
  failed?: string;
  lastLine: string;
}

/** The model folder for `layers` layers, generated (with its tokenizer) when absent. */
function ensureModel(dir: string, layers: number): string {
  const folder = path.join(dir, `llama32-1b-shapes-${layers}l`);
  const file = path.join(folder, 'model.onnx');
  if (!fs.existsSync(file)) {
    const started = performance.now();
    writeLlamaModelExternal(folder, { ...LLAMA32_1B_CONFIG, layers });
    const seconds = (performance.now() - started) / 1000;
    console.log(`generated ${file} in ${seconds.toFixed(0)} s`);
  }
  for (const name of ['tokenizer.json', 'tokenizer_config.json']) {
    fs.copyFileSync(
      path.join(FIXTURES, 'tokenizer', name),
      path.join(folder, name)
    );
  }
  return folder;
}

/** A 3-dimension manifest over the fixture corpora: 4 documents each, ≤ 32 tokens. */
function writeManifest(dir: string): string {
  const corpora = path.join(FIXTURES, 'corpora');
  const file = path.join(dir, 'corpus.json');
  const manifest = {
    dimensions: {
      language: {
        name: 'de',
        sources: [path.join(corpora, 'language', 'de.txt')],
        format: 'lines'
      },
      domain: {
        name: 'legal',
        sources: [path.join(corpora, 'domain', 'legal.txt')],
        format: 'blocks'
      },
      task: {
        name: 'qa',
        sources: [path.join(corpora, 'task', 'qa.jsonl')],
        textField: 'text'
      }
    },
    truncation: 32,
    seed: 0,
    documents: 4
  };
  fs.writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
  return file;
}

/** The processes `pid` started (the CLI under /usr/bin/time). */
function childrenOf(pid: number): string[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** VmRSS in bytes of the processes `pid` started. */
function childrenRss(pid: number): number {
  try {
    return childrenOf(pid).reduce((sum, child) => {
      const status = fs.readFileSync(`/proc/${child}/status`, 'utf8');
      const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
      return sum + Number(kb ?? 0) * 1024;
    }, 0);
  } catch {
    return 0;
  }
}

/** Runs the CLI with `args` under /usr/bin/time -v, killed past `maxRss` bytes. */
function measure(step: Step, maxRss: number): Promise<Measured> {
  const started = performance.now();
  const child = spawn(
    '/usr/bin/time',
    ['-v', process.execPath, step.script ?? CLI, ...step.args],
    {
      stdio: ['ignore', 'pipe', 'pipe']
    }
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let killed: string | undefined;
  const watch = setInterval(() => {
    const rss = childrenRss(child.pid ?? 0);
    if (rss > maxRss && !killed) {
      killed = `killed at ${(rss / GIB).toFixed(1)} GiB RSS`;
      childrenOf(child.pid ?? 0).forEach(p =>
        process.kill(Number(p), 'SIGKILL')
      );
    }
  }, 250);
  return new Promise(resolve => {
    child.on('close', code => {
      clearInterval(watch);
      const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(
        stderr
      )?.[1];
      if (step.stdout) {
        fs.writeFileSync(step.stdout, stdout);
      }
      const lines = stdout.trim().split('\n');
      const failed =
        killed ??
        (code === 0 ? undefined : `exit ${code}: ${lastError(stderr)}`);
      resolve({
        step: step.step,
        wallS: (performance.now() - started) / 1000,
        peakRss: Number(kb ?? 0) * 1024,
        failed,
        lastLine: lines[lines.length - 1] ?? ''
      });
    });
  });
}

function lastError(stderr: string): string {
  const lines = stderr.split('\n').filter(l => l && !/^\s/.test(l));
  return lines.filter(l => !l.startsWith('Command ')).slice(-1)[0] ?? '';
}

function weightBytes(file: string): number {
  const model = OnnxModel.load(file);
  const bytes = model.graph.initializer.reduce(
    (n, t) => n + model.byteLength(t),
    0
  );
  model.close();
  return bytes;
}

function pipeline(folder: string, manifest: string, work: string): Step[] {
  const run = path.join(work, 'run');
  const out = path.join(work, 'expert');
  const written = path.join(work, 'written');
  const plan = path.join(work, 'plan.json');
  for (const old of [run, out, written]) {
    fs.rmSync(old, { recursive: true, force: true });
  }
  const target = ['--target-ratio', '0.25'];
  const model = path.join(folder, 'model.onnx');
  return [
    { step: 'inspect', args: ['inspect', folder] },
    {
      step: 'score',
      args: ['score', folder, '--corpus', manifest, '--run', run]
    },
    {
      step: 'plan',
      args: ['plan', '--run', run, ...target, '--json'],
      stdout: plan
    },
    {
      step: 'write',
      script: __filename,
      args: ['--write-only', plan, '--model', model, '--out', written]
    },
    {
      step: 'prune',
      args: ['prune', '--run', run, ...target, '--out', out]
    },
    { step: 'verify', args: ['verify', out] }
  ];
}

/** prune's write alone (the engine's writePrunedModel, no check), for the table's `write`. */
async function writeOnly(planFile: string, model: string, out: string) {
  const source = OnnxModel.load(model);
  const plan = JSON.parse(fs.readFileSync(planFile, 'utf8')) as ExpertPlan;
  const written = await writePrunedModel(source, unitPlanOf(plan), out);
  source.close();
  console.log(`wrote ${written.file} (${written.bytesAfter} bytes)`);
}

function row(cells: string[]): string {
  const widths = [10, 10, 12, 14];
  return cells
    .map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i])))
    .join('  ');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string', default: '/tmp/billion' },
      layers: { type: 'string', default: String(LLAMA32_1B_CONFIG.layers) },
      'max-rss-gb': { type: 'string', default: '14' },
      'write-only': { type: 'string' },
      model: { type: 'string' },
      out: { type: 'string' }
    }
  });
  if (values['write-only']) {
    return writeOnly(
      values['write-only'],
      values.model ?? '',
      values.out ?? ''
    );
  }
  const layers = Number(values.layers);
  const maxRss = Number(values['max-rss-gb']) * GIB;
  fs.mkdirSync(values.dir, { recursive: true });
  const folder = ensureModel(values.dir, layers);
  const weights = weightBytes(path.join(folder, 'model.onnx'));
  const manifest = writeManifest(values.dir);
  const work = path.join(values.dir, `work-${layers}l`);
  fs.mkdirSync(work, { recursive: true });
  const measured: Measured[] = [];
  for (const step of pipeline(folder, manifest, work)) {
    const result = await measure(step, maxRss);
    measured.push(result);
    console.error(`${step.step}: ${result.failed ?? result.lastLine}`);
    if (result.failed) {
      break;
    }
  }
  report(layers, weights, measured);
}

function report(layers: number, weights: number, measured: Measured[]): void {
  const c = LLAMA32_1B_CONFIG;
  console.log(
    `Llama-3.2-1B shapes, ${layers} of ${c.layers} layers: hidden ${c.hidden}, FFN ${c.ffn}, ` +
      `${c.heads} heads / ${c.kvHeads} KV heads (head size ${c.hidden / c.heads}), vocab ` +
      `${c.vocab.toLocaleString('en')}, tied; weights ${(weights / GIB).toFixed(2)} GiB ` +
      `(${(weights / 1e9).toFixed(2)} GB) float32 in external data`
  );
  console.log(row(['step', 'wall', 'peak RSS', 'RSS ÷ weights']));
  for (const m of measured) {
    console.log(
      row([
        m.step,
        `${m.wallS.toFixed(1)} s`,
        `${(m.peakRss / GIB).toFixed(2)} GiB`,
        (m.peakRss / weights).toFixed(3)
      ]) + (m.failed ? `  (${m.failed})` : '')
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
