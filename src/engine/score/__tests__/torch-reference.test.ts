/**
 * Relevance scores against torch: make_fixtures.py computed method.md's scores from the Hugging
 * Face modules of each generating model (float64, from the inputs of the o and down
 * projections), with no ONNX graph in between. Every fixture export must give the same ones.
 */
import * as path from 'node:path';
import { mapModel } from '../../arch/map';
import {
  fixtureFile,
  fixtureManifest,
  reference
} from '../../__tests__/fixtures';
import { OnnxModel } from '../../onnx/model';
import { openScoreStore, scoreDocuments } from '..';
import { removeDir, tempDir } from './helpers';

const fixtures = fixtureManifest();

/**
 * Largest |engine − torch| relative to the layer part's largest torch score. float32: the
 * rounding of float32 sums of a few hundred terms (measured ≤ 6e-7 on these fixtures). float16:
 * the export rounds every activation to float16 (2^-11 relative) where torch's model is
 * float32 (measured ≤ 1.7e-3). A wrong channel, head or group is off by the score itself.
 */
const TOLERANCE = { float32: 1e-5, float16: 5e-3 };

describe('relevance scores equal those torch computes from the generating model', () => {
  it.each(fixtures.map(f => [`${f.family}/${f.style}`, f] as const))(
    '%s',
    async (_name, entry) => {
      const dir = tempDir('torch-reference');
      const model = OnnxModel.load(fixtureFile(entry));
      try {
        const map = mapModel(model);
        const { sequences, torch } = reference(entry.family);
        const store = openScoreStore(path.join(dir, 'store'), model, map);
        await scoreDocuments(
          model,
          map,
          [{ id: 'doc', tokens: sequences[torch.scoredSequence] }],
          store,
          { threads: 1 }
        );
        const scores = store.scores('doc');
        store.close();
        expect(scores).toHaveLength(2 * torch.scores.length);
        let worst = 0;
        for (const part of scores) {
          const want = torch.scores[part.layer][part.kind];
          expect(part.scores).toHaveLength(want.length);
          const scale = Math.max(...want);
          part.scores.forEach((v, k) => {
            worst = Math.max(worst, Math.abs(v - want[k]) / scale);
          });
        }
        expect(worst).toBeLessThanOrEqual(TOLERANCE[entry.dtype]);
      } finally {
        model.close();
        removeDir(dir);
      }
    }
  );
});
