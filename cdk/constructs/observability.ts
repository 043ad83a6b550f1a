import { Duration } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IAlarm,
  MathExpression,
  Metric,
  PeriodOverride,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IRule } from 'aws-cdk-lib/aws-events';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { METRIC, METRIC_DIMENSIONS } from '../../lambdas/aws/metric-names.js';

/**
 * The dashboard's title, exactly as runbooks name it. CloudWatch dashboard *names* may only contain
 * letters, digits, `-` and `_` (PutDashboard rejects spaces), so the name is the title with each run
 * of other characters made one `-`, and the exact title is the dashboard's heading.
 */
export const DASHBOARD_TITLE = 'CAD ML Platform - Observability';
export const DASHBOARD_NAME = DASHBOARD_TITLE.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/-+/g, '-');
export const PROVIDER_HEALTH_PANEL = 'Provider Health Score';

export interface ObservabilityProps {
  /** Namespace of the registry's EMF metrics (lambdas/aws/metric-names.ts); the stack passes `ocr`. Required. */
  readonly metricsNamespace: string;
  /**
   * Prefix of the dashboard's name, which is account-wide: two copies of the app in one account need
   * different prefixes.
   * @default '' - the dashboard is named DASHBOARD_NAME
   */
  readonly namePrefix?: string;
  /**
   * The EventBridge rule that matches "Batch Job Queue Blocked" events of the validation queue: any
   * match raises an alarm (jobs stuck RUNNABLE: a G-instance vCPU quota of 0, no capacity).
   * @default - no such alarm
   */
  readonly blockedJobs?: IRule;
  /** The API's functions by route group: each gets an error alarm and dashboard graphs. Required. */
  readonly functions: ReadonlyMap<string, IFunction>;
  /** The validation state machine: its failed, timed-out and aborted executions are alarmed on. Required. */
  readonly stateMachine: IStateMachine;
  /** The dead-letter queue of failed validation executions: any message raises an alarm. Required. */
  readonly failedExecutions: IQueue;
  /** The HTTP API: repeated 5xx answers raise an alarm; traffic and p99 latency are graphed. Required. */
  readonly api: IHttpApi;
  /** Validation failures (any code) per hour that raise the alarm. Required. */
  readonly validationFailureThreshold: number;
  /**
   * An address subscribed to the alarm topic.
   * @default - no subscription: the alarms only go to the topic
   */
  readonly alarmEmail?: string | undefined;
}

/**
 * Alarms and the operators' dashboard. Every alarm notifies one of two SNS topics (encrypted with a key
 * that CloudWatch may use, which the AWS-managed SNS key does not allow):
 * - `pageTopic`: on-call. Serving nodes cannot load a model (field MODEL_LOAD_ERROR reports) or the
 *   registry itself is broken (Lambdas, API, validation infrastructure).
 * - `ticketTopic`: not paging. Candidates the registry refused (`validation_failures`): the gate did its
 *   job and no node received them (DESIGN.md "What the runbook's signals mean").
 */
export class Observability extends Construct {
  readonly alarms: IAlarm[] = [];
  /** Alarms that notify `ticketTopic` (a subset of `alarms`). */
  readonly ticketAlarms: IAlarm[] = [];
  readonly dashboard: Dashboard;
  readonly pageTopic: Topic;
  readonly ticketTopic: Topic;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const key = new Key(this, 'AlarmTopicKey', {
      enableKeyRotation: true,
      description: 'modelgate alarm topic: lets CloudWatch publish to the encrypted topic',
    });
    key.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    // The page topic keeps the construct id it always had, so an update does not replace it.
    this.pageTopic = new Topic(this, 'AlarmTopic', {
      masterKey: key,
      enforceSSL: true,
      displayName: 'modelgate alarms (page)',
    });
    this.ticketTopic = new Topic(this, 'TicketTopic', {
      masterKey: key,
      enforceSSL: true,
      displayName: 'modelgate notices (ticket, not paging)',
    });
    if (props.alarmEmail)
      for (const t of [this.pageTopic, this.ticketTopic])
        t.addSubscription(new EmailSubscription(props.alarmEmail));
    const page = new SnsAction(this.pageTopic);
    const ticket = new SnsAction(this.ticketTopic);
    const ns = JSON.stringify(props.metricsNamespace);
    // Every query names the metric's exact dimension set (Powertools' `service` included): CloudWatch
    // matches dimension sets exactly, and a query for another set selects nothing and never alarms.
    const schemaOf = (metric: keyof typeof METRIC_DIMENSIONS) =>
      `SCHEMA(${ns}, ${METRIC_DIMENSIONS[metric].join(', ')})`;

    const alarm = (
      id: string,
      description: string,
      a: Omit<ConstructorParameters<typeof Alarm>[2], 'alarmDescription'>,
      severity: 'page' | 'ticket' = 'page',
    ) => {
      const created = new Alarm(this, id, {
        alarmDescription: description,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        ...a,
      });
      created.addAlarmAction(severity === 'page' ? page : ticket);
      this.alarms.push(created);
      if (severity === 'ticket') this.ticketAlarms.push(created);
      return created;
    };

    // --- validation pipeline ---
    const period = Duration.minutes(5);
    alarm(
      'ValidationExecutionsFailed',
      'A validation execution failed, timed out or was aborted (infrastructure: capacity, image, task). See the failed-executions queue.',
      {
        metric: new MathExpression({
          expression: 'failed + timedOut + aborted',
          usingMetrics: {
            failed: props.stateMachine.metricFailed({ period }),
            timedOut: props.stateMachine.metricTimedOut({ period }),
            aborted: props.stateMachine.metricAborted({ period }),
          },
          period,
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      },
    );
    // Refused candidates never reached a node: a ticket, never a page (and never the `errors` metric).
    alarm(
      'ValidationFailures',
      `Not paging: at least ${props.validationFailureThreshold} candidate versions were refused by validation within an hour (metric validation_failures, any code). No node received them; many at once suggest a broken runtime image or node class rather than bad models.`,
      {
        // Metrics Insights sums over every `code` without listing the codes (a math alarm takes at most 10 metrics).
        metric: new MathExpression({
          expression: `SELECT SUM(${METRIC.validationFailures}) FROM ${schemaOf(METRIC.validationFailures)}`,
          period: Duration.hours(1),
          label: 'validation failures',
        }),
        threshold: props.validationFailureThreshold,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      },
      'ticket',
    );
    if (props.blockedJobs) {
      alarm(
        'ValidationJobsBlocked',
        'Validation jobs are stuck RUNNABLE at the head of the GPU queue ("Batch Job Queue Blocked": no capacity for any instance type, a G-instance vCPU quota of 0, or no instance type that fits the job). See cdk/README.md "GPU quota"; blocked jobs are cancelled after validationQueueTimeoutMinutes and their versions released.',
        {
          metric: new Metric({
            namespace: 'AWS/Events',
            metricName: 'MatchedEvents',
            dimensionsMap: { RuleName: props.blockedJobs.ruleName },
            statistic: 'Sum',
            period,
          }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        },
      );
    }
    alarm(
      'FailedExecutionsQueueNotEmpty',
      'Failed validation executions are waiting in the dead-letter queue.',
      {
        metric: props.failedExecutions.metricApproximateNumberOfMessagesVisible({
          period,
          statistic: 'Maximum',
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      },
    );

    // --- field reports: the runbook's MODEL_LOAD_ERROR ---
    alarm(
      'ModelLoadErrors',
      'Serving nodes reported MODEL_LOAD_ERROR (metric `errors`, any `code`; field reports only): follow RUNBOOK-MODEL_LOAD_ERROR.',
      {
        metric: new MathExpression({
          expression: `SELECT SUM(${METRIC.fieldErrors}) FROM ${schemaOf(METRIC.fieldErrors)}`,
          period,
          label: 'MODEL_LOAD_ERROR reports',
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      },
    );

    // --- Lambdas and API ---
    for (const [name, fn] of props.functions) {
      alarm(`${name}Errors`, `The ${name} Lambda threw (unhandled errors, timeouts or out-of-memory).`, {
        metric: fn.metricErrors({ period }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      });
    }
    alarm('Api5xx', 'The registry API answered 5xx repeatedly.', {
      metric: props.api.metricServerError({ period }),
      threshold: 5,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });

    // --- dashboard ---
    const search = (metric: keyof typeof METRIC_DIMENSIONS, stat: string, label: string) =>
      new MathExpression({
        expression: `SEARCH('{${ns},${METRIC_DIMENSIONS[metric].join(',')}} MetricName="${metric}"', '${stat}', 300)`,
        label,
        period,
      });
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `${props.namePrefix ?? ''}${DASHBOARD_NAME}`,
      periodOverride: PeriodOverride.AUTO,
    });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# ${DASHBOARD_TITLE}\nmodelgate: registry API, validation pipeline and MODEL_LOAD_ERROR field reports. Metric names: \`lambdas/aws/metric-names.ts\`.`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: PROVIDER_HEALTH_PANEL,
        left: [search(METRIC.providerHealthScore, 'Minimum', '')],
        leftYAxis: { min: 0, max: 100, label: 'score' },
        width: 12,
      }),
      new GraphWidget({
        title: 'MODEL_LOAD_ERROR field reports by code',
        left: [search(METRIC.fieldErrors, 'Sum', '')],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Refused candidates (validation failures) by code',
        left: [search(METRIC.validationFailures, 'Sum', '')],
        width: 8,
      }),
      new GraphWidget({
        title: 'Validation executions',
        left: [
          props.stateMachine.metricSucceeded({ period }),
          props.stateMachine.metricFailed({ period }),
          props.stateMachine.metricTimedOut({ period }),
        ],
        right: [
          props.failedExecutions.metricApproximateNumberOfMessagesVisible({ period, label: 'DLQ depth' }),
        ],
        width: 8,
      }),
      new GraphWidget({
        title: 'API requests and errors',
        left: [
          props.api.metricCount({ period }),
          props.api.metricClientError({ period }),
          props.api.metricServerError({ period }),
        ],
        right: [props.api.metricLatency({ period, statistic: 'p99' })],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Lambda errors',
        left: [...props.functions].map(([name, fn]) => fn.metricErrors({ period, label: name })),
        width: 12,
      }),
      new GraphWidget({
        title: 'Lambda duration p99',
        left: [...props.functions].map(([name, fn]) =>
          fn.metricDuration({ period, statistic: 'p99', label: name }),
        ),
        width: 12,
      }),
    );
    if (props.blockedJobs)
      this.dashboard.addWidgets(
        new GraphWidget({
          title: 'Validation jobs blocked in the GPU queue (vCPU quota, capacity)',
          left: [
            new Metric({
              namespace: 'AWS/Events',
              metricName: 'MatchedEvents',
              dimensionsMap: { RuleName: props.blockedJobs.ruleName },
              statistic: 'Sum',
              period,
              label: 'Batch Job Queue Blocked events',
            }),
          ],
          width: 24,
        }),
      );
    this.dashboard.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24 }));
  }
}
