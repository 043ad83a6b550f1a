import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { RegistryError } from '../../core/errors.js';
import type { ReportSender } from '../../core/load-reports.js';

/**
 * The caller's identity as API Gateway's IAM authorizer puts it in the event
 * (`requestContext.authorizer.iam.userArn`); the local server puts its token principals there the same
 * way (local/auth.ts), `modelgate:node:…` for a fleet's node token, and OPEN_PRINCIPAL when it runs
 * without tokens on loopback.
 */
export const OPEN_PRINCIPAL = 'modelgate:open';
export const FLEET_PRINCIPAL_PREFIX = 'modelgate:node:';

export function principalOf(event: APIGatewayProxyEventV2): string | null {
  const context = event.requestContext as { authorizer?: { iam?: { userArn?: unknown } } };
  const arn = context.authorizer?.iam?.userArn;
  return typeof arn === 'string' && arn.length > 0 ? arn : null;
}

/** Who sent a field report. No identity at all is refused (401): a report must be attributable. */
export function reportSenderOf(event: APIGatewayProxyEventV2): ReportSender {
  const principal = principalOf(event);
  if (principal === null)
    throw new RegistryError('UNAUTHORIZED', 'a field report needs an authenticated caller (IAM or a token)');
  if (principal === OPEN_PRINCIPAL) return { principal: null, fleet: false };
  return { principal, fleet: principal.startsWith(FLEET_PRINCIPAL_PREFIX) };
}

/**
 * Who published a version: the authenticated caller's identity (an IAM ARN or `modelgate:ROLE:HASH`)
 * when there is one, since a name in the body is only a claim; on an open server, the name the client
 * sent (the CLI's `--publisher`, else the OS user).
 */
export function publisherOf(event: APIGatewayProxyEventV2, claimed: string): string {
  const principal = principalOf(event);
  return principal === null || principal === OPEN_PRINCIPAL ? claimed : principal;
}
