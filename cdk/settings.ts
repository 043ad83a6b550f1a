import type { Construct } from 'constructs';
import { CdkContext } from '../schemas/config.schema.js';

/**
 * Deployment knobs, read from CDK context (`cdk.json` or `-c key=value`): the schema, with every
 * default, unit and bound, is `CdkContext` in schemas/config.schema.ts.
 */
export type ModelgateSettings = Readonly<CdkContext>;

/** Every knob at its default: what `cdk synth` uses with no context. */
export const DEFAULT_SETTINGS: ModelgateSettings = CdkContext.parse({});

/**
 * The app's settings from its context, parsed once, strictly: a typo in a number fails the synth
 * instead of deploying a cluster of size NaN. Throws naming the context key, its value and the rule.
 */
export function readSettings(scope: Construct): ModelgateSettings {
  const raw = Object.fromEntries(
    Object.keys(CdkContext.shape).map((key) => [key, scope.node.tryGetContext(key)]),
  );
  const parsed = CdkContext.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const key = String(issue.path[0] ?? '(context)');
  throw new Error(`context ${key}=${JSON.stringify(raw[key])}: ${issue.message}`);
}

/**
 * The prefix of the names that are account-wide (IAM managed policies, the dashboard), so that two
 * copies of the app (different `stackPrefix`) can live in one account: `policyNamePrefix` when given
 * (even ''), else `<stackPrefix>-`.
 */
export const accountWideNamePrefix = (settings: ModelgateSettings): string =>
  settings.policyNamePrefix ?? `${settings.stackPrefix}-`;
