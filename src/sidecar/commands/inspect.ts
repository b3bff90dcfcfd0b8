import { inspect } from '../format/inspect';
import { positionalCount } from './args';
import { defineCommand } from './command';

export default defineCommand({
  name: 'inspect',
  synopsis: 'inspect MODEL [--json]',
  summary:
    'map an ONNX decoder export (a folder with model.onnx, or a .onnx file): family, layers,\nprunable units and parameters, blockers',
  options: {
    json: {
      type: 'boolean',
      help: 'print the model map as JSON (docs/model-map.md)'
    }
  },
  run: async ({ values, positionals }) => {
    positionalCount('inspect', positionals, { min: 1, max: 1 }, 'one MODEL');
    return inspect(positionals[0], { json: values.json ?? false });
  }
});
