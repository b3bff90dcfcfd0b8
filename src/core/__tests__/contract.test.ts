/**
 * The contract's generated copies (the JSON Schema, the kernel bridge's Python constants) are
 * what `npm run generate` makes from the core now: a type or constant changed without
 * regenerating fails here, naming the file and the command.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as experiment from '../experiment';
import * as format from '../format';
import * as grid from '../grid';
import * as planView from '../plan-view';
import * as protocol from '../protocol';

// The generator is plain Node (scripts/), shared with `npm run generate`.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const contract = require('../../../scripts/contract.js');

function expectGenerated(file: string, generated: string): void {
  const committed = fs.readFileSync(file, 'utf8');
  if (committed !== generated) {
    throw new Error(
      `${path.relative(process.cwd(), file)} is stale: the core changed since it was generated; run 'npm run generate' and commit the result`
    );
  }
}

it('the JSON Schema is the one the protocol types generate', () => {
  expectGenerated(contract.FILES.schema, contract.schemaText(protocol));
});

it("the kernel bridge's constants are the core's", () => {
  const core = { protocol, experiment, grid, planView, format };
  expectGenerated(
    contract.FILES.python,
    contract.pythonText(contract.pythonConstants(core))
  );
});
