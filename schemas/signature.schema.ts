import { z } from 'zod';
import { InputSource } from './report.schema.js';

/**
 * Signed provenance: the formats the registry signs a VERIFIED version in, and the API shapes that
 * serve them. Both signatures are Sigstore bundles (v0.3, JSON) holding a DSSE envelope over an in-toto
 * Statement v1, signed with ECDSA P-256 over SHA-256 (DER signature), exactly as the OpenSSF Model
 * Signing specification's `model_signing` (sigstore/model-transparency) writes a key-signed model:
 *
 * - `model.sig`: predicate `https://model_signing/signature/v1.0`, every file of the version as a
 *   resource (path relative to the version root, sha256), the subject a digest over all of them.
 * - `validation.sig`: predicate VALIDATION_PREDICATE_TYPE (this project's), the same files as
 *   subjects, the validation verdict and its measurements as the predicate.
 *
 * Sources: DSSE v1.0 protocol (secure-systems-lab/dsse), in-toto attestation spec v1 (Statement,
 * ResourceDescriptor), Sigstore bundle v0.3 (sigstore/protobuf-specs `Bundle`), model_signing
 * `_signing/signing.py` (`Payload`) and `sign_ec_key.py` (the key hint).
 */

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const MODEL_SIGNING_PREDICATE_TYPE = 'https://model_signing/signature/v1.0';
/**
 * This project's predicate type for the validation attestation: version 1 of the `ValidationPredicate`
 * below. A verifier that does not know it can still check the envelope and the subjects.
 */
export const VALIDATION_PREDICATE_TYPE = 'https://modelgate.dev/attestation/validation/v1';
export const SIGSTORE_BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** The only signature algorithm the registry signs with: ECDSA on NIST P-256 over SHA-256, DER-encoded. */
export const SIGNING_ALGORITHM = 'ECDSA_P256_SHA256';
/** The file names a fetched folder carries the two bundles under (`model.sig` is model_signing's own). */
export const MODEL_SIG_FILE = 'model.sig';
export const VALIDATION_SIG_FILE = 'validation.sig';

/**
 * A key id: the lower-case hex SHA-256 of the public key's PEM (SubjectPublicKeyInfo) text, as
 * model_signing puts it in `verificationMaterial.publicKey.hint`.
 */
export const KeyId = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits');
export type KeyId = z.infer<typeof KeyId>;

const Base64 = z
  .string()
  .max(16 * 1024 * 1024)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be standard base64');

/** A DSSE signature: base64 of the DER ECDSA signature over PAE(payloadType, payload); `keyid` optional. */
export const DsseSignature = z.object({ sig: Base64.min(1), keyid: z.string().max(200).optional() });
/** A DSSE envelope (JSON form): base64 payload, its type, one or more signatures. */
export const DsseEnvelope = z.object({
  payload: Base64.min(1),
  payloadType: z.string().min(1).max(200),
  signatures: z.array(DsseSignature).min(1).max(16),
});
export type DsseEnvelope = z.infer<typeof DsseEnvelope>;

/**
 * The subset of a Sigstore bundle v0.3 the registry writes and reads: a public-key hint (no certificate,
 * no transparency log: the trust is the key a node was given) and the DSSE envelope.
 */
export const SigningBundle = z.object({
  mediaType: z.literal(SIGSTORE_BUNDLE_MEDIA_TYPE),
  verificationMaterial: z.object({
    publicKey: z.object({ hint: z.string().max(200) }),
    tlogEntries: z.array(z.unknown()).max(0).default([]),
  }),
  dsseEnvelope: DsseEnvelope,
});
export type SigningBundle = z.infer<typeof SigningBundle>;

/** An in-toto ResourceDescriptor as a subject: a name and its sha256. */
export const StatementSubject = z.object({
  name: z.string().min(1).max(1024),
  digest: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
});
/** An in-toto Statement v1 with any predicate. */
export const InTotoStatement = z.object({
  _type: z.literal(IN_TOTO_STATEMENT_TYPE),
  subject: z.array(StatementSubject).min(1).max(100_000),
  predicateType: z.string().min(1).max(500),
  predicate: z.record(z.string(), z.unknown()),
});
export type InTotoStatement = z.infer<typeof InTotoStatement>;

/** One file of a model_signing predicate: its path in the model, the algorithm and the hex digest. */
export const ModelSigningResource = z.object({
  name: z.string().min(1).max(1024),
  algorithm: z.literal('sha256'),
  digest: z.string().regex(/^[0-9a-f]{64}$/),
});
/**
 * model_signing's predicate v1.0 for the `files` serialization: how the model was hashed and every
 * file's digest, sorted by path. `ignore_paths` lists the files beside the model that are not part of it.
 */
export const ModelSigningPredicate = z.object({
  serialization: z.object({
    method: z.literal('files'),
    hash_type: z.literal('sha256'),
    allow_symlinks: z.boolean(),
    ignore_paths: z.array(z.string()).optional(),
  }),
  resources: z.array(ModelSigningResource).max(100_000),
});
export type ModelSigningPredicate = z.infer<typeof ModelSigningPredicate>;

/** One file's measurements in the validation attestation (times in ms, memory in bytes). */
export const ValidationPredicateFile = z.object({
  path: z.string(),
  sha256: z.string(),
  check: z.enum(['loaded', 'inspected', 'integrity-only']),
  executionProvider: z.string().optional(),
  loadMs: z.number().nonnegative().optional(),
  inferenceMs: z.number().nonnegative().optional(),
  peakRssBytes: z.number().int().nonnegative().optional(),
  gpuBytes: z.number().int().nonnegative().optional(),
  /** The inputs the deciding smoke run fed: name, type, shape, a short description of the values, source. */
  inputs: z.array(
    z.object({
      name: z.string(),
      type: z.string(),
      shape: z.array(z.number().int().nonnegative()),
      value: z.string(),
      source: InputSource,
    }),
  ),
});

/**
 * The validation attestation's predicate (VALIDATION_PREDICATE_TYPE): which version, the verdict, the
 * runtime and execution provider that loaded it, per file the peak memory, load and inference times and
 * the inputs used, the node classes it fits (peak × 1.5 ≤ memory), and when it was validated (ISO 8601).
 */
export const ValidationPredicate = z.object({
  model: z.string(),
  version: z.string(),
  provider: z.string(),
  seq: z.number().int().positive(),
  verdict: z.literal('VERIFIED'),
  loadTested: z.boolean(),
  runtime: z.object({ name: z.string(), version: z.string() }),
  executionProvider: z.string(),
  memoryBudgetBytes: z.number().int().positive(),
  totals: z.object({
    loadMs: z.number().nonnegative(),
    inferenceMs: z.number().nonnegative(),
    peakRssBytes: z.number().int().nonnegative(),
  }),
  files: z.array(ValidationPredicateFile),
  nodeClassesFit: z.array(z.string()),
  validation: z.object({
    startedAt: z.string(),
    finishedAt: z.string(),
    durationMs: z.number().nonnegative(),
    attempt: z.number().int().positive(),
    worker: z.string(),
  }),
});
export type ValidationPredicate = z.infer<typeof ValidationPredicate>;

/**
 * What a version record keeps of its signatures: the key, when, and the two DER signatures (base64).
 * Not the payloads: both Statements are rebuilt from the record itself (its files and its report) by
 * core/provenance.ts's builders, byte for byte, so a signed record grows by a few hundred bytes instead of
 * twice its manifest (a DynamoDB item holds 400 KB). `format` names the builders' version: a change to
 * what they write is a new format, and records of the old one keep being rebuilt the old way.
 */
export const VersionSignatures = z.object({
  format: z.literal(1),
  keyId: KeyId,
  signedAt: z.string(),
  model: z.object({ sig: Base64.min(1).max(200) }),
  validation: z.object({ sig: Base64.min(1).max(200) }),
});
export type VersionSignatures = z.infer<typeof VersionSignatures>;

/** A version's two bundles as nodes receive them (`model.sig`, `validation.sig`), the key and when. */
export const SignedBundles = z.object({
  keyId: KeyId,
  signedAt: z.string(),
  model: SigningBundle,
  validation: SigningBundle,
});
export type SignedBundles = z.infer<typeof SignedBundles>;

/** `GET /api/v1/signing-key`: the registry's public key. */
export const SigningKeyResponse = z.object({
  keyId: KeyId,
  algorithm: z.literal(SIGNING_ALGORITHM),
  publicKeyPem: z.string(),
});
export type SigningKeyResponse = z.infer<typeof SigningKeyResponse>;

/**
 * `GET …/versions/{version}/signatures`: the bundles and the version's current status. The signatures
 * are about bytes and a verdict at a time; quarantine, deprecation or a failed re-validation do not
 * re-sign, so `revoked` says the registry no longer stands by the verdict (`reason`: why).
 */
export const SignaturesResponse = z.object({
  model: z.string(),
  version: z.string(),
  /** The version's status now (a VersionStatus). */
  status: z.string(),
  revoked: z.boolean(),
  reason: z.string().optional(),
  signatures: SignedBundles,
});
export type SignaturesResponse = z.infer<typeof SignaturesResponse>;
