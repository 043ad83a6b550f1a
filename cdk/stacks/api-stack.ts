import { Stack, type StackProps } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { AccessPolicies } from '../constructs/access-policies.js';
import { RegistryApi } from '../constructs/registry-api.js';
import { accountWideNamePrefix, type ModelgateSettings } from '../settings.js';
import type { StatefulStack } from './stateful-stack.js';

export interface ApiStackProps extends StackProps {
  readonly stateful: StatefulStack;
  readonly validationStateMachine: IStateMachine;
  readonly settings: ModelgateSettings;
  readonly logRetention: RetentionDays;
}

/** The HTTP API, its Lambdas, and the managed policies that say who may call which route. */
export class ApiStack extends Stack {
  readonly registryApi: RegistryApi;
  readonly accessPolicies: AccessPolicies;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { stateful, settings } = props;
    this.registryApi = new RegistryApi(this, 'RegistryApi', {
      table: stateful.registry.table,
      gsiNames: [stateful.registry.gsi1IndexName, stateful.registry.gsi2IndexName],
      bucket: stateful.blobs.bucket,
      keyLayout: stateful.blobs.keyLayout,
      validationStateMachine: props.validationStateMachine,
      metricsNamespace: settings.metricsNamespace,
      nodeClassesJson: JSON.stringify(settings.nodeClasses),
      logRetention: props.logRetention,
      signingKey: stateful.signingKey,
    });
    this.accessPolicies = new AccessPolicies(this, 'AccessPolicies', {
      api: this.registryApi.api,
      stageName: this.registryApi.stage.stageName,
      namePrefix: accountWideNamePrefix(settings),
    });
  }
}
