/**
 * What compensation must equal, built without its code: the original model with the inputs of
 * chosen projections replaced before them, h' = h·keep + h·mix + fill (keep 0 on the removed
 * channels; mix, [n × n], predicts them from the others; fill their constants), and the
 * activations those inputs take on documents, fetched from the model itself.
 */
import * as path from 'node:path';
import { ModelSession } from '../../capture/runtime';
import { LinearRef, ModelMap } from '../../../core/model/model-map';
import { UnitPlan } from '../../../core/model/unit-plan';
import { float32ToBytes } from '../../onnx/dtype';
import { inlineTensor } from '../../onnx/edit';
import { OnnxModel } from '../../onnx/model';
import { GraphProto, ModelProto, NodeProto } from '../../onnx/proto';
import { compareLogits, LogitComparison, modelLogits } from '..';
import {
  FixtureEntry,
  feedsFor,
  fixtureManifest,
  reference
} from '../../__tests__/fixtures';
import {
  elemTypeOf,
  floats,
  withExtraOutputs
} from '../../score/__tests__/helpers';

export const label = (f: FixtureEntry) => `${f.family}/${f.style}`;

/** Every family's torchscript and fp16 exports, and one of each other style. */
export const chosenFixtures = fixtureManifest().filter(
  f =>
    f.style === 'torchscript' ||
    f.style === 'fp16' ||
    ['llama/kv', 'phi3/dynamo', 'qwen3/external', 'gpt2/kv'].includes(label(f))
);

export function nodeOf(graph: GraphProto, label: string): NodeProto {
  const byIndex = /^#(\d+)$/.exec(label);
  const node = byIndex
    ? graph.node[Number(byIndex[1])]
    : graph.node.find(n => n.name === label);
  expect(node).toBeDefined();
  return node!;
}

/** Every third FFN channel of each layer, and the last attention group of layer 0. */
export function planFor(map: ModelMap): UnitPlan {
  return {
    layers: map.layers.map(layer => ({
      index: layer.index,
      ffn: Array.from({ length: layer.ffn.width }, (_, k) => k).filter(
        k => k % 3 === layer.index % 3
      ),
      attention:
        layer.attention.units > 1 && layer.index === 0
          ? [layer.attention.units - 1]
          : []
    }))
  };
}

/** Two documents of different lengths: a statistics pass pads one of them. */
export function documentsOf(entry: FixtureEntry): number[][] {
  const [a, b] = reference(entry.family).sequences;
  return [a, b.slice(0, Math.max(2, b.length - 3))];
}

/** The removed input channels of each layer's down and o projection under `plan`. */
export function removedInputs(
  map: ModelMap,
  plan: UnitPlan
): {
  layer: number;
  kind: 'ffn' | 'attention';
  ref: LinearRef;
  channels: number[];
}[] {
  return map.layers.flatMap((layer, i) => {
    const cuts = plan.layers[i];
    const width = layer.attention.groupSize * layer.attention.headSize;
    return [
      {
        layer: i,
        kind: 'ffn' as const,
        ref: layer.ffn.down,
        channels: cuts.ffn
      },
      {
        layer: i,
        kind: 'attention' as const,
        ref: layer.attention.o,
        channels: cuts.attention.flatMap(j =>
          Array.from({ length: width }, (_, c) => j * width + c)
        )
      }
    ].filter(p => p.channels.length > 0);
  });
}

/** Each projection's input rows ([tokens × in] per document, concatenated) on `documents`. */
export async function fetchedInputs(
  entry: FixtureEntry,
  model: OnnxModel,
  refs: LinearRef[],
  documents: number[][],
  dir: string
): Promise<Float64Array[]> {
  const values = refs.map(r => nodeOf(model.graph, r.node).input[0]);
  const file = path.join(dir, 'model.onnx');
  model.save(
    file,
    {},
    withExtraOutputs(
      model.proto,
      values.map(v => ({ name: v, elemType: elemTypeOf(entry.dtype) }))
    )
  );
  const rows = refs.map(() => [] as number[]);
  const session = await ModelSession.open(file, { threads: 1 });
  try {
    for (const tokens of documents) {
      const fetched = await session.run(feedsFor(entry, tokens), values);
      values.forEach((v, p) => {
        const data = floats(fetched[v].data as never, fetched[v].type);
        data.forEach(x => rows[p].push(x));
      });
    }
  } finally {
    await session.release();
  }
  return rows.map(r => Float64Array.from(r));
}

export interface Replacement {
  ref: LinearRef;
  keep: Float32Array;
  fill: Float32Array;
  mix?: Float32Array;
}

/** The original with each replacement's h' = h·keep + h·mix + fill before its projection. */
export function withReplacedInputs(
  model: OnnxModel,
  replacements: Replacement[]
): ModelProto {
  const graph = model.graph;
  const before = new Map<NodeProto, NodeProto[]>();
  const initializer = [...graph.initializer];
  replacements.forEach(({ ref, keep, fill, mix }, p) => {
    const node = nodeOf(graph, ref.node);
    const dataType = model.initializers.get(ref.weight)!.data_type as number;
    const name = `test.replaced.${p}`;
    const tensor = (suffix: string, dims: number[], values: Float32Array) =>
      inlineTensor(
        `${name}.${suffix}`,
        dataType,
        dims,
        float32ToBytes(values, dataType)
      );
    initializer.push(
      tensor('keep', [ref.in], keep),
      tensor('fill', [ref.in], fill),
      ...(mix ? [tensor('mix', [ref.in, ref.in], mix)] : [])
    );
    const op = (op_type: string, input: string[], output: string) => ({
      name: output,
      op_type,
      domain: '',
      input,
      output: [output],
      attribute: [],
      metadata_props: []
    });
    const h = node.input[0];
    const nodes = [
      op('Mul', [h, `${name}.keep`], `${name}.kept`),
      op('Add', [`${name}.kept`, `${name}.fill`], `${name}.filled`)
    ];
    if (mix) {
      nodes.push(
        op('MatMul', [h, `${name}.mix`], `${name}.mixed`),
        op('Add', [`${name}.filled`, `${name}.mixed`], `${name}.h`)
      );
    }
    before.set(node, nodes);
  });
  const node = graph.node.flatMap(n => {
    const inserted = before.get(n);
    if (!inserted) {
      return [n];
    }
    const h = inserted[inserted.length - 1].output[0];
    return [...inserted, { ...n, input: [h, ...n.input.slice(1)] }];
  });
  return { ...model.proto, graph: { ...graph, node, initializer } };
}

/** `referenceProto` (saved under `dir`) and the pruned model's logits on `sequences`, compared. */
export async function againstReference(
  model: OnnxModel,
  referenceProto: ModelProto,
  prunedFile: string,
  sequences: number[][],
  dir: string
): Promise<LogitComparison> {
  const referenceFile = path.join(dir, 'model.onnx');
  model.save(referenceFile, {}, referenceProto);
  const pruned = OnnxModel.load(prunedFile);
  const prunedGraph = pruned.graph;
  pruned.close();
  const [a, b] = await Promise.all([
    modelLogits(referenceFile, referenceProto.graph as GraphProto, sequences, {
      threads: 1
    }),
    modelLogits(prunedFile, prunedGraph, sequences, { threads: 1 })
  ]);
  return compareLogits(a, b, prunedFile);
}
