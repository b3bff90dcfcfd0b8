import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { int64Tensor } from '../../capture/graph-builder';
import { OnnxModel, TensorProto } from '../../onnx';
import { tinyModel, TinyNode } from '../../__tests__/fixtures';
import { GraphIndex } from '../graph';

/** A graph whose only work is shape arithmetic on constants, to trace. */
function shapeGraph(initializer: TensorProto[], nodes: TinyNode[]): GraphIndex {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-graph-'));
  const file = path.join(dir, 'model.onnx');
  fs.writeFileSync(
    file,
    tinyModel(nodes, {
      inputs: [],
      outputs: [nodes[nodes.length - 1].output],
      elemType: 7,
      initializer
    })
  );
  const model = OnnxModel.load(file);
  model.close();
  fs.rmSync(dir, { recursive: true });
  return new GraphIndex(model);
}

describe('tracing shape integers to the constants that hold them', () => {
  it('follows Slice, Concat and Gather, keeping each element’s constant and position', () => {
    const index = shapeGraph(
      [
        int64Tensor('dims', [4, 6, 8, 16]),
        int64Tensor('start', [1]),
        int64Tensor('end', [3]),
        int64Tensor('tail', [-1]),
        int64Tensor('which', [1, 0])
      ],
      [
        { op: 'Slice', inputs: ['dims', 'start', 'end'], output: 'middle' },
        { op: 'Concat', inputs: ['middle', 'tail'], output: 'target' },
        { op: 'Gather', inputs: ['target', 'which'], output: 'swapped' }
      ]
    );
    expect(index.traceInts('middle')).toEqual([
      { value: 6, constant: 'dims', element: 1 },
      { value: 8, constant: 'dims', element: 2 }
    ]);
    expect(index.evaluateInts('target')).toEqual([6, 8, -1]);
    expect(index.traceInts('swapped')).toEqual([
      { value: 8, constant: 'dims', element: 2 },
      { value: 6, constant: 'dims', element: 1 }
    ]);
  });
});
