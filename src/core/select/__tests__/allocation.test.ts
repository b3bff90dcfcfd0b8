import {
  allocateBySensitivity,
  GroupSensitivity,
  probeCount
} from '../allocation';
import { Selection, UnitGroup } from '../selection';

/**
 * Brute force over every scale where some group's count can change (λ = cost · k / n for each
 * group and k): the counts at each, by plain loops, and the one whose ratio is closest to the
 * target (ties to the larger ratio).
 */
function reference(
  groups: UnitGroup[],
  prunable: number,
  sensitivities: GroupSensitivity[],
  target: number,
  minKeep: number
): number[] {
  const costs = sensitivities.map((s, g) =>
    s.removed === 0
      ? Infinity
      : Math.max(1e-12, s.lossIncrease) / (s.removed * groups[g].paramsPerUnit)
  );
  const countsAt = (lambda: number) =>
    groups.map((group, g) => {
      const n = group.ranks.length;
      if (costs[g] === Infinity) {
        return 0;
      }
      const raw = Math.floor(Math.min(1, lambda / costs[g]) * n + 1e-9);
      return Math.min(raw, n - Math.min(minKeep, n));
    });
  const ratioOf = (counts: number[]) =>
    counts.reduce((sum, c, g) => sum + c * groups[g].paramsPerUnit, 0) /
    prunable;
  let best: number[] = [];
  let bestGap = Infinity;
  let bestRatio = -1;
  groups.forEach((group, g) => {
    for (let k = 0; k <= group.ranks.length; k++) {
      const counts = countsAt((costs[g] * k) / group.ranks.length);
      const ratio = ratioOf(counts);
      const gap = Math.abs(ratio - target);
      if (
        gap < bestGap - 1e-15 ||
        (Math.abs(gap - bestGap) <= 1e-15 && ratio > bestRatio)
      ) {
        [best, bestGap, bestRatio] = [counts, gap, ratio];
      }
    }
  });
  return best;
}

describe('allocation by sensitivity', () => {
  const group = (
    layer: number,
    kind: 'ffn' | 'attention',
    n: number,
    paramsPerUnit: number
  ): UnitGroup => ({
    layer,
    kind,
    paramsPerUnit,
    // Deciding ranks in reverse index order: the rule's lowest are the highest indices.
    ranks: Uint32Array.from({ length: n }, (_, u) => n - 1 - u)
  });
  const groups = [
    group(0, 'ffn', 16, 3),
    group(0, 'attention', 4, 12),
    group(1, 'ffn', 16, 3),
    group(1, 'attention', 4, 12),
    group(2, 'ffn', 16, 3),
    group(2, 'attention', 1, 12)
  ];
  const prunable = 3 * 16 * 3 + 2 * 4 * 12 + 12;
  const sensitivities: GroupSensitivity[] = [
    { removed: 4, lossIncrease: 0.02 },
    { removed: 1, lossIncrease: 0.5 },
    { removed: 4, lossIncrease: 0.002 },
    { removed: 1, lossIncrease: -0.01 },
    { removed: 4, lossIncrease: 0.2 },
    { removed: 0, lossIncrease: 0 }
  ];

  it('probes a fixed fraction, at least one unit, never past the guards', () => {
    expect(probeCount(16, 1)).toBe(4);
    expect(probeCount(2, 1)).toBe(1);
    expect(probeCount(1, 1)).toBe(0);
    expect(probeCount(4, 4)).toBe(0);
  });

  it.each([0.1, 0.25, 0.4])(
    'gives the brute-force counts at target %s, lowest ranks first',
    target => {
      const selection = new Selection(groups, prunable);
      const result = allocateBySensitivity(
        selection,
        sensitivities,
        target,
        0.5
      );
      expect(result.groups.map(g => g.pruned)).toEqual(
        reference(groups, prunable, sensitivities, target, 1)
      );
      expect(result.sigma).toBe(0.5);
      // The group no probe could remove from keeps everything.
      expect(result.groups[5].pruned).toBe(0);
      // The cheapest module per parameter loses the largest share.
      const share = (g: number) =>
        result.groups[g].pruned / groups[g].ranks.length;
      expect(share(2)).toBeGreaterThanOrEqual(share(0));
      expect(share(0)).toBeGreaterThanOrEqual(share(4));
      expect(selection.lowest(2, 3)).toEqual([13, 14, 15]);
    }
  );

  it('names a target the guards and unprobed modules cannot reach', () => {
    const selection = new Selection(groups, prunable);
    expect(() =>
      allocateBySensitivity(selection, sensitivities, 0.99, 0.5)
    ).toThrow(
      /^the target ratio 99\.00% cannot be reached: .* at most 82\.14%; ask for less$/
    );
    expect(() =>
      allocateBySensitivity(selection, sensitivities.slice(1), 0.2, 0.5)
    ).toThrow(/the probe measured 5 unit groups but the expert has 6/);
  });
});
