import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import type { ValidationReport } from '../schemas/report.schema.js';
import {
  IN_TOTO_PAYLOAD_TYPE,
  IN_TOTO_STATEMENT_TYPE,
  InTotoStatement,
  MODEL_SIG_FILE,
  MODEL_SIGNING_PREDICATE_TYPE,
  ModelSigningPredicate,
  SIGSTORE_BUNDLE_MEDIA_TYPE,
  type SignedBundles,
  SigningBundle,
  VALIDATION_PREDICATE_TYPE,
  VALIDATION_SIG_FILE,
  ValidationPredicate,
  type VersionSignatures,
} from '../schemas/signature.schema.js';
import type { Version } from '../schemas/version.schema.js';
import type { Signer } from './ports.js';

/**
 * The signed-provenance formats, pure (node:crypto only): the DSSE pre-authentication encoding, the two
 * in-toto Statements the registry signs, the Sigstore bundle around them, and their verification with a
 * set of trusted public keys. Shapes and sources: schemas/signature.schema.ts.
 *
 * The statement builders (and NOT_MODEL_FILES) are format 1 of VersionSignatures: stored records keep
 * only signatures, and their payloads are rebuilt by these builders, so what they write must not change
 * (test/unit/provenance.test.ts pins it). Another statement is another format, built by other functions.
 */

/** A file as the signatures name it: its path relative to the version root and its sha256 (hex). */
export interface SignedFile {
  readonly path: string;
  readonly sha256: string;
}

/**
 * Files that sit beside a fetched model and are not part of it: model_signing's `ignore_paths`, so its
 * own verifier, run over a fetched folder, hashes only the model.
 */
export const NOT_MODEL_FILES = [
  MODEL_SIG_FILE,
  VALIDATION_SIG_FILE,
  '.modelgate.json',
  'checksums.txt',
  'SHA256SUMS',
];

/**
 * DSSE v1 pre-authentication encoding: `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths
 * as ASCII decimal byte counts (type in UTF-8). The signature is over these bytes, never over the JSON.
 */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'utf8'),
    type,
    Buffer.from(` ${payload.length} `, 'utf8'),
    payload,
  ]);
}

/** The key id of a public key: hex sha256 of its canonical PEM (SPKI) text, model_signing's key hint. */
export function keyIdOf(publicKey: KeyObject | string): string {
  const pem = canonicalPem(typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey);
  return createHash('sha256').update(pem, 'utf8').digest('hex');
}

const canonicalPem = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }).toString();

/**
 * Orders paths as model_signing does (Python's PurePosixPath order): segment by segment, each compared
 * by code point (UTF-8 byte order), so `a/b` sorts before `a.txt`.
 */
export function comparePaths(a: string, b: string): number {
  const sa = a.split('/');
  const sb = b.split('/');
  for (let i = 0; i < Math.min(sa.length, sb.length); i++) {
    const c = Buffer.compare(Buffer.from(sa[i]!, 'utf8'), Buffer.from(sb[i]!, 'utf8'));
    if (c !== 0) return c;
  }
  return sa.length - sb.length;
}

/** model_signing's model digest: sha256 over the raw bytes of every resource digest, in resource order. */
export function rootDigest(digestsHex: readonly string[]): string {
  const h = createHash('sha256');
  for (const d of digestsHex) h.update(Buffer.from(d, 'hex'));
  return h.digest('hex');
}

const sortedFiles = (files: readonly SignedFile[]) => [...files].sort((x, y) => comparePaths(x.path, y.path));

/**
 * The OpenSSF model-signing Statement (predicate `https://model_signing/signature/v1.0`, `files`
 * serialization): one resource per file, sorted by path; the subject is `name` with the digest over
 * all resources.
 */
export function modelSigningStatement(name: string, files: readonly SignedFile[]): InTotoStatement {
  const resources = sortedFiles(files).map((f) => ({
    name: f.path,
    algorithm: 'sha256' as const,
    digest: f.sha256,
  }));
  const predicate: ModelSigningPredicate = {
    serialization: {
      method: 'files',
      hash_type: 'sha256',
      allow_symlinks: false,
      ignore_paths: NOT_MODEL_FILES,
    },
    resources,
  };
  return {
    _type: IN_TOTO_STATEMENT_TYPE,
    subject: [{ name, digest: { sha256: rootDigest(resources.map((r) => r.digest)) } }],
    predicateType: MODEL_SIGNING_PREDICATE_TYPE,
    predicate,
  };
}

/** The validation predicate of a passed report: what was run, measured and fed, and where it fits. */
export function validationPredicate(version: Version, report: ValidationReport): ValidationPredicate {
  return {
    model: version.model,
    version: version.version,
    provider: version.provider,
    seq: version.seq,
    verdict: 'VERIFIED',
    loadTested: report.loadTested ?? report.files.some((f) => f.check === 'loaded'),
    runtime: { name: report.runtime.name, version: report.runtime.version },
    executionProvider: report.executionProvider,
    memoryBudgetBytes: report.memoryBudgetBytes,
    totals: {
      loadMs: report.totals.loadMs,
      inferenceMs: report.totals.inferenceMs,
      peakRssBytes: report.totals.peakRssBytes,
    },
    files: report.files.map((f) => ({
      path: f.path,
      sha256: f.sha256,
      check: f.check,
      ...(f.executionProvider === undefined ? {} : { executionProvider: f.executionProvider }),
      ...(f.loadMs === undefined ? {} : { loadMs: f.loadMs }),
      ...(f.inferenceMs === undefined ? {} : { inferenceMs: f.inferenceMs }),
      ...(f.peakRssBytes === undefined ? {} : { peakRssBytes: f.peakRssBytes }),
      ...(f.gpuBytes === undefined ? {} : { gpuBytes: f.gpuBytes }),
      inputs: (f.fedInputs ?? []).map(({ name, type, shape, value, source }) => ({
        name,
        type,
        shape,
        value,
        source,
      })),
    })),
    nodeClassesFit: report.nodeClasses.filter((c) => c.fits).map((c) => c.nodeClass),
    validation: {
      startedAt: report.startedAt,
      finishedAt: report.finishedAt,
      durationMs: report.durationMs,
      attempt: report.attempt,
      worker: report.worker,
    },
  };
}

/** The validation attestation: the version's files as subjects, the verdict as the predicate. */
export function validationStatement(version: Version, report: ValidationReport): InTotoStatement {
  return {
    _type: IN_TOTO_STATEMENT_TYPE,
    subject: sortedFiles(version.files).map((f) => ({ name: f.path, digest: { sha256: f.sha256 } })),
    predicateType: VALIDATION_PREDICATE_TYPE,
    predicate: validationPredicate(version, report),
  };
}

/** The Sigstore bundle v0.3 of a signed payload; the public-key hint and the DSSE keyid are the key id. */
function bundleOf(payload: Buffer, sigBase64: string, keyId: string): SigningBundle {
  return {
    mediaType: SIGSTORE_BUNDLE_MEDIA_TYPE,
    verificationMaterial: { publicKey: { hint: keyId }, tlogEntries: [] },
    dsseEnvelope: {
      payload: payload.toString('base64'),
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      signatures: [{ sig: sigBase64, keyid: keyId }],
    },
  };
}

/** The DSSE payload of a Statement: its JSON, UTF-8. Deterministic: the builders fix the key order. */
const payloadOf = (statement: InTotoStatement) => Buffer.from(JSON.stringify(statement), 'utf8');

/** Signs PAE(in-toto type, payload); the signature in base64. */
async function signPayload(signer: Signer, payload: Buffer): Promise<string> {
  return Buffer.from(await signer.sign(pae(IN_TOTO_PAYLOAD_TYPE, payload))).toString('base64');
}

/** Signs a Statement into a Sigstore bundle v0.3 (DSSE envelope, ECDSA over the PAE). */
export async function signStatement(signer: Signer, statement: InTotoStatement): Promise<SigningBundle> {
  const keyId = keyIdOf(await signer.publicKeyPem());
  const payload = payloadOf(statement);
  return bundleOf(payload, await signPayload(signer, payload), keyId);
}

/** The two payloads of a version's verdict, built (format 1) from its files and the report that passed it. */
function verdictPayloads(version: Version, report: ValidationReport): { model: Buffer; validation: Buffer } {
  return {
    model: payloadOf(modelSigningStatement(`${version.model}@${version.version}`, version.files)),
    validation: payloadOf(validationStatement(version, report)),
  };
}

/**
 * Signs a VERIFIED verdict: `model.sig` over the files, `validation.sig` over the report. Returns what the
 * version record keeps (the signatures, not the payloads: `signedBundles` rebuilds them from the record).
 */
export async function signVerdict(
  signer: Signer,
  version: Version,
  report: ValidationReport,
  now: Date,
): Promise<VersionSignatures> {
  const keyId = keyIdOf(await signer.publicKeyPem());
  const payloads = verdictPayloads(version, report);
  return {
    format: 1,
    keyId,
    signedAt: now.toISOString(),
    model: { sig: await signPayload(signer, payloads.model) },
    validation: { sig: await signPayload(signer, payloads.validation) },
  };
}

/**
 * The two bundles of a signed version, rebuilt from its record: the payloads from its files and report
 * (the same builders that signed them), the signatures as stored. Null when it is not signed or has no
 * report. A record whose files or report changed since would not verify: nodes refuse it.
 */
export function signedBundles(version: Version): SignedBundles | null {
  const stored = version.signatures;
  if (!stored || !version.report) return null;
  const payloads = verdictPayloads(version, version.report);
  return {
    keyId: stored.keyId,
    signedAt: stored.signedAt,
    model: bundleOf(payloads.model, stored.model.sig, stored.keyId),
    validation: bundleOf(payloads.validation, stored.validation.sig, stored.keyId),
  };
}

/** Why a signature was refused, in words an operator can act on. */
/** A signature that does not hold; `file` names the file at fault (a bundle, or a file it disagrees on). */
export class SignatureError extends Error {
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(message);
    this.name = 'SignatureError';
  }
}

/** Runs `check`, naming `file` on a SignatureError that names none yet. */
export function blamingFile<T>(file: string, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof SignatureError && e.file === undefined) throw new SignatureError(e.message, file);
    throw e;
  }
}

/** A public key a node trusts, with its id. */
export interface TrustedKey {
  readonly keyId: string;
  readonly key: KeyObject;
}

const PEM_BLOCK = /-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g;

/**
 * Every `PUBLIC KEY` PEM block of `text` as a trusted key (several keys: rotation). SignatureError when
 * there is none, or one is not an ECDSA P-256 key.
 */
export function trustedKeysFromPem(text: string): TrustedKey[] {
  const blocks = text.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0)
    throw new SignatureError('no "-----BEGIN PUBLIC KEY-----" block in the trusted key text');
  return blocks.map((block, i) => {
    let key: KeyObject;
    try {
      key = createPublicKey(block);
    } catch (e) {
      throw new SignatureError(
        `trusted key ${i + 1} is not a valid PEM public key (${(e as Error).message})`,
      );
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
      throw new SignatureError(`trusted key ${i + 1} is not an ECDSA P-256 key`);
    return { keyId: keyIdOf(key), key };
  });
}

const short = (id: string) => id.slice(0, 16);

/**
 * Opens a bundle with the trusted keys: checks its shape (Sigstore bundle v0.3 with a DSSE envelope),
 * picks the key its hint names (all keys when it names none), verifies an ECDSA signature over
 * PAE(payloadType, payload), and parses the payload as an in-toto Statement of `predicateType`.
 * Returns the Statement and the id of the key that verified it; SignatureError otherwise.
 */
export function openBundle(
  raw: unknown,
  trusted: readonly TrustedKey[],
  predicateType: string,
): { statement: InTotoStatement; keyId: string } {
  const parsed = SigningBundle.safeParse(raw);
  if (!parsed.success)
    throw new SignatureError(
      `not a Sigstore bundle v0.3 with a DSSE envelope: ${parsed.error.issues[0]?.message}`,
    );
  const bundle = parsed.data;
  const hint = bundle.verificationMaterial.publicKey.hint;
  const candidates = hint ? trusted.filter((k) => k.keyId === hint) : trusted;
  if (candidates.length === 0)
    throw new SignatureError(
      `signed by key ${short(hint)}…, which is not one of the trusted keys (${trusted.map((k) => `${short(k.keyId)}…`).join(', ')})`,
    );
  const envelope = bundle.dsseEnvelope;
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    throw new SignatureError(`payload type is ${envelope.payloadType}, expected ${IN_TOTO_PAYLOAD_TYPE}`);
  const payload = Buffer.from(envelope.payload, 'base64');
  const message = pae(envelope.payloadType, payload);
  const signer = candidates.find((k) =>
    envelope.signatures.some((s) => {
      try {
        return verify('sha256', message, { key: k.key, dsaEncoding: 'der' }, Buffer.from(s.sig, 'base64'));
      } catch {
        return false;
      }
    }),
  );
  if (!signer)
    throw new SignatureError(
      'the signature does not verify with the trusted key: the bundle was altered or signed by another key',
    );
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new SignatureError('the signed payload is not JSON');
  }
  const statement = InTotoStatement.safeParse(json);
  if (!statement.success)
    throw new SignatureError(
      `the signed payload is not an in-toto Statement v1: ${statement.error.issues[0]?.message}`,
    );
  if (statement.data.predicateType !== predicateType)
    throw new SignatureError(`predicate type is ${statement.data.predicateType}, expected ${predicateType}`);
  return { statement: statement.data, keyId: signer.keyId };
}

/** At most this many differences are named in one error. */
const MAX_NAMED = 5;

/**
 * Compares what a signature lists (path → sha256) with the files at hand. SignatureError naming the
 * files the signature lacks, lists in addition, or gives another digest.
 */
function compareListed(
  listed: ReadonlyMap<string, string>,
  files: readonly SignedFile[],
  what: string,
): void {
  const problems: string[] = [];
  const paths: string[] = [];
  const local = new Map(files.map((f) => [f.path, f.sha256]));
  for (const [path, sha] of local) {
    const signed = listed.get(path);
    if (signed === undefined) problems.push(`${path} is not signed`);
    else if (signed !== sha) problems.push(`${path} has sha256 ${short(sha)}…, signed ${short(signed)}…`);
    else continue;
    paths.push(path);
  }
  for (const path of listed.keys())
    if (!local.has(path)) {
      problems.push(`${path} is signed but absent`);
      paths.push(path);
    }
  if (problems.length > 0)
    throw new SignatureError(
      `${what} lists other files or digests: ${problems.slice(0, MAX_NAMED).join('; ')}${problems.length > MAX_NAMED ? `; and ${problems.length - MAX_NAMED} more` : ''}`,
      paths[0],
    );
}

/**
 * Checks a model_signing Statement against files: a `files`/sha256 predicate, a subject digest that
 * matches the resources (model_signing's own consistency check), and exactly these files and digests.
 */
export function checkModelStatement(
  statement: InTotoStatement,
  files: readonly SignedFile[],
): ModelSigningPredicate {
  const predicate = ModelSigningPredicate.safeParse(statement.predicate);
  if (!predicate.success)
    throw new SignatureError(
      `model.sig: not a model_signing v1.0 files predicate: ${predicate.error.issues[0]?.message}`,
    );
  const { resources } = predicate.data;
  if (statement.subject.length !== 1) throw new SignatureError('model.sig: expected exactly one subject');
  if (rootDigest(resources.map((r) => r.digest)) !== statement.subject[0]!.digest.sha256)
    throw new SignatureError('model.sig: the subject digest does not match the resources it lists');
  const listed = new Map(resources.map((r) => [r.name, r.digest]));
  if (listed.size !== resources.length) throw new SignatureError('model.sig: a file is listed twice');
  compareListed(listed, files, 'model.sig');
  return predicate.data;
}

/**
 * Checks the validation attestation against files and the version it must be about: its subjects are
 * exactly these files and digests, its predicate is this project's, VERIFIED, about `ref` when given.
 */
export function checkValidationStatement(
  statement: InTotoStatement,
  files: readonly SignedFile[],
  ref?: { readonly model: string; readonly version: string },
): ValidationPredicate {
  const predicate = ValidationPredicate.safeParse(statement.predicate);
  if (!predicate.success)
    throw new SignatureError(
      `validation.sig: not a validation predicate: ${predicate.error.issues[0]?.message}`,
    );
  if (ref && (predicate.data.model !== ref.model || predicate.data.version !== ref.version))
    throw new SignatureError(
      `validation.sig attests ${predicate.data.model}@${predicate.data.version}, not ${ref.model}@${ref.version}`,
    );
  const listed = new Map(statement.subject.map((s) => [s.name, s.digest.sha256]));
  if (listed.size !== statement.subject.length)
    throw new SignatureError('validation.sig: a file is listed twice');
  compareListed(listed, files, 'validation.sig');
  return predicate.data;
}

/** What a full check of both signatures found: the key that signed them and the attested verdict. */
export interface VerifiedProvenance {
  readonly keyId: string;
  readonly modelName: string;
  readonly validation: ValidationPredicate;
}

/**
 * Verifies both bundles of a version against trusted keys and the files at hand (paths and sha256), and
 * that the attestation is about `ref` when given. SignatureError on the first thing that does not hold.
 */
export function verifyProvenance(
  bundles: { readonly model: unknown; readonly validation: unknown },
  trusted: readonly TrustedKey[],
  files: readonly SignedFile[],
  ref?: { readonly model: string; readonly version: string },
): VerifiedProvenance {
  const model = blamingFile(MODEL_SIG_FILE, () => {
    const opened = openBundle(bundles.model, trusted, MODEL_SIGNING_PREDICATE_TYPE);
    checkModelStatement(opened.statement, files);
    return opened;
  });
  const predicate = blamingFile(VALIDATION_SIG_FILE, () => {
    const opened = openBundle(bundles.validation, trusted, VALIDATION_PREDICATE_TYPE);
    return checkValidationStatement(opened.statement, files, ref);
  });
  return { keyId: model.keyId, modelName: model.statement.subject[0]!.name, validation: predicate };
}
