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
  it('writes the model with external data, the tokenizer files and an updated config', async () => {
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
      const written = await writePrunedModel(model, plan, out);
      expect(written.bytesAfter).toBeLessThan(written.bytesBefore);
      expect(written.removedParams).toBeGreaterThan(0);
    } finally {
      model.close();
    }
    expect(fs.readdirSync(out).sort()).toEqual(
      [
        '.cusprun-outputs.json',
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

  it('keeps the standard fields when widths differ per layer, and lists them', async () => {
    const model = OnnxModel.load(fixture('qwen2', 'torchscript'));
    const out = path.join(tmp, 'qwen2-uneven');
    try {
      await writePrunedModel(
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

  it('replaces only a folder it wrote, and only when told to; never the input folder', async () => {
    const source = fixture('gpt2', 'torchscript');
    const model = OnnxModel.load(source);
    const out = path.join(tmp, 'occupied');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'notes.txt'), 'keep me');
    const plan = { layers: [{ index: 0, ffn: [1], attention: [] }] };
    const input = path.dirname(source);
    try {
      await expect(
        writePrunedModel(model, plan, out, { guard: { overwrite: true } })
      ).rejects.toThrow(
        `${out}: holds files cusprun did not write (notes.txt); choose a new folder`
      );
      expect(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe(
        'keep me'
      );
      await expect(
        writePrunedModel(model, plan, input, { guard: { overwrite: true } })
      ).rejects.toThrow(`${input}: holds the input model (model.onnx)`);
      const mine = path.join(tmp, 'mine');
      await writePrunedModel(model, plan, mine);
      await expect(writePrunedModel(model, plan, mine)).rejects.toThrow(
        'holds an earlier output of cusprun; allow overwriting (--overwrite) to replace it'
      );
      await writePrunedModel(model, plan, mine, { guard: { overwrite: true } });
      expect(inspectModel(mine).layers[0].ffn.width).toBe(79);
    } finally {
      model.close();
    }
    expect(fs.readdirSync(tmp).filter(f => f.includes('.cusprun-'))).toEqual(
      []
    );
  });

  it('leaves nothing behind when the staged folder is refused', async () => {
    const model = OnnxModel.load(fixture('llama', 'external'));
    const out = path.join(tmp, 'refused');
    try {
      await expect(
        writePrunedModel(
          model,
          { layers: [{ index: 0, ffn: [1], attention: [] }] },
          out,
          {
            finish: async () => {
              throw new Error('the check failed');
            }
          }
        )
      ).rejects.toThrow('the check failed');
    } finally {
      model.close();
    }
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(tmp).filter(f => f.includes('.cusprun-'))).toEqual(
      []
    );
  });
});
