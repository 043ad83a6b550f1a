/**
 * Signed URLs (the local blob endpoint's `?size&expires&sig`, S3's `X-Amz-Signature`) grant access for
 * their lifetime to whoever holds them, without a token: their query strings must never reach a log
 * line. `redactUrlQueries` replaces the query of every absolute http(s) URL in `text`, and of any
 * relative URL whose query carries a signature, with `?<redacted>`; the path stays, so a line still says
 * which blob it was about.
 */
const ABSOLUTE_URL_QUERY = /\b(https?:\/\/[^\s"'<>?#\\]+)\?[^\s"'<>#\\]*/gi;
const SIGNED_QUERY = /\?[^\s"'<>#\\]*?\b(?:sig|signature|x-amz-signature|x-amz-credential)=[^\s"'<>#\\]*/gi;
export const REDACTED_QUERY = '?<redacted>';

export function redactUrlQueries(text: string): string {
  return text.replace(ABSOLUTE_URL_QUERY, `$1${REDACTED_QUERY}`).replace(SIGNED_QUERY, REDACTED_QUERY);
}
