/** The runner's refusals: models it cannot load from memory or cannot evaluate. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelSession } from '../../capture/runtime';
import { DataType } from '../../onnx/dtype';
import {
  externalTensor,
  producedTensor,
  withInitializers
} from '../../onnx/edit';
import { OnnxModel } from '../../onnx/model';
import { decodeModel, encodeModel } from '../../onnx/proto';
import { tinyModel } from '../../__tests__/fixtures';
import { ModelRunner } from '..';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-runner-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

it('refuses to hold edited tensors over protobuf’s 2 GiB in memory, before making them', async () => {
  const length = 2 ** 31 + 4;
  // A sparse file: 2 GiB on paper, no disk blocks.
  const data = path.join(tmp, 'big.bin');
  fs.writeFileSync(data, '');
  fs.truncateSync(data, length);
  // The logits read the big tensor, so the evaluation graph keeps it.
  const proto = decodeModel(
    tinyModel([{ op: 'Identity', inputs: ['big'], output: 'logits' }], {
      inputs: ['input_ids'],
      outputs: ['logits'],
      elemType: DataType.FLOAT
    })
  );
  proto.graph!.initializer.push(
    externalTensor('big', DataType.FLOAT, [length / 4], {
      location: 'big.bin',
      length
    })
  );
  const file = path.join(tmp, 'big.onnx');
  fs.writeFileSync(file, encodeModel(proto));
  const big = OnnxModel.load(file);
  // Unedited, the tensor would be read where it lies; edited, it would have to be held.
  let made = 0;
  const edited = producedTensor(big.graph.initializer[0], [length / 4], {
    length,
    stream: () => made++
  });
  try {
    await expect(
      ModelRunner.inMemory(
        big,
        withInitializers(big.proto, new Map([['big', edited]]))
      )
    ).rejects.toThrow(
      /needs 2\.00 GiB inline, more than protobuf's 2 GiB limit/
    );
    expect(made).toBe(0);
  } finally {
    big.close();
  }
});

it('names the in-memory model when onnxruntime cannot load it', async () => {
  await expect(
    ModelSession.fromBytes(new Uint8Array([1, 2, 3]), {}, 'pruned llama')
  ).rejects.toThrow(/^pruned llama: onnxruntime cannot load the model/);
});

it('refuses a model without logits', async () => {
  const file = path.join(tmp, 'no-logits.onnx');
  fs.writeFileSync(
    file,
    tinyModel([{ op: 'Identity', inputs: ['input_ids'], output: 'y' }], {
      inputs: ['input_ids'],
      outputs: ['y'],
      elemType: DataType.INT64
    })
  );
  await expect(ModelRunner.open(file)).rejects.toThrow(
    /has no 'logits' output; evaluation needs next-token logits/
  );
});
