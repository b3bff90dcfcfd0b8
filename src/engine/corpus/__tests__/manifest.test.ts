import * as path from 'node:path';
import {
  DEFAULT_DOCUMENTS,
  DEFAULT_SEED,
  DEFAULT_TRUNCATION,
  parseManifest,
  readManifest
} from '../manifest';
import { CORPORA, corpora, removeScratch, scratch } from './helpers';

describe('corpus manifests', () => {
  it('reads the YAML manifest: dimensions in order, paths resolved against its folder', () => {
    const m = readManifest(corpora('corpus.yaml'));
    expect(m.file).toBe(corpora('corpus.yaml'));
    expect(m.dir).toBe(CORPORA);
    expect(m.truncation).toBe(64);
    expect(m.seed).toBe(0);
    expect(m.documents).toBe(8);
    expect(
      m.dimensions.map(d => [d.dimension, d.name, d.format, d.textField])
    ).toEqual([
      ['language', 'de', 'lines', 'text'],
      ['domain', 'legal', 'blocks', 'text'],
      ['task', 'qa', undefined, 'text']
    ]);
    expect(m.dimensions.map(d => d.files)).toEqual([
      [
        {
          file: corpora('language/de.txt'),
          relative: 'language/de.txt',
          field: 'dimensions.language.sources[0]'
        }
      ],
      [
        {
          file: corpora('domain/legal.txt'),
          relative: 'domain/legal.txt',
          field: 'dimensions.domain.sources[0]'
        }
      ],
      [
        {
          file: corpora('task/qa.jsonl'),
          relative: 'task/qa.jsonl',
          field: 'dimensions.task.sources[0]'
        }
      ]
    ]);
  });

  it('reads the JSON manifest to the same result as the YAML one', () => {
    const yaml = readManifest(corpora('corpus.yaml'));
    const json = readManifest(corpora('corpus.json'));
    expect(json.file).toBe(corpora('corpus.json'));
    expect({ ...json, file: '' }).toEqual({ ...yaml, file: '' });
  });

  it('expands a folder to its .txt and .jsonl files in name order, and fills defaults', () => {
    const m = readManifest(corpora('medical.yaml'));
    expect(m.truncation).toBe(256);
    expect(m.seed).toBe(DEFAULT_SEED);
    expect(m.documents).toBe(DEFAULT_DOCUMENTS);
    expect(m.dimensions).toHaveLength(1);
    const [domain] = m.dimensions;
    expect(domain.dimension).toBe('domain');
    expect(domain.name).toBe('medical');
    expect(domain.files.map(f => f.relative)).toEqual([
      'domain/medical/01-cardiology.txt',
      'domain/medical/02-notes.jsonl'
    ]);
    expect(
      domain.files.every(f => f.field === 'dimensions.domain.sources[0]')
    ).toBe(true);
  });

  it('lists dimensions as language, domain, task whatever the manifest order; name defaults to the key', () => {
    const m = parseManifest(
      {
        dimensions: {
          task: { sources: ['task/qa.jsonl'], textField: 'question' },
          language: {
            sources: ['language/fr.txt', 'language/de.txt'],
            format: 'lines'
          }
        }
      },
      'inline manifest',
      CORPORA
    );
    expect(m.file).toBe('inline manifest');
    expect(m.truncation).toBe(DEFAULT_TRUNCATION);
    expect(m.dimensions.map(d => [d.dimension, d.name])).toEqual([
      ['language', 'language'],
      ['task', 'task']
    ]);
    // sources keep the order they are listed in
    expect(m.dimensions[0].files.map(f => f.relative)).toEqual([
      'language/fr.txt',
      'language/de.txt'
    ]);
    expect(m.dimensions[1].textField).toBe('question');
  });

  it('accepts absolute paths, .yml, and sources outside the manifest folder', () => {
    const dir = scratch({
      'sub/m.yml': [
        'dimensions:',
        `  language: { sources: ["${corpora('language/de.txt')}", ../x.txt], format: lines }`,
        'seed: 4294967295',
        'documents: 1',
        'truncation: 8'
      ].join('\n'),
      'x.txt': 'one\ntwo\n'
    });
    try {
      const m = readManifest(path.join(dir, 'sub/m.yml'));
      expect(m.seed).toBe(4294967295);
      expect(m.documents).toBe(1);
      expect(m.truncation).toBe(8);
      expect(m.dimensions[0].files.map(f => f.file)).toEqual([
        corpora('language/de.txt'),
        path.join(dir, 'x.txt')
      ]);
      expect(m.dimensions[0].files[1].relative).toBe('../x.txt');
    } finally {
      removeScratch(dir);
    }
  });
});
