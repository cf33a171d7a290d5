/**
 * EventBridge events as AWS sends them for each kind nth handles, ready for `PutEvents`. moto accepts `aws.*`
 * sources from a client (real AWS refuses them), so tests inject the events a real account would get through a
 * real rule into a real queue.
 */
import { randomUUID } from "node:crypto"
import type { PutEventsRequestEntry } from "@aws-sdk/client-eventbridge"

const region = "us-east-1"
const account = "123456789012"
const instanceArn = (instanceId: string) => `arn:aws:ec2:${region}:${account}:instance/${instanceId}`

const entry = (
  source: string,
  detailType: string,
  detail: object,
  resources: Array<string>,
  time = new Date()
): PutEventsRequestEntry => ({
  Source: source,
  DetailType: detailType,
  Detail: JSON.stringify(detail),
  Resources: resources,
  Time: time
})

export const spotInterruptionWarning = (
  instanceId: string,
  action: "terminate" | "stop" | "hibernate" = "terminate"
) =>
  entry(
    "aws.ec2",
    "EC2 Spot Instance Interruption Warning",
    { "instance-id": instanceId, "instance-action": action },
    [instanceArn(instanceId)]
  )

export const rebalanceRecommendation = (instanceId: string) =>
  entry("aws.ec2", "EC2 Instance Rebalance Recommendation", { "instance-id": instanceId }, [
    instanceArn(instanceId)
  ])

export const instanceStateChange = (instanceId: string, state: string) =>
  entry("aws.ec2", "EC2 Instance State-change Notification", { "instance-id": instanceId, state }, [
    instanceArn(instanceId)
  ])

export interface LifecycleAction {
  readonly autoScalingGroupName: string
  readonly lifecycleHookName: string
  readonly lifecycleActionToken: string
  readonly instanceId: string
  readonly notificationMetadata?: string
}

const lifecycleDetail = (
  action: LifecycleAction,
  transition: string,
  origin: string,
  destination: string
) => ({
  Origin: origin,
  Destination: destination,
  LifecycleActionToken: action.lifecycleActionToken,
  AutoScalingGroupName: action.autoScalingGroupName,
  LifecycleHookName: action.lifecycleHookName,
  EC2InstanceId: action.instanceId,
  LifecycleTransition: transition,
  ...(action.notificationMetadata === undefined ? {} : { NotificationMetadata: action.notificationMetadata })
})

const groupArn = (name: string) =>
  `arn:aws:autoscaling:${region}:${account}:autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/${name}`

export const asgTerminateLifecycleAction = (action: LifecycleAction) =>
  entry(
    "aws.autoscaling",
    "EC2 Instance-terminate Lifecycle Action",
    lifecycleDetail(action, "autoscaling:EC2_INSTANCE_TERMINATING", "AutoScalingGroup", "EC2"),
    [groupArn(action.autoScalingGroupName)]
  )

export const asgLaunchLifecycleAction = (action: LifecycleAction) =>
  entry(
    "aws.autoscaling",
    "EC2 Instance-launch Lifecycle Action",
    lifecycleDetail(action, "autoscaling:EC2_INSTANCE_LAUNCHING", "EC2", "AutoScalingGroup"),
    [groupArn(action.autoScalingGroupName)]
  )

export const healthScheduledChange = (
  instanceIds: ReadonlyArray<string>,
  options: { readonly eventTypeCode?: string; readonly startTime?: Date } = {}
) => {
  const startTime = options.startTime ?? new Date(Date.now() + 3 * 24 * 3600_000)
  const eventTypeCode = options.eventTypeCode ?? "AWS_EC2_INSTANCE_STOP_SCHEDULED"
  return entry(
    "aws.health",
    "AWS Health Event",
    {
      eventArn: `arn:aws:health:${region}::event/EC2/${eventTypeCode}/${eventTypeCode}_${Date.now()}`,
      service: "EC2",
      eventTypeCode,
      eventTypeCategory: "scheduledChange",
      startTime: startTime.toUTCString(),
      endTime: new Date(startTime.getTime() + 2 * 3600_000).toUTCString(),
      eventDescription: [{ language: "en_US", latestDescription: "The instance is scheduled for a stop." }],
      affectedEntities: instanceIds.map((entityValue) => ({ entityValue }))
    },
    instanceIds.map(instanceArn)
  )
}

// ---------------------------------------------------------------------------------------------------------------
// What Auto Scaling sends without EventBridge: a lifecycle hook's notification target is an SQS queue (the body
// below, as is) or an SNS topic (the body as the `Message` of SNS's notification). Not PutEvents entries: message
// bodies, for SendMessage or SNS Publish.
// ---------------------------------------------------------------------------------------------------------------

/** The notification a lifecycle hook sends when it fires, as JSON (an SQS message body, an SNS message). */
export const lifecycleNotification = (
  action: LifecycleAction,
  transition: "autoscaling:EC2_INSTANCE_TERMINATING" | "autoscaling:EC2_INSTANCE_LAUNCHING",
  options: { readonly requestId?: string; readonly time?: Date } = {}
): string =>
  JSON.stringify({
    Origin: transition === "autoscaling:EC2_INSTANCE_TERMINATING" ? "AutoScalingGroup" : "EC2",
    Destination: transition === "autoscaling:EC2_INSTANCE_TERMINATING" ? "EC2" : "AutoScalingGroup",
    LifecycleHookName: action.lifecycleHookName,
    AccountId: account,
    RequestId: options.requestId ?? randomUUID(),
    LifecycleTransition: transition,
    AutoScalingGroupName: action.autoScalingGroupName,
    Service: "AWS Auto Scaling",
    Time: (options.time ?? new Date()).toISOString(),
    EC2InstanceId: action.instanceId,
    LifecycleActionToken: action.lifecycleActionToken,
    ...(action.notificationMetadata === undefined
      ? {}
      : { NotificationMetadata: action.notificationMetadata })
  })

/** The test notification Auto Scaling sends to a hook's target when the hook is created, as JSON. */
export const autoScalingTestNotification = (autoScalingGroupName: string): string =>
  JSON.stringify({
    AccountId: account,
    RequestId: randomUUID(),
    AutoScalingGroupARN: groupArn(autoScalingGroupName),
    AutoScalingGroupName: autoScalingGroupName,
    Service: "AWS Auto Scaling",
    Event: "autoscaling:TEST_NOTIFICATION",
    Time: new Date().toISOString()
  })
