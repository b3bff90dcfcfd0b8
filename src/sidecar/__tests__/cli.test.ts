/**
 * The `cusprun` CLI as a user runs it: a real process on the built CLI (`npm run build:node`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  fixtureFile,
  fixtureManifest,
  tinyModel
} from '../../engine/__tests__/fixtures';
import { cusprun } from './cli-process';

const fixtures = fixtureManifest();
const fixture = (family: string, style: string) =>
  fixtureFile(fixtures.find(f => f.family === family && f.style === style)!);

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-cli-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('cusprun inspect', () => {
  it('prints the model map as a table', () => {
    const { code, stdout } = cusprun(
      'inspect',
      path.dirname(fixture('qwen2', 'torchscript'))
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^family\s+qwen2 \(config.json model_type 'qwen2'\)$/m
    );
    expect(stdout).toMatch(/^layer\s+attention\s+heads\s+kv\s+head/m);
    expect(stdout).toMatch(/^0\s+gqa bias\s+4\s+2\s+8\s+2\s+/m);
    expect(stdout).toMatch(/pruning: ready/);
  });

  it('prints the documented JSON fields with --json', () => {
    const entry = fixtures.find(f => f.family === 'gemma' && f.style === 'kv')!;
    const { code, stdout } = cusprun('inspect', fixtureFile(entry), '--json');
    expect(code).toBe(0);
    const map = JSON.parse(stdout);
    expect(map.schemaVersion).toBe(1);
    expect(map.family).toBe('gemma');
    expect(typeof map.prunableParams).toBe('number');
    expect(map.layers).toHaveLength(entry.layers);
    for (const layer of map.layers) {
      expect(layer).toMatchObject({
        index: expect.any(Number),
        ffn: { width: entry.ffnWidth },
        attention: {
          heads: entry.heads,
          kvHeads: entry.kvHeads,
          headSize: entry.headSize
        }
      });
    }
    expect(map.inputs.map((i: { name: string }) => i.name)).toContain(
      'past_key_values.0.key'
    );
  });
});

describe('bad input gets one clear line, exit 1, no stack trace', () => {
  const expectOneLine = (
    result: ReturnType<typeof cusprun>,
    ...fragments: (string | RegExp)[]
  ) => {
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^cusprun: /);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    for (const fragment of fragments) {
      expect(lines[0]).toMatch(fragment);
    }
  };

  it('a truncated model file', () => {
    const file = path.join(tmp, 'truncated.onnx');
    const bytes = fs.readFileSync(fixture('llama', 'torchscript'));
    fs.writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    expectOneLine(cusprun('inspect', file), file, /truncated/);
  });

  it('a file that is not ONNX', () => {
    const file = path.join(tmp, 'notes.onnx');
    fs.writeFileSync(file, 'these are my notes, not a model\n');
    expectOneLine(cusprun('inspect', file), file, /not an ONNX model/);
  });

  it('a graph with no decoder layers', () => {
    const file = path.join(tmp, 'add.onnx');
    fs.writeFileSync(
      file,
      tinyModel([{ op: 'Add', inputs: ['x', 'x'], output: 'y' }], {
        inputs: ['x'],
        outputs: ['y'],
        elemType: 1
      })
    );
    expectOneLine(cusprun('inspect', file), file, /no decoder layers found/);
  });

  it('a missing external-data file', () => {
    const dir = path.join(tmp, 'no-data');
    fs.mkdirSync(dir);
    fs.copyFileSync(fixture('llama', 'external'), path.join(dir, 'model.onnx'));
    expectOneLine(
      cusprun('inspect', dir),
      path.join(dir, 'model.onnx'),
      /external-data file 'model.onnx_data'.*missing/
    );
  });

  it('a short external-data file', () => {
    const dir = path.join(tmp, 'short-data');
    fs.mkdirSync(dir);
    const source = fixture('llama', 'external');
    fs.copyFileSync(source, path.join(dir, 'model.onnx'));
    const data = fs.readFileSync(`${source}_data`);
    fs.writeFileSync(
      path.join(dir, 'model.onnx_data'),
      data.subarray(0, data.length - 100)
    );
    expectOneLine(
      cusprun('inspect', dir),
      path.join(dir, 'model.onnx_data'),
      /truncated/
    );
  });

  it('a folder with no model', () => {
    const dir = path.join(tmp, 'empty');
    fs.mkdirSync(dir);
    expectOneLine(cusprun('inspect', dir), dir, /no model.onnx/);
  });

  it('a path that does not exist', () => {
    expectOneLine(
      cusprun('inspect', path.join(tmp, 'nowhere')),
      /no such file or folder/
    );
  });
});

describe('cusprun inspect --corpus', () => {
  const corpora = path.resolve(__dirname, '../../../fixtures/corpora');

  it("lists the files a manifest's sources resolve to, folders expanded", () => {
    // A folder entry and an absolute entry: what a script must ship to read the manifest elsewhere.
    const manifest = path.join(tmp, 'listed.json');
    const dimensions = {
      domain: {
        sources: [path.join(corpora, 'domain/medical')],
        format: 'blocks'
      },
      task: {
        sources: [path.relative(tmp, path.join(corpora, 'task/qa.jsonl'))]
      }
    };
    fs.writeFileSync(manifest, JSON.stringify({ dimensions }));
    const { code, stdout } = cusprun('inspect', '--corpus', manifest, '--json');
    expect(code).toBe(0);
    const read = JSON.parse(stdout);
    expect(read).toMatchObject({ file: manifest, dir: tmp, truncation: 256 });
    const medical = fs
      .readdirSync(path.join(corpora, 'domain/medical'))
      .filter(name => /\.(txt|jsonl)$/.test(name))
      .sort();
    expect(
      read.dimensions[0].files.map((f: { file: string }) => f.file)
    ).toEqual(medical.map(name => path.join(corpora, 'domain/medical', name)));
    expect(read.dimensions[1].files).toEqual([
      {
        file: path.join(corpora, 'task/qa.jsonl'),
        relative: path.relative(tmp, path.join(corpora, 'task/qa.jsonl')),
        field: 'dimensions.task.sources[0]'
      }
    ]);
  });

  it('a missing source is the manifest error, in one line', () => {
    const manifest = path.join(tmp, 'missing.yaml');
    fs.writeFileSync(
      manifest,
      'dimensions:\n  task:\n    sources: [gone.jsonl]\n'
    );
    const { code, stdout, stderr } = cusprun('inspect', '--corpus', manifest);
    expect([code, stdout]).toEqual([1, '']);
    expect(stderr).toBe(
      `cusprun: ${manifest}: dimensions.task.sources[0]: no such file or folder 'gone.jsonl'\n`
    );
  });
});

describe('usage', () => {
  it('names an unknown command and exits 2', () => {
    const { code, stderr } = cusprun('prnue');
    expect(code).toBe(2);
    expect(stderr).toBe(
      "cusprun: prnue: unknown command; see 'cusprun --help'\n"
    );
  });

  it('prints the version', () => {
    const { code, stdout } = cusprun('--version');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^cusprun \d+\.\d+\.\d+/);
  });
});
