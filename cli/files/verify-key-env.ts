/**
 * The variable that names trusted keys when no `--verify-key` is given. A module of its own so that
 * `verify` without a key knows it needs no signature code (sigstore, the provenance schemas) at all.
 */
export const VERIFY_KEY_ENV = 'MODELGATE_VERIFY_KEY';
