/**
 * The variable that names trusted keys when no `--verify-key` is given. A module of its own so that
 * `verify` without a key knows it needs no signature code (sigstore, the provenance schemas) at all.
 */
export const VERIFY_KEY_ENV = 'MODELGATE_VERIFY_KEY';

/** The trusted-key specs of a command: the values it was given, else MODELGATE_VERIFY_KEY; none when neither is set. */
export function trustedKeySpecs(given: readonly string[] | undefined, env: NodeJS.ProcessEnv): string[] {
  if (given && given.length > 0) return [...given];
  const fromEnv = env[VERIFY_KEY_ENV];
  return fromEnv ? [fromEnv] : [];
}

/**
 * The signature checks (verify-signature.ts), loaded only when the command has a trusted key to check
 * with (`trustedKeySpecs`): without one, sigstore and the provenance schemas never load.
 */
export async function signatureChecksFor(given: readonly string[] | undefined, env: NodeJS.ProcessEnv) {
  return trustedKeySpecs(given, env).length > 0 ? await import('./verify-signature.js') : undefined;
}
