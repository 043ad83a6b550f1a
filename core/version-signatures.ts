import {
  SIGNING_ALGORITHM,
  type SignaturesResponse,
  type SigningKeyResponse,
} from '../schemas/signature.schema.js';
import type { Version } from '../schemas/version.schema.js';
import { notFound, RegistryError } from './errors.js';
import type { RegistryDeps, VersionRef } from './ports.js';
import { keyIdOf, signedBundles, signVerdict } from './provenance.js';

/**
 * Signed provenance as use cases: the public key, a version's signatures with its current standing,
 * and signing a VERIFIED version that is not signed yet (on AWS the validator settles a version, and the
 * finalize step, which alone may use the key, signs it).
 */

/** The registry's public key. NOT_FOUND (details `signingKey`) on a registry without one. */
export async function getSigningKey(deps: Pick<RegistryDeps, 'signer'>): Promise<SigningKeyResponse> {
  if (!deps.signer)
    throw new RegistryError('NOT_FOUND', 'this registry has no signing key: its versions are not signed', {
      signingKey: null,
    });
  const publicKeyPem = await deps.signer.publicKeyPem();
  return { keyId: keyIdOf(publicKeyPem), algorithm: SIGNING_ALGORITHM, publicKeyPem };
}

/**
 * A version's two bundles and whether the registry still stands by the verdict: `revoked` once it is no
 * longer VERIFIED (quarantined, deprecated, or re-validating), `reason` saying why. NOT_FOUND (details
 * `model`, `version`, and `signatures: null` when the version exists unsigned).
 */
export async function getVersionSignatures(deps: RegistryDeps, ref: VersionRef): Promise<SignaturesResponse> {
  const version = await deps.metadata.getVersion(ref);
  if (!version) throw notFound(`version ${ref.model}@${ref.version}`, { ...ref });
  const signatures = signedBundles(version);
  if (!signatures)
    throw new RegistryError(
      'NOT_FOUND',
      `${ref.model}@${ref.version} is ${version.status} and has no signatures (only VERIFIED versions are signed)`,
      { ...ref, signatures: null },
    );
  const revoked = version.status !== 'VERIFIED';
  const reason = revoked ? revocationReason(version) : undefined;
  return {
    model: version.model,
    version: version.version,
    status: version.status,
    revoked,
    ...(reason ? { reason } : {}),
    signatures,
  };
}

function revocationReason(version: Version): string {
  const why = version.deprecation?.reason ?? version.statusReason?.message;
  return why ? `${version.status}: ${why}` : version.status;
}

/**
 * Signs a VERIFIED version that has a report and no signatures yet, conditionally on it still being
 * VERIFIED. Returns the version as stored, or null when there is nothing to sign (no signer, not
 * VERIFIED, already signed, or it changed meanwhile).
 */
export async function signVerifiedVersion(deps: RegistryDeps, version: Version): Promise<Version | null> {
  if (!deps.signer || version.status !== 'VERIFIED' || version.signatures || !version.report) return null;
  const signatures = await signVerdict(deps.signer, version, version.report, deps.clock.now());
  try {
    return await deps.metadata.updateVersion(version, { status: ['VERIFIED'] }, { signatures });
  } catch (e) {
    if (e instanceof RegistryError && e.code === 'CONFLICT') return null;
    throw e;
  }
}
