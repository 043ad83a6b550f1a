import yauzl from 'yauzl';
import { corrupted } from './load-failure.js';

/**
 * Checks a zip archive's structure without extracting it, with yauzl 3 (a maintained reader of the zip
 * central directory): the end-of-central-directory record is found, every central directory entry the
 * record announces is present and well formed, and each entry's local header and data lie inside the
 * file. A PyTorch checkpoint (`torch.save` since 1.6, TorchScript) is a zip whose entries sit under one
 * folder and that holds `<folder>/data.pkl`: the pickled object graph without which nothing loads.
 */

export interface ZipInspection {
  entryCount: number;
  /** Sum of the entries' uncompressed sizes. */
  uncompressedBytes: number;
  /** The entry holding the pickled object graph (`archive/data.pkl`), when there is one. */
  dataPkl?: string;
  fileSize: number;
}

/** More entries than any checkpoint has: a bound on the work a crafted directory can ask for. */
const MAX_ENTRIES = 1_000_000;

export function inspectZip(path: string): Promise<ZipInspection> {
  return new Promise((resolve, reject) => {
    const fail = (why: string) => reject(corrupted(`zip archive: ${why}`));
    yauzl.open(path, { lazyEntries: true, autoClose: false, strictFileNames: false }, (openError, zip) => {
      if (openError || !zip) return fail(openError?.message ?? 'cannot be opened');
      if (zip.entryCount > MAX_ENTRIES) {
        zip.close();
        return fail(`the directory announces ${zip.entryCount} entries, over ${MAX_ENTRIES}`);
      }
      const result: ZipInspection = {
        entryCount: zip.entryCount,
        uncompressedBytes: 0,
        fileSize: zip.fileSize,
      };
      let settled = false;
      const done = (error?: Error) => {
        if (settled) return;
        settled = true;
        zip.close();
        if (error) fail(error.message);
        else resolve(result);
      };
      zip.on('error', (error: Error) => done(error));
      zip.on('end', () => done());
      zip.on('entry', (entry: yauzl.Entry) => {
        result.uncompressedBytes += entry.uncompressedSize;
        if (!result.dataPkl && /^([^/]+\/)?data\.pkl$/.test(entry.fileName)) result.dataPkl = entry.fileName;
        zip.readLocalFileHeader(entry, { minimal: true }, (headerError, header) => {
          if (headerError) return done(headerError);
          const end = header.fileDataStart + entry.compressedSize;
          if (end > zip.fileSize) {
            return done(
              new Error(
                `entry "${entry.fileName}" ends at byte ${end}, past the end of the file (${zip.fileSize}): it is truncated`,
              ),
            );
          }
          if (!Number.isSafeInteger(result.uncompressedBytes))
            return done(new Error('the entries declare more bytes in total than any file can hold'));
          zip.readEntry();
        });
      });
      zip.readEntry();
    });
  });
}

/** A PyTorch checkpoint must hold its pickled object graph. */
export function checkPytorchZip(zip: ZipInspection): void {
  if (!zip.dataPkl) {
    throw corrupted(
      'a zip archive without data.pkl: not a PyTorch checkpoint (torch.save writes <name>/data.pkl), or an incomplete one',
    );
  }
}
