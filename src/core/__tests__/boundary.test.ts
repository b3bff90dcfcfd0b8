/**
 * The core is compiled into the lab's bundle and the Node build alike: every module in it imports
 * only other modules of the core (no Node, no onnxruntime, no engine, sidecar or lab code).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const CORE = path.resolve(__dirname, '..');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      return entry.name === '__tests__' ? [] : sources(full);
    }
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

it('every core module imports only the core', () => {
  const outside: string[] = [];
  for (const file of sources(CORE)) {
    const text = fs.readFileSync(file, 'utf8');
    for (const [, from] of text.matchAll(
      /^(?:import|export)[^;]*? from '([^']+)';/gms
    )) {
      const target = path.resolve(path.dirname(file), from);
      if (
        !from.startsWith('.') ||
        path.relative(CORE, target).startsWith('..')
      ) {
        outside.push(`${path.relative(CORE, file)} imports '${from}'`);
      }
    }
  }
  expect(sources(CORE).length).toBeGreaterThan(10);
  expect(outside).toEqual([]);
});
