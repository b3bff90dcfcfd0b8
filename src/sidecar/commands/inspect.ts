import { inspect, inspectCorpus } from '../format/inspect';
import { positionalCount } from './args';
import { defineCommand } from './command';

export default defineCommand({
  name: 'inspect',
  synopsis: 'inspect MODEL [--json] | inspect --corpus MANIFEST [--json]',
  summary:
    'map an ONNX decoder export (a folder with model.onnx, or a .onnx file): family, layers,\nprunable units and parameters, blockers; or list the source files a corpus manifest names',
  options: {
    json: {
      type: 'boolean',
      help: 'print the model map (docs/model-map.md), or the manifest as read, as JSON'
    },
    corpus: {
      type: 'string',
      value: 'MANIFEST',
      help: "a corpus manifest: list each dimension's source files (folders expanded)"
    }
  },
  run: async ({ values, positionals }) => {
    const json = values.json ?? false;
    if (values.corpus !== undefined) {
      positionalCount(
        'inspect',
        positionals,
        { min: 0, max: 0 },
        'no MODEL with --corpus MANIFEST'
      );
      return inspectCorpus(values.corpus, { json });
    }
    positionalCount('inspect', positionals, { min: 1, max: 1 }, 'one MODEL');
    return inspect(positionals[0], { json });
  }
});
