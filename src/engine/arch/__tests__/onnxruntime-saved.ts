/**
 * Fixtures as onnxruntime saves them after its own optimiser (a session's optimizedModelFilePath),
 * each in a model folder with the fixture's config.json and tokenizer: what a user gets who
 * "optimises" an export with onnxruntime before pruning it. Shared by the engine's and the CLI's
 * tests.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { FixtureEntry, fixtureFile } from '../../__tests__/fixtures';

export type OptimisationLevel = 'basic' | 'extended';

export async function savedByOnnxruntime(
  entry: FixtureEntry,
  level: OptimisationLevel,
  dir: string
): Promise<string> {
  const source = fixtureFile(entry);
  fs.mkdirSync(dir, { recursive: true });
  for (const name of fs.readdirSync(path.dirname(source))) {
    if (!name.startsWith('model.onnx')) {
      fs.copyFileSync(
        path.join(path.dirname(source), name),
        path.join(dir, name)
      );
    }
  }
  const session = await ort.InferenceSession.create(source, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: level,
    optimizedModelFilePath: path.join(dir, 'model.onnx'),
    logSeverityLevel: 3
  });
  await session.release();
  return dir;
}
