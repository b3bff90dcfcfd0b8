import {
  bfloat16BitsToFloat32,
  bytesToFloat32,
  DataType,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToBytes,
  float32ToFloat16Bits
} from '../dtype';

describe('float formats', () => {
  it.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [0.000060975552, 0x03ff],
    [5.960464477539063e-8, 0x0001],
    [Infinity, 0x7c00],
    [1e6, 0x7c00],
    [0, 0x0000]
  ])('fp16 of %d is 0x%s', (value, bits) => {
    expect(float32ToFloat16Bits(value)).toBe(bits);
    if (Number.isFinite(value) && value < 65520) {
      expect(float16BitsToFloat32(bits)).toBeCloseTo(value, 10);
    }
  });

  it('rounds fp16 to nearest even like numpy', () => {
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1).
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    // 1 + 3·2^-11 lies halfway between 1 + 2^-10 and 1 + 2^-9: ties go to 1 + 2^-9.
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });

  it('converts bf16 both ways', () => {
    expect(float32ToBfloat16Bits(1)).toBe(0x3f80);
    expect(bfloat16BitsToFloat32(0x3f80)).toBe(1);
    expect(bfloat16BitsToFloat32(float32ToBfloat16Bits(3.140625))).toBe(
      3.140625
    );
  });

  it('decodes fp32, fp16 and bf16 bytes at any alignment', () => {
    const values = [0.5, -1.25, 3];
    for (const type of [DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16]) {
      const bytes = float32ToBytes(values, type);
      const unaligned = new Uint8Array(bytes.byteLength + 1);
      unaligned.set(bytes, 1);
      expect(Array.from(bytesToFloat32(unaligned.subarray(1), type))).toEqual(
        values
      );
    }
  });
});
