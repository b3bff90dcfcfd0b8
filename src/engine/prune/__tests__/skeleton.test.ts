/**
 * Prune on a model's skeleton (onnx/skeleton.ts): large inline weights are read from the .onnx
 * file by byte position instead of being decoded with it. The pruned files must be the bytes
 * the whole-file decoder wrote (their sha256, recorded with it on these fixtures and this
 * plan), and neither the inline nor the external-data input changes by a byte.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mapModel } from '../../arch';
import { OnnxModel } from '../../onnx/model';
import { fixtureFile, fixtureManifest } from '../../__tests__/fixtures';
import { verifyPruned, writePrunedModel } from '..';

const fixtures = fixtureManifest();
const PLAN = {
  layers: [0, 1].map(index => ({ index, ffn: [0, 1, 2, 3], attention: [1] }))
};
/** model.onnx, then model.onnx_data when there is one, as the whole-file decoder wrote them. */
const WHOLE_FILE_SHA256: Record<string, string[]> = {
  torchscript: [
    '0398c5f231c3070d017e3e063796dd8b140ccee4da1d71bfbdadd8f77819628f'
  ],
  dynamo: ['f5845f6d231faa07fd4347abbda8caec6e53b689be0c4d7127514d9a8a98c6e8'],
  kv: ['917d0244e3f30a973f124d9a67f6b351e6080faea02c3b31df10eab9e62cb63f'],
  external: [
    '5015878e73366e52f365ed9168fb1a4107b35269da66c2d5d572f6380c3439ee',
    '05f5968ebd8a88dd2da03e2beef2dc89efe46111ac44ceeaef12dd9beec2846a'
  ]
};

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-skeleton-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const sha256 = (file: string) =>
  crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** The sha256 of a model file and of its external-data file, if any. */
const hashes = (file: string) =>
  [file, `${file}_data`].filter(f => fs.existsSync(f)).map(sha256);

describe('pruning a model loaded as a skeleton', () => {
  it.each(Object.keys(WHOLE_FILE_SHA256))(
    'llama/%s prunes to the same bytes, checked, and leaves its input untouched',
    async style => {
      const entry = fixtures.find(
        f => f.family === 'llama' && f.style === style
      )!;
      const source = fixtureFile(entry);
      const model = OnnxModel.load(source);
      const inputs = [source, ...model.externalDataFiles()];
      const before = inputs.map(sha256);
      try {
        const written = await writePrunedModel(
          model,
          PLAN,
          path.join(tmp, style)
        );
        expect(hashes(written.file)).toEqual(WHOLE_FILE_SHA256[style]);
        const comparison = await verifyPruned(
          model,
          mapModel(model),
          PLAN,
          written.file,
          [[1, 2, 3, 4, 5]]
        );
        expect(comparison.ok).toBe(true);
      } finally {
        model.close();
      }
      expect(inputs.map(sha256)).toEqual(before);
    }
  );
});
