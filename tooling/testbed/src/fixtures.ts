/**
 * Helpers for tests, benchmarks and the demo: clients for every part of the test bed, fake nodes backed by EC2
 * instances (and optionally Auto Scaling groups and IMDS emulators), workloads on them, and queues fed by
 * EventBridge rules.
 */

import { randomBytes } from "node:crypto"
import { setTimeout as sleep } from "node:timers/promises"
import {
  AttachInstancesCommand,
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  CreateLaunchConfigurationCommand,
  PutLifecycleHookCommand
} from "@aws-sdk/client-auto-scaling"
import { EC2Client, RunInstancesCommand } from "@aws-sdk/client-ec2"
import {
  DeleteRuleCommand,
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand
} from "@aws-sdk/client-eventbridge"
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SQSClient
} from "@aws-sdk/client-sqs"
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type V1Container,
  type V1Pod,
  type V1PodSpec
} from "@kubernetes/client-node"
import * as AwsEvents from "./awsEvents.ts"
import type { Environment } from "./TestBed.ts"

export interface Clients {
  readonly env: Environment
  readonly kubeConfig: KubeConfig
  readonly core: CoreV1Api
  readonly apps: AppsV1Api
  readonly policy: PolicyV1Api
  readonly ec2: EC2Client
  readonly autoScaling: AutoScalingClient
  readonly sqs: SQSClient
  readonly eventBridge: EventBridgeClient
}

export const makeClients = (env: Environment): Clients => {
  const kubeConfig = new KubeConfig()
  kubeConfig.loadFromFile(env.KUBECONFIG)
  const aws = {
    endpoint: env.AWS_ENDPOINT_URL,
    region: env.AWS_REGION,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY }
  }
  return {
    env,
    kubeConfig,
    core: kubeConfig.makeApiClient(CoreV1Api),
    apps: kubeConfig.makeApiClient(AppsV1Api),
    policy: kubeConfig.makeApiClient(PolicyV1Api),
    ec2: new EC2Client(aws),
    autoScaling: new AutoScalingClient(aws),
    sqs: new SQSClient({ ...aws, useQueueUrlAsEndpoint: false }),
    eventBridge: new EventBridgeClient(aws)
  }
}

/** A short random suffix for names that must not collide between test files sharing one test bed. */
export const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`

/** Polls `probe` until it returns a value other than `undefined`. */
export const waitFor = async <A>(
  what: string,
  probe: () => Promise<A | undefined>,
  options: { readonly timeoutMs?: number; readonly intervalMs?: number } = {}
): Promise<A> => {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000)
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`)
    }
    await sleep(options.intervalMs ?? 100)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Namespaces
// ---------------------------------------------------------------------------------------------------------------

export const createNamespace = async (clients: Clients, prefix = "t"): Promise<string> => {
  const name = uniqueName(prefix)
  await clients.core.createNamespace({
    body: { metadata: { name, labels: { "testbed.nth.dev/test": "true" } } }
  })
  return name
}

/** Deletes a namespace, its pods at once (grace 0), so that deleting their nodes next leaves nothing stuck. */
export const deleteNamespace = async (clients: Clients, name: string): Promise<void> => {
  await clients.core.deleteCollectionNamespacedPod({ namespace: name, gracePeriodSeconds: 0 }).catch(() => {})
  await clients.core.deleteNamespace({ name, propagationPolicy: "Background" }).catch(() => {})
}

// ---------------------------------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------------------------------

export interface AutoScalingGroupOptions {
  readonly name: string
  /** Lifecycle hooks to put on the group (default: one termination hook named `nth-drain`). */
  readonly hooks?: ReadonlyArray<{
    readonly name: string
    readonly transition: "autoscaling:EC2_INSTANCE_TERMINATING" | "autoscaling:EC2_INSTANCE_LAUNCHING"
    readonly heartbeatTimeout?: number
  }>
}

export interface NodeOptions {
  /** Node name (default: the EC2 instance's private DNS name, as on EKS). */
  readonly name?: string
  readonly zone?: string
  readonly instanceType?: string
  readonly labels?: Readonly<Record<string, string>>
  /** Register the node cordoned (a spare that workloads should not land on until it is opened). */
  readonly unschedulable?: boolean
  /** Put the instance in an Auto Scaling group (created when it does not exist yet). */
  readonly autoScalingGroup?: AutoScalingGroupOptions
  readonly tags?: Readonly<Record<string, string>>
  readonly maxPods?: number
}

export interface FakeNode {
  readonly name: string
  readonly instanceId: string
  readonly providerId: string
  readonly zone: string
  readonly instanceType: string
  readonly privateDnsName: string
  readonly autoScalingGroupName: string | undefined
}

const ensureAutoScalingGroup = async (clients: Clients, group: AutoScalingGroupOptions, zone: string) => {
  const launchConfiguration = `${group.name}-lc`
  await clients.autoScaling
    .send(
      new CreateLaunchConfigurationCommand({
        LaunchConfigurationName: launchConfiguration,
        ImageId: "ami-12c6146b",
        InstanceType: "m5.large"
      })
    )
    .catch((error: Error) => {
      if (error.name !== "AlreadyExists" && error.name !== "AlreadyExistsFault") throw error
    })
  const created = await clients.autoScaling
    .send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: group.name,
        LaunchConfigurationName: launchConfiguration,
        MinSize: 0,
        MaxSize: 200,
        DesiredCapacity: 0,
        AvailabilityZones: [zone]
      })
    )
    .then(() => true)
    .catch((error: Error) => {
      if (error.name !== "AlreadyExists" && error.name !== "AlreadyExistsFault") throw error
      return false
    })
  if (!created) return
  for (const hook of group.hooks ?? [
    { name: "nth-drain", transition: "autoscaling:EC2_INSTANCE_TERMINATING" }
  ]) {
    await clients.autoScaling.send(
      new PutLifecycleHookCommand({
        AutoScalingGroupName: group.name,
        LifecycleHookName: hook.name,
        LifecycleTransition: hook.transition,
        HeartbeatTimeout: "heartbeatTimeout" in hook ? hook.heartbeatTimeout : 300,
        DefaultResult: "CONTINUE"
      })
    )
  }
}

/** An EC2 instance in moto (and its Auto Scaling group), before or without a Node. */
export interface FakeInstance {
  readonly instanceId: string
  readonly zone: string
  readonly instanceType: string
  readonly privateDnsName: string
  readonly autoScalingGroupName: string | undefined
}

/**
 * Launches an EC2 instance in moto, tagged `aws-node-termination-handler/managed` (and `options.tags`), in an Auto
 * Scaling group when `options.autoScalingGroup` says so. No Node: see {@link registerNode}, {@link registerNodeFor}.
 */
export const launchInstance = async (
  clients: Clients,
  options: Pick<NodeOptions, "zone" | "instanceType" | "autoScalingGroup" | "tags"> = {}
): Promise<FakeInstance> => {
  const zone = options.zone ?? "us-east-1a"
  const instanceType = options.instanceType ?? "m5.large"
  const tags = Object.entries({ "aws-node-termination-handler/managed": "", ...options.tags })
  const run = await clients.ec2.send(
    new RunInstancesCommand({
      ImageId: "ami-12c6146b",
      InstanceType: instanceType as never,
      MinCount: 1,
      MaxCount: 1,
      Placement: { AvailabilityZone: zone },
      TagSpecifications: [{ ResourceType: "instance", Tags: tags.map(([Key, Value]) => ({ Key, Value })) }]
    })
  )
  const instance = run.Instances?.[0]
  if (!instance?.InstanceId || !instance.PrivateDnsName) throw new Error("moto returned no instance")
  const instanceId = instance.InstanceId
  if (options.autoScalingGroup) {
    await ensureAutoScalingGroup(clients, options.autoScalingGroup, zone)
    await clients.autoScaling.send(
      new AttachInstancesCommand({
        AutoScalingGroupName: options.autoScalingGroup.name,
        InstanceIds: [instanceId]
      })
    )
  }
  return {
    instanceId,
    zone,
    instanceType,
    privateDnsName: instance.PrivateDnsName,
    autoScalingGroupName: options.autoScalingGroup?.name
  }
}

/**
 * Registers the Node of an instance launched with {@link launchInstance}, managed by KWOK (Ready within a second).
 * The node carries the labels a kubelet on EC2 would set and `spec.providerID` = `aws:///<zone>/<instance-id>`.
 * With `kwok: false` no KWOK manages it: it has no conditions (it is not Ready) until a test sets them.
 */
export const registerNodeFor = async (
  clients: Clients,
  instance: FakeInstance,
  options: Omit<NodeOptions, "zone" | "instanceType" | "autoScalingGroup" | "tags"> & {
    readonly kwok?: boolean
  } = {}
): Promise<FakeNode> => {
  const { instanceId, privateDnsName, zone, instanceType } = instance
  const kwok = options.kwok ?? true
  const name = options.name ?? privateDnsName
  const providerId = `aws:///${zone}/${instanceId}`
  const maxPods = String(options.maxPods ?? 110)
  await clients.core.createNode({
    body: {
      metadata: {
        name,
        labels: {
          "kubernetes.io/hostname": name,
          "kubernetes.io/os": "linux",
          "kubernetes.io/arch": "amd64",
          "node.kubernetes.io/instance-type": instanceType,
          "topology.kubernetes.io/zone": zone,
          "topology.kubernetes.io/region": zone.slice(0, -1),
          "testbed.nth.dev/fake": "true",
          ...options.labels
        },
        annotations: kwok ? { "kwok.x-k8s.io/node": "fake" } : {}
      },
      spec: { providerID: providerId, ...(options.unschedulable ? { unschedulable: true } : {}) },
      status: {
        capacity: { cpu: "64", memory: "256Gi", pods: maxPods },
        allocatable: { cpu: "64", memory: "256Gi", pods: maxPods }
      }
    }
  })
  if (kwok) {
    await waitFor(`node ${name} Ready`, async () => {
      const node = await clients.core.readNode({ name })
      return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
        ? true
        : undefined
    })
  }
  return {
    name,
    instanceId,
    providerId,
    zone,
    instanceType,
    privateDnsName,
    autoScalingGroupName: instance.autoScalingGroupName
  }
}

/**
 * Launches an EC2 instance in moto and registers its Node, managed by KWOK (Ready within a second): {@link
 * launchInstance}, then {@link registerNodeFor}.
 */
export const registerNode = async (clients: Clients, options: NodeOptions = {}): Promise<FakeNode> =>
  registerNodeFor(clients, await launchInstance(clients, options), options)

/**
 * Sets a node's `Ready` condition (status subresource), as a kubelet reports it. For nodes KWOK does not manage
 * (`registerNodeFor(…, { kwok: false })`): KWOK would overwrite it on its own nodes.
 */
export const setNodeReady = async (clients: Clients, name: string, ready: boolean) => {
  const now = new Date()
  await clients.core.patchNodeStatus(
    {
      name,
      body: {
        status: {
          conditions: [
            {
              type: "Ready",
              status: ready ? "True" : "False",
              reason: ready ? "KubeletReady" : "KubeletNotReady",
              message: ready ? "kubelet is posting ready status" : "container runtime is starting",
              lastHeartbeatTime: now,
              lastTransitionTime: now
            }
          ]
        }
      }
    },
    setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch)
  )
}

/** The pods on a node that are not being deleted. */
export const livePodsOn = async (clients: Clients, node: string) =>
  (await clients.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items.filter(
    (p) => !p.metadata?.deletionTimestamp
  )

export const deleteNode = async (clients: Clients, name: string): Promise<void> => {
  await clients.core.deleteNode({ name }).catch(() => {})
}

/** Sets or clears `spec.unschedulable` (a strategic merge patch, like kubectl). */
export const setUnschedulable = async (clients: Clients, name: string, unschedulable: boolean) => {
  await clients.core.patchNode(
    { name, body: { spec: { unschedulable } } },
    setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch)
  )
}

// ---------------------------------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------------------------------

export interface PodTemplateOptions {
  /** Prefer this node (initial pods land there; replacements go elsewhere once it is cordoned). */
  readonly preferNode?: string
  /**
   * Schedule on these nodes only (required node affinity): other test files' nodes, which may be schedulable at
   * any time, never get a pod a test counts on its own nodes.
   */
  readonly onlyNodes?: ReadonlyArray<string>
  /** Pin to this node (`spec.nodeName`, bypassing the scheduler: bare pods, mirror pods). */
  readonly nodeName?: string
  readonly terminationGracePeriodSeconds?: number
  /** KWOK finishes the pod this long after its deletion started (e.g. "2s"), whatever the grace period. */
  readonly terminateAfter?: string
  readonly emptyDir?: boolean
  readonly priorityClassName?: string
  readonly labels?: Readonly<Record<string, string>>
  readonly annotations?: Readonly<Record<string, string>>
}

const container: V1Container = {
  name: "app",
  image: "registry.k8s.io/pause:3.10",
  resources: { requests: { cpu: "10m", memory: "16Mi" } }
}

const podSpec = (options: PodTemplateOptions): V1PodSpec => ({
  containers: [
    options.emptyDir
      ? { ...container, volumeMounts: [{ name: "scratch", mountPath: "/scratch" }] }
      : container
  ],
  terminationGracePeriodSeconds: options.terminationGracePeriodSeconds ?? 2,
  ...(options.emptyDir ? { volumes: [{ name: "scratch", emptyDir: {} }] } : {}),
  ...(options.nodeName ? { nodeName: options.nodeName } : {}),
  ...(options.priorityClassName ? { priorityClassName: options.priorityClassName } : {}),
  ...(options.preferNode || options.onlyNodes
    ? {
        affinity: {
          nodeAffinity: {
            ...(options.preferNode
              ? {
                  preferredDuringSchedulingIgnoredDuringExecution: [
                    {
                      weight: 100,
                      preference: {
                        matchExpressions: [
                          { key: "kubernetes.io/hostname", operator: "In", values: [options.preferNode] }
                        ]
                      }
                    }
                  ]
                }
              : {}),
            ...(options.onlyNodes
              ? {
                  requiredDuringSchedulingIgnoredDuringExecution: {
                    nodeSelectorTerms: [
                      {
                        matchExpressions: [
                          { key: "kubernetes.io/hostname", operator: "In", values: [...options.onlyNodes] }
                        ]
                      }
                    ]
                  }
                }
              : {})
          }
        }
      }
    : {}),
  // Only the test bed's fake nodes run pods.
  nodeSelector: { "testbed.nth.dev/fake": "true" }
})

const podMetadata = (labels: Record<string, string>, options: PodTemplateOptions) => ({
  labels: { ...labels, ...options.labels },
  annotations: {
    ...(options.terminateAfter ? { "testbed.nth.dev/terminate-after": options.terminateAfter } : {}),
    ...options.annotations
  }
})

export interface DeploymentOptions extends PodTemplateOptions {
  readonly name: string
  readonly replicas: number
  /** A PodDisruptionBudget over the Deployment's pods. */
  readonly budget?: { readonly maxUnavailable: number | string } | { readonly minAvailable: number | string }
}

export const createDeployment = async (clients: Clients, namespace: string, options: DeploymentOptions) => {
  const labels = { app: options.name }
  await clients.apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: options.name, labels },
      spec: {
        replicas: options.replicas,
        selector: { matchLabels: labels },
        template: { metadata: podMetadata(labels, options), spec: podSpec(options) }
      }
    }
  })
  if (options.budget) {
    await clients.policy.createNamespacedPodDisruptionBudget({
      namespace,
      body: {
        metadata: { name: options.name },
        spec: { selector: { matchLabels: labels }, ...options.budget }
      }
    })
  }
  return labels
}

export const createDaemonSet = async (
  clients: Clients,
  namespace: string,
  options: PodTemplateOptions & { readonly name: string }
) => {
  const labels = { app: options.name }
  await clients.apps.createNamespacedDaemonSet({
    namespace,
    body: {
      metadata: { name: options.name, labels },
      spec: {
        selector: { matchLabels: labels },
        template: { metadata: podMetadata(labels, options), spec: podSpec(options) }
      }
    }
  })
  return labels
}

/** A pod with no controller, bound straight to a node. */
export const createBarePod = async (
  clients: Clients,
  namespace: string,
  options: PodTemplateOptions & { readonly name: string; readonly nodeName: string }
): Promise<V1Pod> =>
  clients.core.createNamespacedPod({
    namespace,
    body: { metadata: { name: options.name, ...podMetadata({}, options) }, spec: podSpec(options) }
  })

const isReady = (pod: V1Pod) =>
  pod.status?.phase === "Running" &&
  pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True")

/** Waits until `count` pods match the selector and are all Running and Ready; returns them. */
export const waitForReadyPods = (
  clients: Clients,
  namespace: string,
  labelSelector: Record<string, string>,
  count: number,
  timeoutMs = 60_000
): Promise<Array<V1Pod>> =>
  waitFor(
    `${count} ready pods ${JSON.stringify(labelSelector)} in ${namespace}`,
    async () => {
      const list = await clients.core.listNamespacedPod({
        namespace,
        labelSelector: Object.entries(labelSelector)
          .map(([k, v]) => `${k}=${v}`)
          .join(",")
      })
      const live = list.items.filter((pod) => pod.metadata?.deletionTimestamp === undefined)
      return live.length === count && live.every(isReady) ? live : undefined
    },
    { timeoutMs }
  )

/** Waits until the disruption controller has computed a budget's status for its current generation. */
export const waitForBudget = (
  clients: Clients,
  namespace: string,
  name: string,
  predicate: (status: { disruptionsAllowed: number; currentHealthy: number }) => boolean = () => true
) =>
  waitFor(`budget ${namespace}/${name} computed`, async () => {
    const budget = await clients.policy.readNamespacedPodDisruptionBudget({ name, namespace })
    const status = budget.status
    if (!status || status.observedGeneration !== budget.metadata?.generation) return undefined
    const counts = {
      disruptionsAllowed: status.disruptionsAllowed ?? 0,
      currentHealthy: status.currentHealthy ?? 0
    }
    return predicate(counts) ? status : undefined
  })

// ---------------------------------------------------------------------------------------------------------------
// AWS: queues fed by EventBridge, lifecycle actions
// ---------------------------------------------------------------------------------------------------------------

export interface EventQueue {
  readonly queueUrl: string
  readonly queueArn: string
  readonly ruleName: string
}

export interface Queue {
  readonly queueUrl: string
  readonly queueArn: string
}

/**
 * A plain SQS queue (messages kept 5 minutes unless `attributes` say otherwise), e.g. a dead-letter queue, or a
 * queue Auto Scaling or SNS deliver to.
 */
export const createQueue = async (
  clients: Clients,
  prefix = "nth",
  attributes: Readonly<Record<string, string>> = {}
): Promise<Queue> => {
  const { QueueUrl } = await clients.sqs.send(
    new CreateQueueCommand({
      QueueName: uniqueName(prefix),
      Attributes: { MessageRetentionPeriod: "300", ...attributes }
    })
  )
  if (!QueueUrl) throw new Error("CreateQueue returned no URL")
  const read = await clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] })
  )
  const queueArn = read.Attributes?.QueueArn
  if (!queueArn) throw new Error("queue has no ARN")
  return { queueUrl: QueueUrl, queueArn }
}

export const deleteQueue = async (clients: Clients, queue: Queue): Promise<void> => {
  await clients.sqs.send(new DeleteQueueCommand({ QueueUrl: queue.queueUrl }))
}

/** How many messages a queue holds: `visible` (ApproximateNumberOfMessages) and `inFlight` (…NotVisible). */
export const queueDepth = async (
  clients: Clients,
  queueUrl: string
): Promise<{ readonly visible: number; readonly inFlight: number }> => {
  const { Attributes } = await clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    })
  )
  return {
    visible: Number(Attributes?.ApproximateNumberOfMessages ?? Number.NaN),
    inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? Number.NaN)
  }
}

/** Waits until the queue holds no message, visible or in flight. */
export const waitForEmptyQueue = (clients: Clients, queueUrl: string, timeoutMs = 30_000): Promise<true> =>
  waitFor(
    "the queue empty",
    async () => {
      const depth = await queueDepth(clients, queueUrl)
      return depth.visible === 0 && depth.inFlight === 0 ? true : undefined
    },
    { timeoutMs }
  )

export interface EventQueue extends Queue {
  readonly ruleName: string
}

/**
 * An SQS queue and an EventBridge rule that delivers to it every event nth consumes in queue mode (the rule
 * the Go handler's documentation sets up: `aws.ec2`, `aws.autoscaling`, `aws.health`). `attributes` are the
 * queue's (a `RedrivePolicy`, say); `eventPattern` replaces the rule's pattern (e.g. one instance's events only,
 * so that no other test's events reach the queue).
 */
export const createEventQueue = async (
  clients: Clients,
  prefix = "nth",
  options: {
    readonly attributes?: Readonly<Record<string, string>>
    readonly eventPattern?: object
  } = {}
): Promise<EventQueue> => {
  const queue = await createQueue(clients, prefix, options.attributes)
  const ruleName = `${queue.queueUrl.split("/").pop()}-rule`
  await clients.eventBridge.send(
    new PutRuleCommand({
      Name: ruleName,
      EventPattern: JSON.stringify(
        options.eventPattern ?? { source: ["aws.ec2", "aws.autoscaling", "aws.health"] }
      ),
      State: "ENABLED"
    })
  )
  await clients.eventBridge.send(
    new PutTargetsCommand({ Rule: ruleName, Targets: [{ Id: "nth", Arn: queue.queueArn }] })
  )
  return { ...queue, ruleName }
}

/**
 * Removes the queue and its rule. Every queue's rule matches every event nth consumes, so on a test bed shared
 * by several runs, a queue left behind keeps receiving their events: delete each when its test is done.
 */
export const deleteEventQueue = async (clients: Clients, queue: EventQueue): Promise<void> => {
  await clients.eventBridge.send(new RemoveTargetsCommand({ Rule: queue.ruleName, Ids: ["nth"] }))
  await clients.eventBridge.send(new DeleteRuleCommand({ Name: queue.ruleName }))
  await deleteQueue(clients, queue)
}

// SNS, through moto's Query API with fetch (the repo has no SNS client): moto picks the service from the credential
// scope of the Authorization header and does not check the signature.
const snsCall = async (clients: Clients, action: string, parameters: Readonly<Record<string, string>>) => {
  const day = new Date().toISOString().slice(0, 10).replaceAll("-", "")
  const response = await fetch(`${clients.env.AWS_ENDPOINT_URL}/`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `AWS4-HMAC-SHA256 Credential=${clients.env.AWS_ACCESS_KEY_ID}/${day}/${clients.env.AWS_REGION}/sns/aws4_request, SignedHeaders=host, Signature=0`
    },
    body: new URLSearchParams({ Action: action, Version: "2010-03-31", ...parameters })
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`SNS ${action} failed (${response.status}): ${text}`)
  return text
}

export interface Topic {
  readonly topicArn: string
  readonly subscriptionArn: string
}

/**
 * An SNS topic with `queue` subscribed to it, raw message delivery off: the queue receives each published message
 * as SNS's JSON notification (`Type`, `MessageId`, `TopicArn`, `Message`, …), as Auto Scaling's notifications
 * arrive when a lifecycle hook's target is a topic.
 */
export const createTopicForQueue = async (clients: Clients, queue: Queue, prefix = "nth"): Promise<Topic> => {
  const created = await snsCall(clients, "CreateTopic", { Name: uniqueName(prefix) })
  const topicArn = /<TopicArn>([^<]+)<\/TopicArn>/.exec(created)?.[1]
  if (!topicArn) throw new Error(`CreateTopic returned no ARN: ${created}`)
  const subscribed = await snsCall(clients, "Subscribe", {
    TopicArn: topicArn,
    Protocol: "sqs",
    Endpoint: queue.queueArn
  })
  const subscriptionArn = /<SubscriptionArn>([^<]+)<\/SubscriptionArn>/.exec(subscribed)?.[1]
  if (!subscriptionArn) throw new Error(`Subscribe returned no ARN: ${subscribed}`)
  return { topicArn, subscriptionArn }
}

export const publishToTopic = async (clients: Clients, topic: Topic, message: string): Promise<void> => {
  await snsCall(clients, "Publish", { TopicArn: topic.topicArn, Message: message })
}

export const deleteTopic = async (clients: Clients, topic: Topic): Promise<void> => {
  await snsCall(clients, "DeleteTopic", { TopicArn: topic.topicArn })
}

export const publishEvents = async (clients: Clients, entries: ReadonlyArray<PutEventsRequestEntry>) => {
  const result = await clients.eventBridge.send(new PutEventsCommand({ Entries: [...entries] }))
  if ((result.FailedEntryCount ?? 0) > 0)
    throw new Error(`PutEvents failed: ${JSON.stringify(result.Entries)}`)
  return result.Entries?.map((e) => e.EventId ?? "") ?? []
}

export interface RecordedLifecycleAction {
  readonly lifecycleActionToken: string
  readonly autoScalingGroupName: string
  readonly lifecycleHookName: string
  readonly instanceId: string
  readonly transition: string
  readonly state: "waiting" | "completed"
  readonly result: "CONTINUE" | "ABANDON" | null
  readonly heartbeats: number
  /** When the action started and was completed, in seconds since the epoch (the emulator's clock). */
  readonly startedAt: number
  readonly completedAt: number | null
}

/**
 * What Auto Scaling does when a hook fires: puts the instance in `Terminating:Wait` (or `Pending:Wait`) and
 * issues a lifecycle action token. Publish the matching EventBridge event with `AwsEvents.asgTerminateLifecycleAction`.
 */
export const startLifecycleAction = async (
  clients: Clients,
  action: { autoScalingGroupName: string; lifecycleHookName: string; instanceId: string }
): Promise<RecordedLifecycleAction> => {
  const response = await fetch(`${clients.env.AWS_ENDPOINT_URL}/_nth/lifecycle-actions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(action)
  })
  if (!response.ok) throw new Error(`starting a lifecycle action failed: ${await response.text()}`)
  return (await response.json()) as RecordedLifecycleAction
}

export const lifecycleActions = async (clients: Clients): Promise<ReadonlyArray<RecordedLifecycleAction>> => {
  const response = await fetch(`${clients.env.AWS_ENDPOINT_URL}/_nth/lifecycle-actions`)
  return ((await response.json()) as { lifecycleActions: Array<RecordedLifecycleAction> }).lifecycleActions
}

/**
 * A lifecycle hook firing as Auto Scaling fires it: the action started (`Terminating:Wait` or `Pending:Wait`, a
 * token issued) and its event put on the bus, where every queue's rule delivers it.
 */
export const fireLifecycleHook = async (
  clients: Clients,
  hook: {
    readonly autoScalingGroupName: string
    readonly lifecycleHookName: string
    readonly instanceId: string
    readonly transition?: "terminate" | "launch"
  }
): Promise<RecordedLifecycleAction> => {
  const { transition = "terminate", ...action } = hook
  const started = await startLifecycleAction(clients, action)
  const event = { ...action, lifecycleActionToken: started.lifecycleActionToken }
  await publishEvents(clients, [
    transition === "terminate"
      ? AwsEvents.asgTerminateLifecycleAction(event)
      : AwsEvents.asgLaunchLifecycleAction(event)
  ])
  return started
}

/** Waits until the emulator records the action (by its token) as completed; returns its record. */
export const waitForCompletedAction = (
  clients: Clients,
  lifecycleActionToken: string,
  timeoutMs = 30_000
): Promise<RecordedLifecycleAction> =>
  waitFor(
    "the lifecycle action completed",
    async () => {
      const recorded = (await lifecycleActions(clients)).find(
        (a) => a.lifecycleActionToken === lifecycleActionToken
      )
      return recorded?.state === "completed" ? recorded : undefined
    },
    { timeoutMs }
  )
