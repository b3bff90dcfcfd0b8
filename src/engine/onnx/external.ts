/**
 * External data: tensors whose bytes live in a side file, addressed by (location, offset,
 * length). Bytes are read on demand with positioned reads, so a model's weights never have to
 * fit in the JS heap at once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CusprunError } from '../../core/errors';
import { DATA_LOCATION_EXTERNAL, TensorProto } from './proto';

export interface ExternalRecord {
  /** Path relative to the model's folder, as written in the model. */
  location: string;
  offset: number;
  /** Byte length; undefined when the model leaves it implicit (to the end of the file). */
  length: number | undefined;
}

export function isExternal(tensor: TensorProto): boolean {
  return tensor.data_location === DATA_LOCATION_EXTERNAL;
}

export function externalRecord(
  tensor: TensorProto,
  modelFile: string
): ExternalRecord {
  const entries = new Map(tensor.external_data.map(e => [e.key, e.value]));
  const location = entries.get('location');
  const what = `tensor '${tensor.name ?? ''}'`;
  if (!location) {
    throw new CusprunError(
      'external-data',
      `${what} is marked external but names no location`,
      modelFile
    );
  }
  if (path.isAbsolute(location) || location.split(/[\\/]/).includes('..')) {
    throw new CusprunError(
      'external-data',
      `${what} points outside the model's folder (location '${location}'); external data must sit beside the model`,
      modelFile
    );
  }
  const parse = (key: string): number | undefined => {
    const text = entries.get(key);
    if (text === undefined) {
      return undefined;
    }
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new CusprunError(
        'external-data',
        `${what} has an invalid external-data ${key} '${text}'`,
        modelFile
      );
    }
    return value;
  };
  return { location, offset: parse('offset') ?? 0, length: parse('length') };
}

/** Open side files of one model, read by position. Close it when done. */
export class ExternalDataFiles {
  private readonly dir: string;
  private readonly modelFile: string;
  private readonly open = new Map<string, { fd: number; size: number }>();

  constructor(modelFile: string) {
    this.modelFile = modelFile;
    this.dir = path.dirname(modelFile);
  }

  /** The absolute path of a location, and its size; a clear error when it is missing. */
  file(location: string): { path: string; fd: number; size: number } {
    const filePath = path.join(this.dir, location);
    let entry = this.open.get(location);
    if (!entry) {
      let fd: number;
      try {
        fd = fs.openSync(filePath, 'r');
      } catch {
        throw new CusprunError(
          'external-data',
          `the external-data file '${location}' that the model needs is missing`,
          this.modelFile
        );
      }
      entry = { fd, size: fs.fstatSync(fd).size };
      this.open.set(location, entry);
    }
    return { path: filePath, ...entry };
  }

  /** Checks that a record's bytes are present in its file and returns its exact byte length. */
  check(
    record: ExternalRecord,
    tensorName: string,
    expectedBytes: number | undefined
  ): number {
    const { size } = this.file(record.location);
    const length = record.length ?? size - record.offset;
    if (expectedBytes !== undefined && length !== expectedBytes) {
      throw new CusprunError(
        'external-data',
        `tensor '${tensorName}' records ${length} bytes of external data but its shape and type need ${expectedBytes}`,
        path.join(this.dir, record.location)
      );
    }
    if (record.offset + length > size) {
      throw new CusprunError(
        'truncated',
        `tensor '${tensorName}' needs bytes ${record.offset}..${record.offset + length} but the file has only ${size} bytes (truncated or the wrong file?)`,
        path.join(this.dir, record.location)
      );
    }
    return length;
  }

  /** Fills `into` with the bytes at `offset` within the record's span; returns `into`. */
  read(record: ExternalRecord, offset: number, into: Uint8Array): Uint8Array {
    const { fd } = this.file(record.location);
    let done = 0;
    while (done < into.byteLength) {
      const n = fs.readSync(
        fd,
        into,
        done,
        into.byteLength - done,
        record.offset + offset + done
      );
      if (n === 0) {
        throw new CusprunError(
          'truncated',
          `unexpected end of file at byte ${record.offset + offset + done}`,
          path.join(this.dir, record.location)
        );
      }
      done += n;
    }
    return into;
  }

  close(): void {
    for (const { fd } of this.open.values()) {
      fs.closeSync(fd);
    }
    this.open.clear();
  }
}
