/** A file written front to back by positioned writes, for the streaming model writer. */
import * as fs from 'node:fs';

export class FileSink {
  private fd: number | undefined;
  /** Bytes written so far: the offset of the next write. */
  position = 0;

  constructor(file: string) {
    this.fd = fs.openSync(file, 'w');
  }

  write(chunk: Uint8Array): void {
    let done = 0;
    while (done < chunk.byteLength) {
      done += fs.writeSync(
        this.fd as number,
        chunk,
        done,
        chunk.byteLength - done,
        this.position + done
      );
    }
    this.position += chunk.byteLength;
  }

  /** Pads with zeros to a multiple of `alignment`; returns the new position. */
  align(alignment: number): number {
    const padding = (alignment - (this.position % alignment)) % alignment;
    if (padding) {
      this.write(new Uint8Array(padding));
    }
    return this.position;
  }

  /** Closes the file (once), flushing it to disk first when `sync`. */
  close(sync: boolean): void {
    if (this.fd !== undefined) {
      if (sync) {
        fs.fsyncSync(this.fd);
      }
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
  }
}
