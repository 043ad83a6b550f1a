import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { Observability } from '../constructs/observability.js';
import { accountWideNamePrefix, type ModelgateSettings } from '../settings.js';
import type { ApiStack } from './api-stack.js';
import type { ValidationStack } from './validation-stack.js';

export interface ObservabilityStackProps extends StackProps {
  readonly api: ApiStack;
  readonly validation: ValidationStack;
  readonly settings: ModelgateSettings;
}

/** Alarms and the "CAD ML Platform - Observability" dashboard over the other stacks. */
export class ObservabilityStack extends Stack {
  readonly observability: Observability;

  constructor(scope: Construct, id: string, props: ObservabilityStackProps) {
    super(scope, id, props);
    const pipeline = props.validation.pipeline;
    const functions = new Map<string, import('aws-cdk-lib/aws-lambda').IFunction>();
    for (const [group, fn] of props.api.registryApi.functions)
      functions.set(`Api${group.charAt(0).toUpperCase()}${group.slice(1)}`, fn);
    functions.set('ValidationPrecheck', pipeline.precheckFunction);
    functions.set('ValidationFinalize', pipeline.finalizeFunction);
    this.observability = new Observability(this, 'Observability', {
      metricsNamespace: props.settings.metricsNamespace,
      namePrefix: accountWideNamePrefix(props.settings),
      functions,
      blockedJobs: props.validation.capacity.blockedRule,
      stateMachine: pipeline.stateMachine,
      failedExecutions: pipeline.failedExecutions,
      api: props.api.registryApi.api,
      validationFailureThreshold: props.settings.validationFailureAlarmThreshold,
      alarmEmail: props.settings.alarmEmail,
    });
  }
}
