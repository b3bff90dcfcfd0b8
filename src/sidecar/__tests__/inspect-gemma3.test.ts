/**
 * `cusprun inspect` on Gemma 3 as a user runs it (the built CLI): named gemma3 from config.json
 * or from the graph alone, and a layer whose attention is one KV group says it is kept whole.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fixtureFile, fixtureManifest } from '../../engine/__tests__/fixtures';
import { cusprun } from './cli-process';

const fixtures = fixtureManifest();
const folder = (family: string, style: string) =>
  path.dirname(
    fixtureFile(fixtures.find(f => f.family === family && f.style === style)!)
  );
const ONE_GROUP =
  /^attention: one KV group in every layer; a layer keeps at least one, so only FFN channels are pruned there$/m;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-inspect-gemma3-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A copy of a fixture's model.onnx, with config.json's model_type set or no config.json. */
function copyWith(source: string, modelType: string | undefined): string {
  const dir = fs.mkdtempSync(path.join(tmp, 'model-'));
  fs.copyFileSync(
    path.join(source, 'model.onnx'),
    path.join(dir, 'model.onnx')
  );
  if (modelType) {
    const config = JSON.parse(
      fs.readFileSync(path.join(source, 'config.json'), 'utf8')
    ) as Record<string, unknown>;
    fs.writeFileSync(
      path.join(dir, 'config.json'),
      JSON.stringify({ ...config, model_type: modelType })
    );
  }
  return dir;
}

describe('cusprun inspect on Gemma 3', () => {
  it('names the 270M-shaped export gemma3 from config.json and keeps its single KV group', () => {
    const { code, stdout } = cusprun(
      'inspect',
      folder('gemma3', 'torchscript')
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^family\s+gemma3 \(config.json model_type 'gemma3_text'\)$/m
    );
    expect(stdout).toMatch(
      /^shape\s+3 layers, hidden 24, vocab 256, tied embeddings: yes$/m
    );
    for (const layer of [0, 1, 2]) {
      expect(stdout).toMatch(
        new RegExp(
          `^${layer}\\s+mqa qk-norm\\s+4\\s+1\\s+10\\s+1\\s+.*gated gelu-tanh\\s+56\\s`,
          'm'
        )
      );
    }
    expect(stdout).toMatch(ONE_GROUP);
    expect(stdout).toMatch(/pruning: ready/);
  });

  it.each(['torchscript', 'dynamo', 'fp16'])(
    'names gemma3/%s gemma3 from the graph alone, and from model_type gemma3',
    style => {
      const source = folder('gemma3', style);
      const bare = cusprun('inspect', copyWith(source, undefined));
      expect(bare.code).toBe(0);
      expect(bare.stdout).toMatch(
        /^family\s+gemma3 \(from graph structure\)$/m
      );
      const multimodal = cusprun('inspect', copyWith(source, 'gemma3'));
      expect(multimodal.stdout).toMatch(
        /^family\s+gemma3 \(config.json model_type 'gemma3'\)$/m
      );
    }
  );

  it('prints no such note when every layer has groups to prune', () => {
    const { code, stdout } = cusprun('inspect', folder('gemma3-gqa', 'kv'));
    expect(code).toBe(0);
    expect(stdout).toMatch(/^family\s+gemma3 /m);
    expect(stdout).toMatch(/^0\s+gqa qk-norm\s+4\s+2\s+10\s+2\s/m);
    expect(stdout).not.toMatch(/^attention: /m);
  });
});
