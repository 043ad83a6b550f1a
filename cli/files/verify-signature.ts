import { lstat, open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  bundleFromJSON,
  isBundleWithDsseEnvelope,
  isBundleWithPublicKey,
  ValidationError,
} from '@sigstore/bundle';
import { RegistryError } from '../../core/errors.js';
import {
  blamingFile,
  NOT_MODEL_FILES,
  SignatureError,
  type SignedFile,
  type TrustedKey,
  trustedKeysFromPem,
  type VerifiedProvenance,
  verifyProvenance,
} from '../../core/provenance.js';
import {
  MODEL_SIG_FILE,
  type SignaturesResponse,
  type SignedBundles,
  VALIDATION_SIG_FILE,
} from '../../schemas/signature.schema.js';
import type { ManifestFile, Version } from '../../schemas/version.schema.js';
import { CliError } from '../cli-error.js';
import { EXIT } from '../exit-codes.js';
import { encode, type RegistryClient } from '../registry-client.js';
import { sha256File } from './hash-file.js';
import { trustedKeySpecs } from './verify-key-env.js';

/**
 * Offline, fail-closed checks of the registry's signatures on a node (formats: schemas/signature.schema.ts,
 * checks: core/provenance.ts): before fetch switches a folder, and by `verify --key` on an installed one.
 * A node trusts the public keys it was given (`--verify-key`, `MODELGATE_VERIFY_KEY`), never one the
 * registry or the folder offers.
 */

/** What a refused signature means where it was checked: before a fetch installs, or on an installed folder. */
const CONSEQUENCE = {
  fetch: 'nothing was installed or trusted',
  installed:
    'do not trust this folder: fetch the version again with `modelgate fetch --verify-key`, which checks the signatures before it switches',
} as const;

/**
 * A signature that is missing, does not verify, or lists other files: exit 6, like any integrity failure.
 * `details.file` names the file at fault when one is known; `where` says what the refusal means there.
 */
export const signatureRefused = (
  message: string,
  details?: Record<string, unknown>,
  where: keyof typeof CONSEQUENCE = 'fetch',
) => new CliError('SIGNATURE_INVALID', `${message}: ${CONSEQUENCE[where]}`, EXIT.INTEGRITY, details);

/**
 * The trusted keys from `--verify-key` values (each PEM text, or the path of a file holding one or more
 * PEM public keys: several keys while one is being rotated out), else from MODELGATE_VERIFY_KEY; none
 * when neither is set. A usage error (exit 2) names a file that cannot be read or a key that is not an
 * ECDSA P-256 public key.
 */
export async function trustedKeysFrom(
  given: readonly string[] | undefined,
  env: NodeJS.ProcessEnv,
  command: string,
): Promise<TrustedKey[] | undefined> {
  const specs = trustedKeySpecs(given, env);
  if (specs.length === 0) return undefined;
  const keys: TrustedKey[] = [];
  for (const spec of specs) {
    let text = spec;
    if (!spec.includes('-----BEGIN')) {
      try {
        text = await readFile(spec, 'utf8');
      } catch (e) {
        throw CliError.usage(
          `cannot read the trusted key file ${spec} (${(e as NodeJS.ErrnoException).code})`,
          command,
        );
      }
    }
    try {
      keys.push(...trustedKeysFromPem(text));
    } catch (e) {
      if (e instanceof SignatureError)
        throw CliError.usage(
          `${spec.includes('-----BEGIN') ? 'the trusted key' : spec}: ${e.message}`,
          command,
        );
      throw e;
    }
  }
  return keys;
}

/**
 * Sigstore's own bundle parser (@sigstore/bundle) must accept the bundle as a v0.3 bundle with a DSSE
 * envelope and a public-key identifier, before our checks read it: a bundle only modelgate could read
 * would not be the interoperable format.
 */
function assertSigstoreBundle(raw: unknown, name: string): void {
  blamingFile(name, () => parseSigstoreBundle(raw, name));
}

function parseSigstoreBundle(raw: unknown, name: string): void {
  try {
    const bundle = bundleFromJSON(raw);
    if (!isBundleWithDsseEnvelope(bundle) || !isBundleWithPublicKey(bundle))
      throw new SignatureError(`${name} is not a Sigstore bundle with a DSSE envelope and a public-key hint`);
  } catch (e) {
    if (e instanceof ValidationError)
      throw new SignatureError(
        `${name} is not a valid Sigstore bundle (${e.message}: ${e.fields?.join(', ')})`,
      );
    if (e instanceof SignatureError) throw e;
    throw new SignatureError(`${name} is not a valid Sigstore bundle (${(e as Error).message})`);
  }
}

/** Both checks: Sigstore's parser, then provenance.ts's signature and content checks. */
function verifyBundles(
  bundles: { readonly model: unknown; readonly validation: unknown },
  trusted: readonly TrustedKey[],
  files: readonly SignedFile[],
  ref?: { readonly model: string; readonly version: string },
): VerifiedProvenance {
  assertSigstoreBundle(bundles.model, MODEL_SIG_FILE);
  assertSigstoreBundle(bundles.validation, VALIDATION_SIG_FILE);
  return verifyProvenance(bundles, trusted, files, ref);
}

const refusal = (e: unknown, where: keyof typeof CONSEQUENCE = 'fetch'): never => {
  if (e instanceof SignatureError)
    throw signatureRefused(e.message, e.file === undefined ? undefined : { file: e.file }, where);
  throw e;
};

/**
 * Fetch's check before a byte moves: the version's bundles, verified with the trusted keys against the
 * download plan's files (every path and sha256; the download then checks every byte against them).
 * Exit 6 (SIGNATURE_INVALID) when the version is unsigned or a check fails; exit 4 when the registry says
 * it revoked the verdict.
 */
export async function checkPlanSignatures(
  client: RegistryClient,
  version: Version,
  files: readonly ManifestFile[],
  trusted: readonly TrustedKey[],
): Promise<{ signatures: SignedBundles; provenance: VerifiedProvenance }> {
  const ref = { model: version.model, version: version.version };
  let answer: Partial<SignaturesResponse>;
  try {
    answer = await client.get<Partial<SignaturesResponse>>(
      `api/v1/models/${encode(ref.model)}/versions/${encode(ref.version)}/signatures`,
    );
  } catch (e) {
    if ((e instanceof RegistryError || e instanceof CliError) && e.code === 'NOT_FOUND')
      throw signatureRefused(`${ref.model}@${ref.version} is not signed by the registry`, { ...ref });
    throw e;
  }
  if (answer.revoked)
    throw CliError.fromApi(
      'NOT_VERIFIED',
      `the registry revoked the verdict on ${ref.model}@${ref.version} (${answer.reason ?? answer.status})`,
      {
        status: answer.status,
      },
    );
  const signatures = answer.signatures ?? { model: undefined, validation: undefined };
  try {
    const provenance = verifyBundles(signatures, trusted, files, ref);
    // Both bundles parsed and verified: they are the shapes SignedBundles declares.
    return { signatures: signatures as SignedBundles, provenance };
  } catch (e) {
    return refusal(e);
  }
}

/** Writes `model.sig` and `validation.sig` (JSON, 0644, fsynced) into a folder about to be switched in. */
export async function writeSignatureFiles(dir: string, signatures: SignedBundles): Promise<void> {
  for (const [name, bundle] of [
    [MODEL_SIG_FILE, signatures.model],
    [VALIDATION_SIG_FILE, signatures.validation],
  ] as const) {
    const fh = await open(join(dir, name), 'wx', 0o644);
    try {
      await fh.writeFile(`${JSON.stringify(bundle, null, 2)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

const TOP_LEVEL_NOT_MODEL = new Set(NOT_MODEL_FILES);

/**
 * Digests this process computed itself from a folder's bytes moments before (`verifyDir`'s hashing
 * threads), by relative path: never read from the folder, so a signature check may use them instead of
 * reading every byte a second time.
 */
export type HashedHere = ReadonlyMap<string, string>;

/**
 * Every regular file under `dir` with its sha256, except the files fetch writes beside the model. A
 * symlink or other special file is refused: the signature covers plain files only. A file in `known`
 * takes that digest instead of being read again.
 */
async function hashFolder(dir: string, known?: HashedHere, prefix = ''): Promise<SignedFile[]> {
  const out: SignedFile[] = [];
  const entries = await readdir(join(dir, prefix), { withFileTypes: true });
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (!prefix && TOP_LEVEL_NOT_MODEL.has(entry.name)) continue;
    if (entry.isDirectory()) out.push(...(await hashFolder(dir, known, rel)));
    else if (entry.isFile())
      out.push({ path: rel, sha256: known?.get(rel) ?? (await sha256File(join(dir, rel))).sha256 });
    else throw new SignatureError(`${rel} is not a regular file`, rel);
  }
  return out;
}

async function readBundle(dir: string, name: string): Promise<unknown> {
  let text: string;
  try {
    const stats = await lstat(join(dir, name));
    if (!stats.isFile()) throw new SignatureError(`${name} is not a regular file`, name);
    text = await readFile(join(dir, name), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new SignatureError(
        `${dir} has no ${name}: fetch the version with --verify-key to install it`,
        name,
      );
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new SignatureError(`${name} is not JSON`, name);
  }
}

/** What `verify --key` found: the version the signatures are about, the key that signed, the verdict. */
export interface FolderSignature {
  readonly model: string;
  readonly version: string;
  readonly keyId: string;
  readonly files: number;
  readonly loadTested: boolean;
  readonly validatedAt: string;
}

/**
 * Re-checks an installed folder offline with nothing but the trusted keys: both bundles verify, and the
 * folder's files (every regular file but fetch's own sidecars, re-hashed) are exactly the signed ones.
 * The local manifest and checksum files are not trusted, so a swap that rewrote them is still caught.
 * `expected` (from `.modelgate.json`) must name the version the signatures are about. Exit 6 otherwise.
 * `known`: digests this process just computed from the files' bytes (HashedHere), not re-read.
 */
export async function verifySignedFolder(
  dir: string,
  trusted: readonly TrustedKey[],
  expected?: { readonly model: string; readonly version: string },
  known?: HashedHere,
): Promise<FolderSignature> {
  try {
    return await checkSignedFolder(dir, trusted, expected, known);
  } catch (e) {
    return refusal(e, 'installed');
  }
}

/**
 * verifySignedFolder's checks, for a caller that reports rather than refuses (`doctor --key`): throws a
 * SignatureError whose `file` names the bundle or the folder's file at fault; a file system error
 * (EACCES on a bundle or a model file) is thrown as it is.
 */
export async function checkSignedFolder(
  dir: string,
  trusted: readonly TrustedKey[],
  expected?: { readonly model: string; readonly version: string },
  known?: HashedHere,
): Promise<FolderSignature> {
  const bundles = {
    model: await readBundle(dir, MODEL_SIG_FILE),
    validation: await readBundle(dir, VALIDATION_SIG_FILE),
  };
  const files = await hashFolder(dir, known);
  const provenance = verifyBundles(bundles, trusted, files, expected);
  const { validation } = provenance;
  return {
    model: validation.model,
    version: validation.version,
    keyId: provenance.keyId,
    files: files.length,
    loadTested: validation.loadTested,
    validatedAt: validation.validation.finishedAt,
  };
}
