import { readFileSync } from 'node:fs';
import { App, type AppProps, Tags, Validations } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { repoPath } from './paths.js';
import { readSettings } from './settings.js';
import { ApiStack } from './stacks/api-stack.js';
import { ObservabilityStack } from './stacks/observability-stack.js';
import { StatefulStack } from './stacks/stateful-stack.js';
import { ValidationStack } from './stacks/validation-stack.js';

export interface ModelgateStacks {
  readonly stateful: StatefulStack;
  readonly validation: ValidationStack;
  readonly api: ApiStack;
  readonly observability: ObservabilityStack;
}

/**
 * The context of cdk.json (feature flags and defaults). The CLI passes it to the app itself, but a
 * test's `new App()` or a plain `tsx cdk/app.ts` would not read it: every App gets it here, and
 * context given by the CLI (`-c`) still takes precedence.
 */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(repoPath('cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

export function createApp(props: AppProps = {}): App {
  return new App({ ...props, context: { ...cdkJsonContext(), ...props.context } });
}

/**
 * The whole deployment: one stateful stack and three stateless ones, all environment-agnostic (no
 * account or region: synth never calls AWS), checked by cdk-nag's AwsSolutions pack on every synth.
 */
export function addModelgateStacks(app: App): ModelgateStacks {
  const settings = readSettings(app);
  const logRetention = settings.logRetentionDays as RetentionDays;
  const p = settings.stackPrefix;
  const stateful = new StatefulStack(app, `${p}-Stateful`, {
    description: 'modelgate: registry table and blob bucket (retained)',
  });
  const validation = new ValidationStack(app, `${p}-Validation`, {
    description: 'modelgate: GPU validation capacity and Step Functions pipeline',
    stateful,
    settings,
    logRetention,
  });
  const api = new ApiStack(app, `${p}-Api`, {
    description: 'modelgate: HTTP API, route Lambdas and IAM access policies',
    stateful,
    validationStateMachine: validation.pipeline.stateMachine,
    settings,
    logRetention,
  });
  const observability = new ObservabilityStack(app, `${p}-Observability`, {
    description: 'modelgate: alarms and the CAD ML Platform - Observability dashboard',
    api,
    validation,
    settings,
  });
  Tags.of(app).add('project', 'modelgate');
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { stateful, validation, api, observability };
}
