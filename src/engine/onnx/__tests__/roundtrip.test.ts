import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { producedTensor, withInitializers } from '../edit';
import { isExternal } from '../external';
import { OnnxModel } from '../model';
import { TensorProto } from '../proto';
import { tensorDims } from '../tensor';
import {
  fixtureFile,
  fixtureManifest,
  logitsOf,
  reference
} from '../../__tests__/fixtures';
import { CusprunError } from '../../../core/errors';

const fixtures = fixtureManifest();
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-roundtrip-'));
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('a round trip through the engine', () => {
  it.each(fixtures.map(f => [`${f.family}/${f.style}`, f] as const))(
    '%s keeps every byte and gives the same logits in onnxruntime',
    async (name, entry) => {
      const source = fixtureFile(entry);
      const out = path.join(tmp, name.replace('/', '-'), 'model.onnx');
      const model = OnnxModel.load(source);
      try {
        model.save(out);
      } finally {
        model.close();
      }
      if (!entry.externalData) {
        // Nothing was edited, so the encoded model is the original, byte for byte.
        expect(
          Buffer.compare(fs.readFileSync(out), fs.readFileSync(source))
        ).toBe(0);
      } else {
        expect(fs.existsSync(`${out}_data`)).toBe(true);
      }
      const { sequences } = reference(entry.family);
      const [before, after] = await Promise.all([
        logitsOf(source, entry, sequences),
        logitsOf(out, entry, sequences)
      ]);
      after.forEach((logits, i) => {
        expect(logits.dims).toEqual(before[i].dims);
        expect(
          Buffer.compare(
            Buffer.from(logits.data.buffer),
            Buffer.from(before[i].data.buffer)
          )
        ).toBe(0);
      });
    }
  );

  it('moves weights into and out of an external-data file with the same logits', async () => {
    const entry = fixtures.find(
      f => f.family === 'qwen3' && f.style === 'external'
    )!;
    const { sequences } = reference(entry.family);
    const inlined = path.join(tmp, 'inlined', 'model.onnx');
    const external = path.join(tmp, 'external-again', 'model.onnx');
    const source = OnnxModel.load(fixtureFile(entry));
    source.save(inlined, { externalData: false });
    source.close();
    expect(fs.existsSync(`${inlined}_data`)).toBe(false);
    const inline = OnnxModel.load(inlined);
    expect(inline.hasExternalData()).toBe(false);
    inline.save(external, { externalData: true, sizeThreshold: 0 });
    inline.close();
    const reloaded = OnnxModel.load(external);
    expect(reloaded.hasExternalData()).toBe(true);
    reloaded.close();
    const expected = await logitsOf(fixtureFile(entry), entry, sequences);
    for (const file of [inlined, external]) {
      const got = await logitsOf(file, entry, sequences);
      got.forEach((l, i) =>
        expect(Array.from(l.data as Float32Array)).toEqual(
          Array.from(expected[i].data as Float32Array)
        )
      );
    }
  });

  it('reads weights from an external-data file lazily, by byte range', () => {
    const entry = fixtures.find(
      f => f.family === 'llama' && f.style === 'external'
    )!;
    const inline = OnnxModel.load(
      fixtureFile(
        fixtures.find(f => f.family === 'llama' && f.style === 'torchscript')!
      )
    );
    const external = OnnxModel.load(fixtureFile(entry));
    try {
      const name = inline.graph.initializer.find(
        t => t.dims.length === 2
      )!.name!;
      const a = inline.initializers.get(name)!;
      const b = external.initializers.get(name)!;
      expect(external.byteLength(b)).toBe(inline.byteLength(a));
      expect(Array.from(external.float32(b))).toEqual(
        Array.from(inline.float32(a))
      );
      // A slice at an odd offset comes back as its own aligned buffer.
      const slice = external.slice(b, 6, 20);
      expect(slice.byteOffset).toBe(0);
      expect(Array.from(slice)).toEqual(
        Array.from(inline.bytes(a).subarray(6, 26))
      );
    } finally {
      inline.close();
      external.close();
    }
  });

  it('streams produced tensors chunk by chunk into the same bytes as held ones', () => {
    const entry = fixtures.find(
      f => f.family === 'qwen2' && f.style === 'torchscript'
    )!;
    const source = fixtureFile(entry);
    const model = OnnxModel.load(source);
    try {
      // Every initializer with raw bytes, re-made by a producer that hands out uneven chunks.
      const chunks: number[] = [];
      const produced = new Map<string, TensorProto>();
      for (const tensor of model.graph.initializer) {
        // Large inline weights are left in the file on load (skeleton.ts): read them.
        const raw =
          tensor.raw_data?.byteLength || isExternal(tensor)
            ? model.bytes(tensor)
            : undefined;
        if (raw) {
          produced.set(
            tensor.name!,
            producedTensor(tensor, tensorDims(tensor), {
              length: raw.byteLength,
              stream: sink => {
                for (let at = 0; at < raw.byteLength; at += 1000) {
                  const chunk = raw.slice(at, at + 1000);
                  chunks.push(chunk.byteLength);
                  sink(chunk);
                }
              }
            })
          );
        }
      }
      expect(produced.size).toBeGreaterThan(10);
      const proto = withInitializers(model.proto, produced);
      const original = fs.readFileSync(source);
      const inline = path.join(tmp, 'produced-inline', 'model.onnx');
      model.save(inline, { externalData: false }, proto);
      expect(Buffer.compare(fs.readFileSync(inline), original)).toBe(0);
      expect(chunks.length).toBeGreaterThan(produced.size);
      const external = path.join(tmp, 'produced-external', 'model.onnx');
      model.save(external, { externalData: true }, proto);
      const reloaded = OnnxModel.load(external);
      try {
        for (const [name, tensor] of produced) {
          const written = reloaded.initializers.get(name)!;
          expect(reloaded.byteLength(written)).toBe(model.byteLength(tensor));
          expect(
            Buffer.compare(
              reloaded.bytes(written),
              model.bytes(model.initializers.get(name)!)
            )
          ).toBe(0);
        }
      } finally {
        reloaded.close();
      }
      // A producer that writes fewer bytes than it promised is caught, not written.
      const short = producedTensor(
        model.graph.initializer[0],
        tensorDims(model.graph.initializer[0]),
        { length: 8, stream: sink => sink(new Uint8Array(4)) }
      );
      const shortFile = path.join(tmp, 'produced-short', 'model.onnx');
      expect(() =>
        model.save(
          shortFile,
          { externalData: false },
          withInitializers(
            model.proto,
            new Map([[model.graph.initializer[0].name!, short]])
          )
        )
      ).toThrow(/wrote 4 bytes instead of 8/);
      expect(fs.readdirSync(path.dirname(shortFile))).toEqual([]);
    } finally {
      model.close();
    }
  });

  it('refuses to write over its own input', () => {
    const entry = fixtures.find(
      f => f.family === 'llama' && f.style === 'external'
    )!;
    const model = OnnxModel.load(fixtureFile(entry));
    const before = fs.readFileSync(fixtureFile(entry));
    try {
      expect(() => model.save(fixtureFile(entry))).toThrow(CusprunError);
      expect(() => model.save(fixtureFile(entry))).toThrow(
        /refusing to write over the input model/
      );
    } finally {
      model.close();
    }
    expect(Buffer.compare(fs.readFileSync(fixtureFile(entry)), before)).toBe(0);
  });
});
