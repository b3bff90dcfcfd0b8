/**
 * Peak memory of reading and rewriting a model whose weights live in an external-data file,
 * against the size of those weights and against a naive copy that reads the data file whole,
 * both measured in this run. Each measurement runs in a fresh Node process.
 *
 *   node dist-bench/bench/external-data.js [--megabytes 256]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import {
  DataType,
  encodeModel,
  externalTensor,
  GraphProto,
  OnnxModel,
  TensorProto,
  ValueInfoProto
} from '../src/engine/onnx';

const WIDTH = 1024;

/** A chain of MatMuls whose weights ([WIDTH, WIDTH] fp32, 4 MiB each) fill `megabytes`. */
function writeSyntheticModel(dir: string, megabytes: number): number {
  const layers = Math.max(
    1,
    Math.round((megabytes * 2 ** 20) / (WIDTH * WIDTH * 4))
  );
  const dataFile = path.join(dir, 'model.onnx_data');
  const fd = fs.openSync(dataFile, 'w');
  const row = new Float32Array(WIDTH * 64);
  const initializer: TensorProto[] = [];
  let offset = 0;
  for (let l = 0; l < layers; l++) {
    const length = WIDTH * WIDTH * 4;
    for (let written = 0; written < length; written += row.byteLength) {
      for (let i = 0; i < row.length; i++) {
        row[i] = Math.sin(l * 31 + written + i) * 0.02;
      }
      fs.writeSync(
        fd,
        new Uint8Array(row.buffer),
        0,
        row.byteLength,
        offset + written
      );
    }
    initializer.push(
      externalTensor(`w${l}`, DataType.FLOAT, [WIDTH, WIDTH], {
        location: 'model.onnx_data',
        offset,
        length
      })
    );
    offset += length;
  }
  fs.closeSync(fd);
  const value = (name: string): ValueInfoProto => ({
    name,
    type: {
      tensor_type: {
        elem_type: 1,
        shape: { dim: [{ dim_value: 1n }, { dim_value: BigInt(WIDTH) }] }
      }
    }
  });
  const graph: GraphProto = {
    name: 'chain',
    node: initializer.map((w, l) => ({
      op_type: 'MatMul',
      name: `matmul${l}`,
      input: [l === 0 ? 'x' : `h${l - 1}`, w.name as string],
      output: [l === layers - 1 ? 'y' : `h${l}`],
      attribute: [],
      metadata_props: []
    })),
    initializer,
    input: [value('x')],
    output: [value('y')],
    value_info: []
  };
  fs.writeFileSync(
    path.join(dir, 'model.onnx'),
    encodeModel({
      ir_version: 8n,
      opset_import: [{ domain: '', version: 17n }],
      graph,
      metadata_props: [],
      functions: []
    })
  );
  return offset;
}

type Task = 'idle' | 'engine' | 'naive';

/** Runs inside the child: does the task and prints its peak RSS in bytes. */
function child(task: Task, source: string, target: string): void {
  if (task === 'engine') {
    const model = OnnxModel.load(source);
    model.save(path.join(target, 'model.onnx'));
    model.close();
  } else if (task === 'naive') {
    fs.mkdirSync(target, { recursive: true });
    fs.copyFileSync(
      path.join(source, 'model.onnx'),
      path.join(target, 'model.onnx')
    );
    const data = fs.readFileSync(path.join(source, 'model.onnx_data'));
    fs.writeFileSync(path.join(target, 'model.onnx_data'), data);
  }
  process.stdout.write(`${process.resourceUsage().maxRSS * 1024}\n`);
}

function measure(task: Task, source: string, target: string): number {
  const result = spawnSync(
    process.execPath,
    [__filename, '--child', task, source, target],
    { encoding: 'utf8' }
  );
  if (result.status !== 0) {
    throw new Error(`${task} run failed: ${result.stderr}`);
  }
  return Number(result.stdout.trim());
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      child: { type: 'string' },
      megabytes: { type: 'string', default: '256' }
    }
  });
  if (values.child) {
    child(values.child as Task, positionals[0], positionals[1]);
    return;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-bench-'));
  try {
    const source = path.join(work, 'source');
    fs.mkdirSync(source);
    const weights = writeSyntheticModel(source, Number(values.megabytes));
    const idle = measure('idle', source, path.join(work, 'idle'));
    const engine = measure('engine', source, path.join(work, 'engine'));
    const naive = measure('naive', source, path.join(work, 'naive'));
    const rewritten = OnnxModel.load(path.join(work, 'engine'));
    const intact =
      rewritten.externalDataFiles().length === 1 &&
      rewritten.graph.initializer.length > 0;
    rewritten.close();
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    const results = {
      weightsBytes: weights,
      idleNodePeakRss: idle,
      enginePeakRss: engine,
      naivePeakRss: naive,
      engineOverIdle: engine - idle,
      ratioEngineToWeights: engine / weights,
      ratioEngineToNaive: engine / naive,
      ratioEngineAboveIdleToWeights: (engine - idle) / weights,
      rewrittenModelLoads: intact
    };
    console.log(`external-data read + rewrite of ${mib(weights)} of weights`);
    console.log(`  peak RSS, empty Node process      ${mib(idle)}`);
    console.log(`  peak RSS, cusprun engine rewrite  ${mib(engine)}`);
    console.log(`  peak RSS, naive whole-file copy   ${mib(naive)}`);
    console.log(
      `  engine / weights                  ${results.ratioEngineToWeights.toFixed(3)}`
    );
    console.log(
      `  (engine - empty Node) / weights   ${results.ratioEngineAboveIdleToWeights.toFixed(3)}`
    );
    console.log(
      `  engine / naive                    ${results.ratioEngineToNaive.toFixed(3)}`
    );
    const out = path.resolve(__dirname, '../../bench/out');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(
      path.join(out, 'external-data.json'),
      `${JSON.stringify(results, null, 2)}\n`
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main();
