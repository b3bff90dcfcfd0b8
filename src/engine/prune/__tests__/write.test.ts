import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspectModel } from '../../arch';
import { OnnxModel } from '../../onnx/model';
import { fixtureFile, fixtureManifest } from '../../__tests__/fixtures';
import { writePrunedModel } from '..';

const fixtures = fixtureManifest();
const fixture = (family: string, style: string) =>
  fixtureFile(fixtures.find(f => f.family === family && f.style === style)!);

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-write-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('writing a pruned model folder', () => {
  it('writes the model with external data, the tokenizer files and an updated config', () => {
    const source = fixture('llama', 'external');
    const model = OnnxModel.load(source);
    const out = path.join(tmp, 'llama-expert');
    const plan = {
      layers: [0, 1].map(index => ({
        index,
        ffn: [0, 1, 2, 3],
        attention: [1]
      }))
    };
    try {
      const written = writePrunedModel(model, plan, out);
      expect(written.bytesAfter).toBeLessThan(written.bytesBefore);
      expect(written.removedParams).toBeGreaterThan(0);
    } finally {
      model.close();
    }
    expect(fs.readdirSync(out).sort()).toEqual(
      [
        'config.json',
        'model.onnx',
        'model.onnx_data',
        ...fs
          .readdirSync(path.dirname(source))
          .filter(f => f.startsWith('tokenizer'))
      ].sort()
    );
    const config = JSON.parse(
      fs.readFileSync(path.join(out, 'config.json'), 'utf8')
    );
    const before = JSON.parse(
      fs.readFileSync(path.join(path.dirname(source), 'config.json'), 'utf8')
    );
    expect(config.intermediate_size).toBe(before.intermediate_size - 4);
    expect(config.num_key_value_heads).toBe(before.num_key_value_heads - 1);
    expect(config.cusprun.uniformWidths).toBe(true);
    expect(inspectModel(out).layers[1].ffn.width).toBe(
      before.intermediate_size - 4
    );
  });

  it('keeps the standard fields when widths differ per layer, and lists them', () => {
    const model = OnnxModel.load(fixture('qwen2', 'torchscript'));
    const out = path.join(tmp, 'qwen2-uneven');
    try {
      writePrunedModel(
        model,
        { layers: [{ index: 0, ffn: [5], attention: [] }] },
        out
      );
    } finally {
      model.close();
    }
    const config = JSON.parse(
      fs.readFileSync(path.join(out, 'config.json'), 'utf8')
    );
    expect(config.intermediate_size).toBe(72);
    expect(config.cusprun.uniformWidths).toBe(false);
    expect(
      config.cusprun.layers.map((l: { ffnWidth: number }) => l.ffnWidth)
    ).toEqual([71, 72]);
  });

  it('refuses to write into a non-empty folder unless told to, and never into the input folder', () => {
    const source = fixture('gpt2', 'torchscript');
    const model = OnnxModel.load(source);
    const out = path.join(tmp, 'occupied');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'notes.txt'), 'keep me');
    const plan = { layers: [{ index: 0, ffn: [1], attention: [] }] };
    try {
      expect(() => writePrunedModel(model, plan, out)).toThrow(
        /already exists and is not empty/
      );
      expect(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe(
        'keep me'
      );
      expect(() =>
        writePrunedModel(model, plan, path.dirname(source), { overwrite: true })
      ).toThrow(/the input model's own folder/);
      writePrunedModel(model, plan, out, { overwrite: true });
    } finally {
      model.close();
    }
    expect(fs.existsSync(path.join(out, 'notes.txt'))).toBe(false);
    expect(inspectModel(out).layers[0].ffn.width).toBe(79);
    expect(fs.readdirSync(tmp).filter(f => f.includes('.tmp-'))).toEqual([]);
  });
});
