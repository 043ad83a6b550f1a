import { Duration, Validations } from 'aws-cdk-lib';
import {
  type ComputeEnvironmentBase,
  EcsMachineImageType,
  JobQueue,
  JobStateTimeLimitActionsAction,
  JobStateTimeLimitActionsReason,
  ManagedEc2EcsComputeEnvironment,
} from 'aws-cdk-lib/aws-batch';
import {
  BlockDeviceVolume,
  EbsDeviceVolumeType,
  FlowLogDestination,
  FlowLogTrafficType,
  GatewayVpcEndpointAwsService,
  InstanceType,
  type IVpc,
  LaunchTemplate,
  SecurityGroup,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import { Rule } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface GpuCapacityProps {
  /**
   * EC2 instance types the compute environments may launch (e.g. `g6.xlarge`, `g5.xlarge`,
   * `g4dn.xlarge`): several, so that a shortage of one type does not stop validation. Required.
   */
  readonly instanceTypes: readonly string[];
  /** Most vCPUs each compute environment runs at once (it scales to zero when idle). Required. */
  readonly maxVcpus: number;
  /**
   * Add a Spot compute environment after the on-demand one in the queue's order: jobs go to Spot only
   * while on-demand is at `maxVcpus`. A reclaimed Spot host is a host failure, which the job retries.
   * @default false
   */
  readonly spot?: boolean;
  /** Root volume size in GiB: the container image and the validation scratch space share it. Required. */
  readonly diskGiB: number;
  /**
   * A job blocked at the head of the queue (no capacity, no instance type that fits, maxVcpus too
   * small) is cancelled after this long; the state machine then releases the version. Between 10
   * minutes and 24 hours (Batch's bounds). Required.
   */
  readonly blockedJobTimeout: Duration;
  /** How long the VPC flow logs are kept. Required. */
  readonly logRetention: RetentionDays;
}

/**
 * Where validation jobs run: a private VPC and an AWS Batch job queue over managed EC2 compute
 * environments of GPU instances (ECS GPU-optimized Amazon Linux 2023 AMI), which scale from zero vCPUs
 * while nothing validates up to `maxVcpus`. A queued job holds nothing while it waits for capacity.
 *
 * Batch reports a job stuck at the head of the queue (a vCPU quota of 0, no capacity for any of the
 * instance types) as a "Batch Job Queue Blocked" event: `blockedRule` matches those of this queue and
 * keeps them in a queue for diagnosis; the observability stack alarms on its MatchedEvents metric.
 */
export class GpuCapacity extends Construct {
  readonly vpc: IVpc;
  readonly jobQueue: JobQueue;
  readonly computeEnvironments: ComputeEnvironmentBase[] = [];
  /** Matches the "Batch Job Queue Blocked" events of `jobQueue`. */
  readonly blockedRule: Rule;

  constructor(scope: Construct, id: string, props: GpuCapacityProps) {
    super(scope, id);
    const flowLogs = new LogGroup(this, 'FlowLogs', { retention: props.logRetention });
    this.vpc = new Vpc(this, 'Vpc', {
      maxAzs: 2,
      // One NAT gateway: instances only pull the image and reach AWS APIs; S3 and DynamoDB, where the
      // model bytes and the version records go, use the free gateway endpoints below instead.
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'tasks', subnetType: SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
      ],
      gatewayEndpoints: {
        S3: { service: GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: GatewayVpcEndpointAwsService.DYNAMODB },
      },
      flowLogs: {
        rejected: {
          destination: FlowLogDestination.toCloudWatchLogs(flowLogs),
          trafficType: FlowLogTrafficType.REJECT,
        },
      },
    });

    const securityGroup = new SecurityGroup(this, 'InstanceSecurityGroup', {
      vpc: this.vpc,
      description:
        'GPU validation instances: no inbound; outbound for the ECS agent, image pulls and AWS APIs',
      allowAllOutbound: true,
    });
    // Only the root volume (encrypted, sized for image + scratch) and IMDSv2; Batch sets the rest.
    const launchTemplate = new LaunchTemplate(this, 'LaunchTemplate', {
      requireImdsv2: true,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: BlockDeviceVolume.ebs(props.diskGiB, {
            encrypted: true,
            volumeType: EbsDeviceVolumeType.GP3,
          }),
        },
      ],
    });

    const environment = (name: string, spot: boolean) => {
      const ce = new ManagedEc2EcsComputeEnvironment(this, name, {
        vpc: this.vpc,
        vpcSubnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
        securityGroups: [securityGroup],
        instanceTypes: props.instanceTypes.map((t) => new InstanceType(t)),
        // Only the listed types: Batch's "optimal" classes have no GPU.
        useOptimalInstanceClasses: false,
        images: [{ imageType: EcsMachineImageType.ECS_AL2023_NVIDIA }],
        minvCpus: 0,
        maxvCpus: props.maxVcpus,
        spot,
        launchTemplate,
        updateToLatestImageVersion: true,
        replaceComputeEnvironment: false,
      });
      // The instance role CDK creates carries AWS's ECS container-instance policy, as Batch documents.
      Validations.of(ce).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role]',
        reason:
          "Batch's ECS container instances need AWS's container-instance policy (ECS agent registration, image pulls, logs); AWS keeps it current with the agent.",
      });
      this.computeEnvironments.push(ce);
      return ce;
    };

    const onDemand = environment('OnDemand', false);
    this.jobQueue = new JobQueue(this, 'JobQueue', {
      priority: 1,
      computeEnvironments: [{ computeEnvironment: onDemand, order: 1 }],
      // A job that cannot start for a reason waiting does not cure is cancelled, not kept forever.
      jobStateTimeLimitActions: [
        JobStateTimeLimitActionsReason.INSUFFICIENT_INSTANCE_CAPACITY,
        JobStateTimeLimitActionsReason.COMPUTE_ENVIRONMENT_MAX_RESOURCE,
        JobStateTimeLimitActionsReason.JOB_RESOURCE_REQUIREMENT,
      ].map((reason) => ({
        action: JobStateTimeLimitActionsAction.CANCEL,
        maxTime: props.blockedJobTimeout,
        reason,
      })),
    });
    if (props.spot) this.jobQueue.addComputeEnvironment(environment('Spot', true), 2);

    // The events themselves (with Batch's statusReason) are kept for diagnosis, as the failed executions are.
    const blockedEvents = new Queue(this, 'BlockedJobEvents', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(4),
    });
    Validations.of(blockedEvents).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'A record of blocked-queue events for operators; nothing consumes it, so it needs no DLQ.',
    });
    this.blockedRule = new Rule(this, 'QueueBlocked', {
      description:
        'Validation jobs blocked at the head of the GPU queue (vCPU quota, capacity, instance types)',
      eventPattern: {
        source: ['aws.batch'],
        detailType: ['Batch Job Queue Blocked'],
        detail: { jobQueue: [this.jobQueue.jobQueueArn] },
      },
      targets: [new SqsQueue(blockedEvents)],
    });
  }
}
