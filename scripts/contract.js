/**
 * The contract between the lab, the sidecar and the kernel is written once, in TypeScript
 * (src/core); this module derives the two other languages' copies from it: the JSON Schema of
 * the sidecar's protocol and the Python constants of the kernel bridge. `npm run generate`
 * writes them; a jest test (src/core/__tests__/contract.test.ts) fails when either is stale.
 */
const path = require('node:path');
const { createGenerator } = require('ts-json-schema-generator');

const ROOT = path.resolve(__dirname, '..');

const FILES = {
  schema: path.join(ROOT, 'src/core/protocol/schema/v1.json'),
  python: path.join(ROOT, 'kernel-bridge/cusprun/contract.py')
};

/** A definition of code, not JSON: a function the protocol module exports. */
function isFunction(definition) {
  return /=>/.test(definition.$comment ?? '');
}

function withDefs(node) {
  if (Array.isArray(node)) {
    return node.map(withDefs);
  }
  if (node && typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node).map(([key, value]) => [
        key,
        key === '$ref' ? value.replace('#/definitions/', '#/$defs/') : withDefs(value)
      ])
    );
  }
  return node;
}

/** The JSON Schema (2020-12) of every type src/core/protocol exports. */
function protocolSchema(protocol) {
  const generated = createGenerator({
    path: path.join(ROOT, 'src/core/protocol/index.ts'),
    tsconfig: path.join(ROOT, 'tsconfig.node.json'),
    type: '*',
    expose: 'export',
    jsDoc: 'extended',
    skipTypeCheck: true,
    additionalProperties: false,
    sortProps: false
  }).createSchema('*');
  const defs = Object.fromEntries(
    Object.entries(generated.definitions)
      .filter(([, definition]) => !isFunction(definition))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  );
  // A pattern is a value the types cannot carry: the run id's comes from the core's constant.
  defs.RunId = { ...defs.RunId, pattern: protocol.RUN_ID_PATTERN.source };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'urn:cusprun:sidecar-protocol:v1',
    title: 'cusprun sidecar protocol, version 1',
    description:
      'Generated from src/core/protocol (npm run generate): do not edit. The JSON of the sidecar\'s HTTP and WebSocket protocol, as the TypeScript types there declare it.',
    $defs: withDefs(defs)
  };
}

function schemaText(protocol) {
  return `${JSON.stringify(protocolSchema(protocol), null, 2)}\n`;
}

function pythonValue(value) {
  if (value instanceof RegExp) {
    return `r${JSON.stringify(value.source)}`;
  }
  if (Array.isArray(value)) {
    const items = value.map(pythonValue);
    const one = `(${items.join(', ')}${items.length === 1 ? ',' : ''})`;
    return one.length <= 80 ? one : `(\n${items.map(i => `    ${i},\n`).join('')})`;
  }
  if (value !== null && typeof value === 'object') {
    const items = Object.entries(value).map(
      ([k, v]) => `${JSON.stringify(k)}: ${pythonValue(v)}`
    );
    const one = `{${items.join(', ')}}`;
    return one.length <= 80 ? one : `{\n${items.map(i => `    ${i},\n`).join('')}}`;
  }
  return JSON.stringify(value);
}

/** The constants the kernel bridge shares with the sidecar and the lab, as a Python module. */
function pythonText(constants) {
  const lines = Object.entries(constants).map(
    ([name, value]) => `${name} = ${pythonValue(value)}`
  );
  return [
    '"""The constants cusprun\'s kernel bridge shares with its sidecar and its lab: generated from',
    "src/core by `npm run generate` (scripts/contract.js); do not edit.\"\"\"",
    '',
    ...lines,
    ''
  ].join('\n');
}

/** Which of the core's values go to Python, by the name Python knows them by. */
function pythonConstants(core) {
  return {
    PROTOCOL_VERSION: core.protocol.PROTOCOL_VERSION,
    PROTOCOL_HEADER: core.protocol.PROTOCOL_HEADER,
    EVENTS_PATH: core.protocol.EVENTS_PATH,
    RUN_ID_PATTERN: core.protocol.RUN_ID_PATTERN,
    JOB_TYPES: [...core.protocol.JOB_TYPES],
    FINAL_STATES: [...core.protocol.FINAL_STATES],
    METHODS: [...core.experiment.METHODS],
    COMPENSATIONS: [...core.experiment.COMPENSATIONS],
    REMOVED_UNITS: { ...core.experiment.REMOVED_UNITS },
    DEFAULT_PRUNE_COMPENSATION: core.experiment.DEFAULT_PRUNE_COMPENSATION,
    ABLATION_GENERAL_LABEL: core.experiment.ABLATION_GENERAL_LABEL,
    STUDY_COMPARED: [...core.experiment.STUDY_COMPARED],
    MAX_GRID_POINTS: core.grid.MAX_GRID_POINTS,
    DEFAULT_RANK_BINS: core.planView.DEFAULT_RANK_BINS,
    VEGALITE_MIME_TYPE: core.protocol.VEGALITE_MIME_TYPE,
    SWEEP_MIME_TYPE: core.protocol.SWEEP_MIME_TYPE,
    SIGMA_DECIMALS: core.format.SIGMA_DECIMALS,
    PERCENT_DECIMALS: core.format.PERCENT_DECIMALS,
    PERPLEXITY_DECIMALS: core.format.PERPLEXITY_DECIMALS,
    SCORE_DECIMALS: core.format.SCORE_DECIMALS,
    CHANGE_DECIMALS: core.format.CHANGE_DECIMALS,
    NOT_APPLICABLE: core.format.NOT_APPLICABLE,
    EVAL_CACHE_FILE: core.protocol.EVAL_CACHE_FILE,
    BASELINE_SCORES_DIR: core.protocol.BASELINE_SCORES_DIR,
    EVENTS_FILE: core.protocol.EVENTS_FILE,
    EXIT_WITH_PARENT_ENV: core.protocol.EXIT_WITH_PARENT_ENV,
    SWEEP_INPUTS: [...core.protocol.SWEEP_INPUTS]
  };
}

module.exports = { FILES, schemaText, pythonText, pythonConstants };
