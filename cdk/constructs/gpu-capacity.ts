import { Duration, Validations } from 'aws-cdk-lib';
import {
  AutoScalingGroup,
  BlockDeviceVolume,
  EbsDeviceVolumeType,
  HealthChecks,
  Monitoring,
} from 'aws-cdk-lib/aws-autoscaling';
import {
  FlowLogDestination,
  FlowLogTrafficType,
  GatewayVpcEndpointAwsService,
  InstanceType,
  type IVpc,
  SecurityGroup,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import {
  AmiHardwareType,
  AsgCapacityProvider,
  Cluster,
  ContainerInsights,
  EcsOptimizedImage,
  type ICluster,
} from 'aws-cdk-lib/aws-ecs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface GpuCapacityProps {
  /** EC2 instance type of the validation hosts (e.g. `g5.xlarge`). Required. */
  readonly instanceType: string;
  /** Fewest instances the Auto Scaling group keeps (0 lets it scale to zero between validations). Required. */
  readonly minCapacity: number;
  /** Most instances the Auto Scaling group may run. Required. */
  readonly maxCapacity: number;
  /** Root volume size in GiB: the container image and the validation scratch space share it. Required. */
  readonly diskGiB: number;
  /** How long the hosts' logs are kept. Required. */
  readonly logRetention: RetentionDays;
}

/**
 * Where validation tasks run: a private VPC and an ECS cluster whose only capacity is an Auto Scaling
 * group of GPU instances (ECS GPU-optimized AMI), scaled by an ECS capacity provider from
 * `minCapacity` (0: no GPU is billed while nothing validates) up to `maxCapacity`.
 */
export class GpuCapacity extends Construct {
  readonly vpc: IVpc;
  readonly cluster: ICluster;
  readonly capacityProvider: AsgCapacityProvider;

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

    const cluster = new Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ContainerInsights.ENABLED,
    });

    const instanceSg = new SecurityGroup(this, 'InstanceSecurityGroup', {
      vpc: this.vpc,
      description:
        'GPU validation instances: no inbound; outbound for the ECS agent, image pulls and AWS APIs',
      allowAllOutbound: true,
    });
    const asg = new AutoScalingGroup(this, 'GpuInstances', {
      vpc: this.vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
      instanceType: new InstanceType(props.instanceType),
      machineImage: EcsOptimizedImage.amazonLinux2023(AmiHardwareType.GPU),
      minCapacity: props.minCapacity,
      maxCapacity: props.maxCapacity,
      securityGroup: instanceSg,
      requireImdsv2: true,
      instanceMonitoring: Monitoring.DETAILED,
      cooldown: Duration.minutes(5),
      healthChecks: HealthChecks.ec2({ gracePeriod: Duration.minutes(5) }),
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
    // The ECS container-instance permissions CDK gives the instance role (as AmazonEC2ContainerServiceforEC2Role):
    Validations.of(asg).acknowledge({
      id: 'AwsSolutions-IAM5[Action::ecs:Submit*]',
      reason: 'ecs:Submit* (task/container state reports of the ECS agent) is limited to this cluster.',
    });
    Validations.of(asg).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        "ecs:DiscoverPollEndpoint and ecr:GetAuthorizationToken have no resource-level permissions; ecs:Poll/StartTelemetrySession are conditioned on this cluster; log writes are the agent's own.",
    });
    Validations.of(asg).acknowledge({
      id: 'AwsSolutions-AS3',
      reason:
        'The ECS capacity provider scales this group out and in for every validation; a notification per scaling event would page for normal operation. Failed launches surface as failed validations, which are alarmed.',
    });

    this.capacityProvider = new AsgCapacityProvider(this, 'CapacityProvider', {
      autoScalingGroup: asg,
      enableManagedScaling: true,
      // Instances running a validation are not scaled in under it.
      enableManagedTerminationProtection: true,
      targetCapacityPercent: 100,
    });
    cluster.addAsgCapacityProvider(this.capacityProvider);
    this.cluster = cluster;
  }
}
