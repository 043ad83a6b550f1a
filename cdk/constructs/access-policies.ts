import { ArnFormat, Stack } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { ManagedPolicy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ROUTES, type Route } from '../../lambdas/routes.js';
import { ROLE_POLICY_NAMES, routeResourcePath } from '../execute-api.js';
import { acknowledgeWildcards, escapeRegExp } from '../nag.js';

export interface AccessPoliciesProps {
  readonly api: IHttpApi;
  readonly stageName: string;
  /** Prepended to the policy names (IAM names are account-wide). */
  readonly namePrefix: string;
}

/**
 * The three IAM managed policies users and roles attach: `ModelReader`, `ModelPublisher` and
 * `RegistryAdmin`, each `execute-api:Invoke` on exactly the routes of lambdas/routes.ts whose `role`
 * it is (declared with the route's method, path and schemas in lambdas/api/). Users never need S3 or DynamoDB rights: presigned URLs carry the signing Lambda's rights.
 * Roles are not cumulative; a publisher who also reads attaches both policies.
 */
export class AccessPolicies extends Construct {
  readonly policies: Readonly<Record<Route['role'], ManagedPolicy>>;

  constructor(scope: Construct, id: string, props: AccessPoliciesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const arnOf = (route: Route) =>
      stack.formatArn({
        service: 'execute-api',
        resource: props.api.apiId,
        resourceName: `${props.stageName}/${routeResourcePath(route)}`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      });
    const make = (role: Route['role'], description: string) => {
      const routes = ROUTES.filter((r) => r.role === role);
      return new ManagedPolicy(this, ROLE_POLICY_NAMES[role], {
        managedPolicyName: `${props.namePrefix}${ROLE_POLICY_NAMES[role]}`,
        description,
        statements: [
          new PolicyStatement({
            sid: `Invoke${ROLE_POLICY_NAMES[role]}Routes`,
            actions: ['execute-api:Invoke'],
            resources: routes.map(arnOf),
          }),
        ],
      });
    };
    // Only the `*` that stand for path parameters (…/{name}/… → …/*/…) of this stage's routes.
    acknowledgeWildcards(
      this,
      new RegExp(
        `^Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<[A-Za-z0-9]+>/${escapeRegExp(props.stageName)}/(GET|POST|PUT|DELETE)/api/`,
      ),
      'Each * stands for one path parameter of a route in lambdas/routes.ts (model name, version, alias, ref), none of which can contain "/"; the method and every literal path segment are fixed.',
    );
    this.policies = {
      reader: make(
        'reader',
        'modelgate: read models, versions, reports and aliases; resolve and download verified versions',
      ),
      publisher: make('publisher', 'modelgate: create models, publish and commit versions'),
      admin: make('admin', 'modelgate: set and delete aliases, re-validate versions, operate providers'),
    };
  }
}
