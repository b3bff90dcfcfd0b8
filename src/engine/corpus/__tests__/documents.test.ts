import { blocksOf, jsonlOf, linesOf, readDocuments } from '../documents';
import { decodeUtf8, firstInvalidUtf8 } from '../utf8';
import { corpora } from './helpers';

describe('.txt documents', () => {
  it('lines: one document per line, trimmed, empty lines skipped, 1-based line numbers', () => {
    expect(linesOf('  a b \n\n\t\nc\r\nd\re  \n')).toEqual([
      { text: 'a b', line: 1 },
      { text: 'c', line: 4 },
      { text: 'd', line: 5 },
      { text: 'e', line: 6 }
    ]);
    const de = readDocuments(corpora('language/de.txt'), 'lines', 'text');
    expect(de).toHaveLength(24);
    expect(de[0]).toEqual({
      text: 'Der Zug nach München fährt heute zwanzig Minuten später ab.',
      line: 1
    });
    // line 8 has surrounding spaces; line 4 is blank
    expect(de.find(d => d.line === 8)?.text).toBe(
      'Das Wetter bleibt laut Vorhersage bis Donnerstag sonnig und warm.'
    );
    expect(de[3].line).toBe(5);
  });

  it('blocks: one document per blank-line-separated block, lines joined with \\n', () => {
    expect(blocksOf('\n\n a\n b  \n \t \nc\n\n\n\nd\r\ne\n')).toEqual([
      { text: 'a\n b', line: 3 },
      { text: 'c', line: 6 },
      { text: 'd\ne', line: 10 }
    ]);
    const legal = readDocuments(corpora('domain/legal.txt'), 'blocks', 'text');
    expect(legal.map(d => d.line)).toEqual([1, 5, 9, 14, 19, 23, 27, 31, 34]);
    expect(legal.every(d => d.text.startsWith('Section '))).toBe(true);
    expect(legal[3].text).toBe(
      'Section 4. Warranty. The Supplier warrants that the Goods conform to the\n' +
        'specification for twelve (12) months from delivery.'
    );
  });

  it('the same file read as lines gives one document per line instead', () => {
    expect(
      readDocuments(corpora('domain/legal.txt'), 'lines', 'text')
    ).toHaveLength(25);
  });
});

describe('.jsonl documents', () => {
  it('reads the text field, skipping blank lines and blank texts', () => {
    const docs = jsonlOf(
      '{"text": " a "}\n\n{"text": "", "x": 1}\n{"text": "b", "y": [1]}\n',
      'text',
      'f.jsonl'
    );
    expect(docs).toEqual([
      { text: 'a', line: 1 },
      { text: 'b', line: 4 }
    ]);
    const qa = readDocuments(corpora('task/qa.jsonl'), undefined, 'text');
    expect(qa).toHaveLength(12);
    expect(qa[0]).toEqual({
      text: 'Question: What is the capital of Austria?\nAnswer: Vienna',
      line: 1
    });
  });

  it('reads another field when told', () => {
    const q = readDocuments(corpora('task/qa.jsonl'), undefined, 'question');
    expect(q[10]).toEqual({
      text: 'Wie heißt die Hauptstadt der Schweiz?',
      line: 11
    });
  });

  it('a folder may mix .txt and .jsonl', () => {
    expect(
      readDocuments(
        corpora('domain/medical/02-notes.jsonl'),
        'lines',
        'text'
      ).map(d => d.line)
    ).toEqual([1, 2, 4]);
  });
});

describe('strict UTF-8', () => {
  const bytes = (...b: number[]) => Uint8Array.from(b);

  it('finds the first invalid byte', () => {
    expect(firstInvalidUtf8(Buffer.from('Grüße 東京 🙂'))).toBe(-1);
    expect(firstInvalidUtf8(bytes(0x61, 0xff))).toBe(1); // never valid
    expect(firstInvalidUtf8(bytes(0x61, 0x62, 0xc3))).toBe(2); // cut short
    expect(firstInvalidUtf8(bytes(0xc3, 0x28))).toBe(0); // bad continuation
    expect(firstInvalidUtf8(bytes(0xc0, 0xaf))).toBe(0); // overlong '/'
    expect(firstInvalidUtf8(bytes(0xe0, 0x80, 0xaf))).toBe(0); // overlong
    expect(firstInvalidUtf8(bytes(0x41, 0xed, 0xa0, 0x80))).toBe(1); // surrogate
    expect(firstInvalidUtf8(bytes(0xf4, 0x90, 0x80, 0x80))).toBe(0); // > U+10FFFF
    expect(firstInvalidUtf8(bytes(0xf0, 0x9f, 0x99, 0x82))).toBe(-1); // 🙂
  });

  it('decodes valid UTF-8 and drops a BOM', () => {
    expect(decodeUtf8(bytes(0xef, 0xbb, 0xbf, 0x68, 0x69), 'f')).toBe('hi');
  });

  it('names the file and the byte offset', () => {
    expect(() => decodeUtf8(bytes(0x61, 0x62, 0xc3), 'some.txt')).toThrow(
      'some.txt: not valid UTF-8 (byte 0xc3 at byte offset 2); save the file as UTF-8'
    );
  });
});
