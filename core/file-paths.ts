/**
 * How the file paths of one version may clash on a node's disk. Linux file systems compare names byte for
 * byte, but macOS (APFS, HFS+) ignores case and Unicode normalization, and Windows (NTFS) ignores case:
 * there `Model.onnx` and `model.onnx`, or `café.txt` in NFC and in NFD, are one file, and a version that
 * holds both overwrites itself when fetched. The registry publishes only versions every node can lay
 * out, so paths are compared by the loosest of those rules (`foldPath`).
 */

/**
 * A path as a case-insensitive, normalization-insensitive file system compares it: each segment in NFC,
 * case-folded, in NFC again (folding may decompose). Upper then lower case folds what lower case alone
 * leaves apart (`ς`/`σ`, `ſ`/`s`, `ß`/`ss`): refusing a rare pair a file system would keep apart costs a
 * rename, missing one costs a corrupt install.
 */
export function foldPath(path: string): string {
  return path.split('/').map(foldSegment).join('/');
}

const foldSegment = (segment: string): string =>
  segment.normalize('NFC').toUpperCase().toLowerCase().normalize('NFC');

/** Two paths of a manifest that a node could not keep apart. */
export interface PathClash {
  /** Index of the path refused: the later of two names for one file, or the path below a file. */
  readonly index: number;
  readonly path: string;
  /** The earlier path it clashes with: the same file, or a file where `path` needs a folder. */
  readonly other: string;
  /** Names both paths and why they clash. */
  readonly message: string;
}

const LOOSE_FS = 'on a case-insensitive or normalizing file system (macOS, Windows)';

/**
 * The first pair of paths that would be one file, or a file and a folder of the same name, on some
 * node's file system (compared by `foldPath`); undefined when every path can be laid out on any of them.
 * Exact repeats are named as such, so the message says what to fix. `compare: 'exact'` compares paths
 * byte for byte instead: what a fetch checks of a version already published (it may predate the fold
 * rule, and lays out on the file systems that keep its names apart).
 */
export function findPathClash(
  paths: readonly string[],
  compare: 'folded' | 'exact' = 'folded',
): PathClash | undefined {
  const keyOf = compare === 'folded' ? foldPath : (path: string) => path;
  const byFold = new Map<string, string>();
  for (const [index, path] of paths.entries()) {
    const fold = keyOf(path);
    const other = byFold.get(fold);
    if (other !== undefined)
      return {
        index,
        path,
        other,
        message: other === path ? `duplicate path ${path}` : `${other} and ${path} are one file ${LOOSE_FS}`,
      };
    byFold.set(fold, path);
  }
  for (const [index, path] of paths.entries()) {
    const folded = keyOf(path).split('/');
    for (let n = 1; n < folded.length; n++) {
      const other = byFold.get(folded.slice(0, n).join('/'));
      if (other === undefined) continue;
      const folder = path.split('/').slice(0, n).join('/');
      return {
        index,
        path,
        other,
        message:
          other === folder
            ? `${folder} is both a file and a folder (of ${path})`
            : `${other} is a file and ${path} needs ${folder} as a folder: one name ${LOOSE_FS}`,
      };
    }
  }
  return undefined;
}

/**
 * The lock file every local registry holds in its data folder (local/data-dir.ts): fetch and sync refuse a
 * destination at or below a folder holding it, where they would take over the registry's own files.
 */
export const REGISTRY_DATA_MARKER = 'server.lock';
