/**
 * Graphs onnxruntime saved after its own optimiser, made here from the fixtures with
 * onnxruntime-node: its fused operators are refused in one line that says what to do, before
 * any count or prune; what its basic level saves is plain ONNX and maps, prunes and verifies as
 * the original does.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CusprunError } from '../../../core/errors';
import { OnnxModel } from '../../onnx/model';
import { ModelProto, NodeProto } from '../../onnx/proto';
import { verifyPruned, writePrunedModel } from '../../prune';
import {
  FixtureEntry,
  fixtureFile,
  fixtureManifest,
  reference
} from '../../__tests__/fixtures';
import { inspectModel, LayerMap } from '..';
import { onnxruntimeOperators } from '../onnxruntime-graph';
import { savedByOnnxruntime } from './onnxruntime-saved';

const fixtures = fixtureManifest();
const label = (f: FixtureEntry) => `${f.family}/${f.style}`;
const ADVICE =
  "export the model again without onnxruntime's offline optimisation (the exporter's own model.onnx, not a graph saved through an onnxruntime session's optimized model file path or by onnxruntime.transformers' optimizer)";

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-ort-saved-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function mapError(dir: string): CusprunError {
  try {
    inspectModel(dir);
  } catch (error) {
    expect(error).toBeInstanceOf(CusprunError);
    return error as CusprunError;
  }
  throw new Error(`${dir} mapped`);
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe("a graph saved after onnxruntime's extended optimisation", () => {
  const saved = fixtures.filter(f => f.style !== 'external');
  it.each(saved.map(f => [label(f), f] as const))(
    '%s is refused in one line that says what to do, by inspect and by prune alike',
    async (name, entry) => {
      const dir = await savedByOnnxruntime(
        entry,
        'extended',
        path.join(tmp, 'extended', name)
      );
      const file = path.join(dir, 'model.onnx');
      const error = mapError(dir);
      expect(error.code).toBe('unmappable');
      const fused =
        "uses onnxruntime's fused operators \\((.+)\\), which cusprun does not map or prune; ";
      const rewritten =
        'no decoder layers found: the graph has no attention \\(no Softmax\\); onnxruntime saved this graph after rewriting it, so ';
      expect(error.message).toMatch(
        new RegExp(
          `^${escape(file)}: (${fused}|${rewritten})${escape(ADVICE)}$`
        )
      );
      // The issue's cases: GPT-2's FFN bias folded into FastGelu, llama's RMSNorm fused, and
      // float16 on the CPU, where onnxruntime inlines Softmax into Exp and ReduceSum.
      const expected: Record<string, string> = {
        'gpt2/torchscript': 'com.microsoft.FastGelu',
        'llama/torchscript': 'SimplifiedLayerNormalization',
        'llama/fp16': 'no Softmax'
      };
      expect(error.message).toContain(expected[name] ?? '');
      const model = OnnxModel.load(dir);
      try {
        await expect(
          (async () =>
            writePrunedModel(model, { layers: [] }, path.join(tmp, 'out')))()
        ).rejects.toThrow(error.message);
      } finally {
        model.close();
      }
    }
  );

  it("names onnxruntime.transformers' fusions for llama and GPT-2 exports, not the standard operators", () => {
    const node = (op_type: string, domain?: string): NodeProto => ({
      op_type,
      domain,
      input: [],
      output: [],
      attribute: [],
      metadata_props: []
    });
    const ms = 'com.microsoft';
    const proto: ModelProto = {
      opset_import: [],
      metadata_props: [],
      functions: [],
      graph: {
        node: [
          node('MatMul'),
          node('SimplifiedLayerNormalization'),
          node('SkipSimplifiedLayerNormalization', ms),
          node('RotaryEmbedding', ms),
          node('GroupQueryAttention', ms),
          node('MultiHeadAttention', ms),
          node('Attention', ms),
          node('SkipLayerNormalization', ms),
          node('BiasGelu', ms),
          node('LayerNormalization', 'ai.onnx'),
          node('Softmax', ''),
          node('RotaryEmbedding', ms)
        ],
        initializer: [],
        input: [],
        output: [],
        value_info: []
      }
    };
    expect(onnxruntimeOperators(proto)).toEqual([
      'SimplifiedLayerNormalization',
      'com.microsoft.SkipSimplifiedLayerNormalization',
      'com.microsoft.RotaryEmbedding',
      'com.microsoft.GroupQueryAttention',
      'com.microsoft.MultiHeadAttention',
      'com.microsoft.Attention',
      'com.microsoft.SkipLayerNormalization',
      'com.microsoft.BiasGelu'
    ]);
  });
});

describe("a graph saved after onnxruntime's basic optimisation", () => {
  const units = (l: LayerMap) => ({
    ffn: [l.ffn.width, l.ffn.paramsPerUnit],
    attention: [l.attention.units, l.attention.paramsPerUnit]
  });
  const float32 = fixtures.filter(
    f => f.dtype === 'float32' && f.style !== 'external'
  );
  it.each(float32.map(f => [label(f), f] as const))(
    '%s maps as the original does, and its prune passes verification',
    async (name, entry) => {
      const dir = await savedByOnnxruntime(
        entry,
        'basic',
        path.join(tmp, 'basic', name)
      );
      const original = inspectModel(fixtureFile(entry));
      const map = inspectModel(dir);
      expect(map.blockers).toEqual([]);
      expect(map.prunableParams).toBe(original.prunableParams);
      expect(map.layers.map(units)).toEqual(original.layers.map(units));
      const plan = {
        layers: map.layers.map(l => ({
          index: l.index,
          ffn: [0, 2, 5],
          attention: l.attention.units > 1 && l.index === 0 ? [1] : []
        }))
      };
      const model = OnnxModel.load(dir);
      try {
        const out = await writePrunedModel(
          model,
          plan,
          path.join(tmp, 'basic-pruned', name)
        );
        const result = await verifyPruned(
          model,
          map,
          plan,
          out.file,
          reference(entry.family).sequences,
          { threads: 1 }
        );
        expect(result.ok).toBe(true);
      } finally {
        model.close();
      }
    }
  );
});
