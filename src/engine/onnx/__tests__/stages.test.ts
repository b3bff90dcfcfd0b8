/**
 * Staged execution on the real fixture graphs: the cut respects the budget, every value a stage
 * reads comes from the graph's inputs or an earlier stage, and the logits run stage by stage
 * equal the whole-model run within the check's bound on every fixture export (bit for bit on
 * most float32 ones; where onnxruntime fuses nodes that a stage boundary separates, as in the
 * float16 exports, the rounding moves by a few ulps).
 */
import {
  fixtureFile,
  fixtureManifest,
  reference
} from '../../__tests__/fixtures';
import { compareLogits, Logits, modelLogits, stagedLogits } from '../../prune';
import { OnnxModel } from '../model';
import { GraphProto, TensorProto } from '../proto';
import { consumed, planStages, Stage, stageStarts } from '../stages';

const fixtures = fixtureManifest();
const llama = fixtures.find(
  f => f.family === 'llama' && f.style === 'torchscript'
);

function totalBytes(model: OnnxModel): number {
  return model.graph.initializer.reduce((n, t) => n + model.byteLength(t), 0);
}

function stagesOf(model: OnnxModel, budget: number): Stage[] {
  const staging = planStages(model.graph, ['logits'], budget, t =>
    model.byteLength(t)
  );
  if ('refused' in staging) {
    throw new Error(staging.refused);
  }
  return staging.stages;
}

describe('planStages', () => {
  it('cuts the llama fixture into stages within the budget, linked in order', () => {
    const model = OnnxModel.load(fixtureFile(llama!));
    try {
      const total = totalBytes(model);
      const largest = Math.max(
        ...model.graph.initializer.map(t => model.byteLength(t))
      );
      const stages = stagesOf(model, total / 4);
      expect(stages.length).toBeGreaterThanOrEqual(4);
      for (const stage of stages) {
        expect(stage.bytes).toBeLessThanOrEqual(Math.max(total / 4, largest));
      }
      const inputs = new Set(model.graph.input.map(i => i.name));
      const available = new Set(inputs);
      stages.forEach((stage, s) => {
        for (const name of stage.inputs) {
          expect(available.has(name)).toBe(true);
        }
        const made = new Set(
          stage.nodes.flatMap(i => model.graph.node[i].output)
        );
        const readLater = new Set([
          'logits',
          ...stages.slice(s + 1).flatMap(t => t.inputs)
        ]);
        expect(new Set(stage.outputs)).toEqual(
          new Set([...made].filter(name => readLater.has(name)))
        );
        stage.outputs.forEach(name => available.add(name));
      });
      expect(stages[stages.length - 1].outputs).toContain('logits');
    } finally {
      model.close();
    }
  });

  it.each(fixtures.map(f => [`${f.family}/${f.style}`, f] as const))(
    'passes no value made from initializers alone between stages: %s',
    (_label, entry) => {
      const model = OnnxModel.load(fixtureFile(entry));
      try {
        const constant = new Set(model.graph.initializer.map(t => t.name));
        for (const node of model.graph.node) {
          if (consumed(node).every(name => constant.has(name))) {
            node.output.forEach(name => constant.add(name));
          }
        }
        const stages = stagesOf(model, 1);
        expect(stages.length).toBeGreaterThan(1);
        for (const stage of stages) {
          expect(stage.inputs.filter(name => constant.has(name))).toEqual([]);
        }
      } finally {
        model.close();
      }
    }
  );

  it('cuts at the nodes another cut began with, and refuses a name the graph lacks', () => {
    const model = OnnxModel.load(fixtureFile(llama!));
    try {
      const stages = stagesOf(model, totalBytes(model) / 4);
      const starts = stageStarts(model.graph, stages) as string[];
      expect(starts).toHaveLength(stages.length - 1);
      const bytes = (t: TensorProto) => model.byteLength(t);
      expect(planStages(model.graph, ['logits'], starts, bytes)).toEqual({
        stages
      });
      expect(planStages(model.graph, ['logits'], ['nowhere'], bytes)).toEqual({
        refused: "the graph has no node 'nowhere' to cut at"
      });
    } finally {
      model.close();
    }
  });

  it('gives an initializer larger than the budget a stage of its own', () => {
    const model = OnnxModel.load(fixtureFile(llama!));
    try {
      const sizes = model.graph.initializer.map(t => model.byteLength(t));
      const largest = Math.max(...sizes);
      const name = model.graph.initializer[sizes.indexOf(largest)].name;
      const stages = stagesOf(model, largest / 2);
      const holding = stages.filter(s => s.initializers.includes(name ?? ''));
      expect(holding.length).toBeGreaterThan(0);
      for (const stage of holding) {
        expect(stage.bytes).toBeLessThanOrEqual(largest + largest / 2);
      }
    } finally {
      model.close();
    }
  });

  it('carries the outer-scope values a subgraph reads as inputs of its node', () => {
    const branch = (value: string): GraphProto => ({
      node: [
        {
          input: [value],
          output: ['y'],
          op_type: 'Identity',
          attribute: [],
          metadata_props: []
        }
      ],
      initializer: [],
      input: [],
      output: [{ name: 'y' }],
      value_info: []
    });
    const node = {
      input: ['cond'],
      output: ['out'],
      op_type: 'If',
      attribute: [
        {
          name: 'then_branch',
          g: branch('a'),
          floats: [],
          ints: [],
          strings: [],
          tensors: [],
          graphs: []
        },
        {
          name: 'else_branch',
          g: branch('b'),
          floats: [],
          ints: [],
          strings: [],
          tensors: [],
          graphs: []
        }
      ],
      metadata_props: []
    };
    expect(consumed(node).sort()).toEqual(['a', 'b', 'cond']);
  });

  it('refuses a graph whose nodes read a value before it is made', () => {
    const node = (input: string, output: string) => ({
      input: [input],
      output: [output],
      op_type: 'Relu',
      attribute: [],
      metadata_props: []
    });
    const graph: GraphProto = {
      node: [node('h', 'logits'), node('x', 'h')],
      initializer: [],
      input: [{ name: 'x' }],
      output: [{ name: 'logits' }],
      value_info: []
    };
    expect(planStages(graph, ['logits'], 1, () => 0)).toEqual({
      refused: "node '0' reads 'h' before anything computes it"
    });
  });
});

describe('stagedLogits', () => {
  it.each(fixtures.map(f => [`${f.family}/${f.style}`, f] as const))(
    'equals the whole-model logits within the bound: %s',
    async (_label, entry) => {
      const { sequences } = reference(entry.family);
      const file = fixtureFile(entry);
      const model = OnnxModel.load(file);
      try {
        const whole = await modelLogits(file, model.graph, sequences, {
          threads: 1
        });
        const staged: Logits[] = [];
        const run = await stagedLogits(
          model,
          sequences,
          totalBytes(model) / 4,
          (i, logits) => (staged[i] = logits),
          { threads: 1 }
        );
        if (typeof run === 'string') {
          throw new Error(run);
        }
        const comparison = compareLogits(whole, staged, file);
        expect(comparison.ok).toBe(true);
        if (entry.family === 'llama' && entry.dtype === 'float32') {
          expect(staged).toEqual(whole);
        }
      } finally {
        model.close();
      }
    }
  );
});
