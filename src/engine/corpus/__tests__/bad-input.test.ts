/**
 * Bad corpus input: each case is a CusprunError whose message names the file (and the field
 * or line), and nothing is written anywhere.
 */
import * as path from 'node:path';
import { loadCorpus } from '../corpus';
import { readManifest } from '../manifest';
import { loadTokenizer } from '../tokenizer';
import {
  CORPORA,
  caught,
  corpora,
  removeScratch,
  scratch,
  snapshot,
  TOKENIZER_DIR
} from './helpers';

const tokenizer = loadTokenizer(TOKENIZER_DIR);

/** loadCorpus on a manifest, expecting a CusprunError; checks nothing was written. */
function corpusError(manifest: string) {
  const before = snapshot(path.dirname(manifest));
  const error = caught(() => loadCorpus(manifest, tokenizer));
  expect(snapshot(path.dirname(manifest))).toEqual(before);
  return error;
}

describe('bad corpus files (committed in fixtures/corpora/bad)', () => {
  it('an empty corpus: the dimension and its file counts', () => {
    const error = corpusError(corpora('bad/empty.yaml'));
    expect(error.code).toBe('bad-argument');
    expect(error.subject).toBe(corpora('bad/empty.yaml'));
    expect(error.message).toBe(
      `${corpora('bad/empty.yaml')}: dimensions.domain: no documents in its sources ` +
        '(empty.txt: 0); empty lines and blank texts are skipped'
    );
  });

  it('a file that is not UTF-8: the file and the byte offset', () => {
    const error = corpusError(corpora('bad/not-utf8.yaml'));
    expect(error.code).toBe('bad-argument');
    expect(error.subject).toBe(corpora('bad/latin1.txt'));
    expect(error.message).toBe(
      `${corpora('bad/latin1.txt')}: not valid UTF-8 (byte 0xf6 at byte offset 27); ` +
        'save the file as UTF-8'
    );
  });

  it('JSONL without the text field: the file, the line number and the fields it has', () => {
    const error = corpusError(corpora('bad/no-field.yaml'));
    expect(error.subject).toBe(corpora('bad/no-field.jsonl'));
    expect(error.message).toBe(
      `${corpora('bad/no-field.jsonl')}: line 3: no "text" field (it has "question", ` +
        '"answer"); set the manifest\'s textField to the field that holds the text'
    );
  });

  it('a malformed JSONL line: the file and the line number', () => {
    const error = corpusError(corpora('bad/malformed.yaml'));
    expect(error.subject).toBe(corpora('bad/malformed.jsonl'));
    expect(error.message).toMatch(
      /^\/.*\/bad\/malformed\.jsonl: line 2: not valid JSON \(.+\)$/
    );
  });

  it('an unknown dimension: names it and lists the known ones', () => {
    const error = corpusError(corpora('bad/unknown-dimension.json'));
    expect(error.subject).toBe(corpora('bad/unknown-dimension.json'));
    expect(error.message).toBe(
      `${corpora('bad/unknown-dimension.json')}: dimensions.styl: unknown dimension; ` +
        'known dimensions: language, domain, task'
    );
  });

  it('a missing source: the manifest, the field and the path', () => {
    const error = corpusError(corpora('bad/missing-source.yaml'));
    expect(error.code).toBe('not-found');
    expect(error.message).toBe(
      `${corpora('bad/missing-source.yaml')}: dimensions.domain.sources[1]: ` +
        "no such file or folder 'x.txt'"
    );
  });

  it('a truncation below 8', () => {
    const error = corpusError(corpora('bad/bad-truncation.yaml'));
    expect(error.code).toBe('bad-argument');
    expect(error.message).toBe(
      `${corpora('bad/bad-truncation.yaml')}: truncation: must be a whole number ≥ 8 (got number 4)`
    );
  });

  it('leaves the whole fixtures/corpora tree as it was', () => {
    const before = snapshot(CORPORA);
    for (const name of [
      'empty.yaml',
      'not-utf8.yaml',
      'no-field.yaml',
      'malformed.yaml',
      'unknown-dimension.json',
      'missing-source.yaml',
      'bad-truncation.yaml'
    ]) {
      caught(() => loadCorpus(corpora('bad', name), tokenizer));
    }
    expect(snapshot(CORPORA)).toEqual(before);
  });
});

describe('manifest validation', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach(removeScratch));

  /** Writes `text` as manifest `name` in a scratch folder with a.txt and q.jsonl beside it. */
  function manifestError(text: string, name = 'corpus.yaml') {
    const dir = scratch({
      [name]: text,
      'a.txt': 'one\ntwo\n',
      'q.jsonl': '{"text": "x"}\n',
      'readme.md': 'not a corpus',
      'sub/b.txt': 'three\n',
      'nothing/notes.md': 'no corpus files here'
    });
    dirs.push(dir);
    const file = path.join(dir, name);
    const before = snapshot(dir);
    const error = caught(() => loadCorpus(file, tokenizer));
    expect(snapshot(dir)).toEqual(before);
    expect(error.subject).toBe(file);
    expect(error.message.startsWith(`${file}: `)).toBe(true);
    return { error, message: error.message.slice(file.length + 2) };
  }
  const lang = (body: string) => `dimensions:\n  language: ${body}\n`;

  it.each([
    [
      'truncation: 12.5',
      'truncation: must be a whole number ≥ 8 (got number 12.5)'
    ],
    [
      'truncation: "64"',
      'truncation: must be a whole number ≥ 8 (got the string "64")'
    ],
    ['truncation: null', 'truncation: must be a whole number ≥ 8 (got null)'],
    [
      'seed: -1',
      'seed: must be a whole number from 0 to 4294967295 (got number -1)'
    ],
    ['documents: 0', 'documents: must be a whole number ≥ 1 (got number 0)'],
    [
      'truncaton: 64',
      'truncaton: unknown field; known fields: dimensions, truncation, seed, documents'
    ]
  ])('top-level field: %s', (line, expected) => {
    const { error, message } = manifestError(
      lang('{ sources: [a.txt], format: lines }') + line + '\n'
    );
    expect(error.code).toBe('bad-argument');
    expect(message).toBe(expected);
  });

  it.each([
    [
      '{ format: lines }',
      'dimensions.language.sources: missing: list the files or folders of this corpus'
    ],
    [
      '{ sources: [], format: lines }',
      'dimensions.language.sources: must be a non-empty list of files or folders (got a list)'
    ],
    [
      '{ sources: a.txt, format: lines }',
      'dimensions.language.sources: must be a non-empty list of files or folders (got the string "a.txt")'
    ],
    [
      '{ sources: [a.txt, 3], format: lines }',
      'dimensions.language.sources[1]: must be a path to a file or folder (got number 3)'
    ],
    [
      '{ sources: [a.txt] }',
      'dimensions.language.format: missing: .txt sources need "lines" (one document per line) or "blocks" (one per blank-line-separated block)'
    ],
    [
      '{ sources: [a.txt], format: paragraphs }',
      'dimensions.language.format: must be "lines" (one document per line) or "blocks" (one per blank-line-separated block), got the string "paragraphs"'
    ],
    [
      '{ sources: [q.jsonl], textField: "" }',
      'dimensions.language.textField: must be a non-empty string (got the string "")'
    ],
    [
      '{ sources: [q.jsonl], name: 5 }',
      'dimensions.language.name: must be a non-empty string (got number 5)'
    ],
    [
      '{ sources: [q.jsonl], field: text }',
      'dimensions.language.field: unknown field; known fields: name, sources, format, textField'
    ],
    [
      '{ sources: [readme.md] }',
      "dimensions.language.sources[0]: 'readme.md' is neither .txt nor .jsonl"
    ],
    [
      '{ sources: [nothing] }',
      "dimensions.language.sources[0]: folder 'nothing' has no .txt or .jsonl files"
    ],
    [
      '{ sources: [a.txt, sub, ./a.txt], format: lines }',
      "dimensions.language.sources[2]: 'a.txt' is already a source (dimensions.language.sources[0])"
    ],
    [
      '[a.txt]',
      'dimensions.language: must be an object with "sources" (got a list)'
    ]
  ])('dimension field: %s', (body, expected) => {
    expect(manifestError(lang(body)).message).toBe(expected);
  });

  it('dimensions missing, empty, or not an object', () => {
    expect(manifestError('truncation: 64\n').message).toBe(
      'dimensions: missing: name the sources of at least one of language, domain, task'
    );
    expect(manifestError('dimensions: {}\n').message).toBe(
      'dimensions: empty: name the sources of at least one of language, domain, task'
    );
    expect(manifestError('dimensions: [language]\n').message).toBe(
      'dimensions: must be an object with keys among language, domain, task (got a list)'
    );
  });

  it('a manifest that is not an object, not YAML, not JSON, or not UTF-8', () => {
    expect(manifestError('- a\n- b\n').message).toBe(
      'must be an object with "dimensions" (got a list)'
    );
    expect(manifestError('dimensions: [a\nb: 1\n').message).toMatch(
      /^not valid YAML \(.+line 2, column 1:\)$/
    );
    expect(manifestError('{"dimensions": ', 'corpus.json').message).toMatch(
      /^not valid JSON \(.+\)$/
    );
    expect(manifestError('dimensions:\n  a: 1\n  a: 2\n').message).toMatch(
      /^not valid YAML \(Map keys must be unique/
    );
    const dir = scratch({
      'c.yaml': Buffer.from('dimensions: \xff\n', 'latin1')
    });
    dirs.push(dir);
    const error = caught(() => readManifest(path.join(dir, 'c.yaml')));
    expect(error.message).toBe(
      `${path.join(dir, 'c.yaml')}: not valid UTF-8 (byte 0xff at byte offset 12); save the file as UTF-8`
    );
  });

  it('a manifest path that is missing, a folder, or has another extension', () => {
    let error = caught(() => readManifest('/no/such/corpus.yaml'));
    expect(error.code).toBe('not-found');
    expect(error.message).toBe('/no/such/corpus.yaml: no such corpus manifest');
    error = caught(() => readManifest(CORPORA));
    expect(error.message).toBe(
      `${CORPORA}: a folder, not a corpus manifest (.json, .yaml or .yml)`
    );
    error = caught(() => readManifest(corpora('language/de.txt')));
    expect(error.message).toBe(
      `${corpora('language/de.txt')}: a corpus manifest must be .json, .yaml or .yml (got '.txt')`
    );
  });

  it('JSONL lines that are not objects, or whose text is not a string', () => {
    const dir = scratch({
      'c.yaml': 'dimensions:\n  task: { sources: [a.jsonl] }\n',
      'a.jsonl': '{"text": "ok"}\n[1, 2]\n'
    });
    dirs.push(dir);
    let error = caught(() => loadCorpus(path.join(dir, 'c.yaml'), tokenizer));
    expect(error.message).toBe(
      `${path.join(dir, 'a.jsonl')}: line 2: not a JSON object (each line must be an object with a "text" field)`
    );
    const dir2 = scratch({
      'c.yaml':
        'dimensions:\n  task: { sources: [a.jsonl], textField: body }\n',
      'a.jsonl': '{"body": "ok"}\n\n{"body": null}\n'
    });
    dirs.push(dir2);
    error = caught(() => loadCorpus(path.join(dir2, 'c.yaml'), tokenizer));
    expect(error.message).toBe(
      `${path.join(dir2, 'a.jsonl')}: line 3: field "body" is null, not a string`
    );
  });
});
