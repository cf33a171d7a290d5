/**
 * Proof that the test bed's parts are real: the API server enforces budgets as the disruption controller
 * computes them, KWOK finishes terminating pods when their grace period ends, the scheduler honours a cordon,
 * EventBridge rules deliver to SQS over the JSON protocol, Auto Scaling lifecycle actions are validated as AWS
 * validates them, and the IMDS emulator insists on IMDSv2 tokens.
 */
import {
  CompleteLifecycleActionCommand,
  DescribeAutoScalingInstancesCommand,
  RecordLifecycleActionHeartbeatCommand
} from "@aws-sdk/client-auto-scaling"
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs"
import { ApiException, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node"
import { describe, expect, it } from "vitest"
import { AwsEvents, Fixtures, useTestBed } from "../src/index.ts"

const bed = useTestBed()

const evict = (namespace: string, name: string) =>
  bed.clients.core.createNamespacedPodEviction({
    name,
    namespace,
    body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name, namespace } }
  })

const statusOf = async (promise: Promise<unknown>): Promise<number> => {
  try {
    await promise
    return 201
  } catch (error) {
    if (error instanceof ApiException) return error.code
    throw error
  }
}

describe("Kubernetes", () => {
  it("refuses an eviction that would break a budget (429), then allows it once the disruption controller does", async () => {
    const node = await bed.registerNode()
    const namespace = bed.namespace()
    const labels = await Fixtures.createDeployment(bed.clients, namespace, {
      name: "guarded",
      replicas: 2,
      preferNode: node.name,
      budget: { minAvailable: 2 }
    })
    const pods = await Fixtures.waitForReadyPods(bed.clients, namespace, labels, 2)
    await Fixtures.waitForBudget(bed.clients, namespace, "guarded", (s) => s.currentHealthy === 2)
    const victim = pods[0]!.metadata!.name!

    expect(await statusOf(evict(namespace, victim))).toBe(429)

    await bed.clients.apps.patchNamespacedDeployment(
      { name: "guarded", namespace, body: { spec: { replicas: 3 } } },
      setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch)
    )
    await Fixtures.waitForBudget(bed.clients, namespace, "guarded", (s) => s.disruptionsAllowed === 1)
    expect(await statusOf(evict(namespace, victim))).toBe(201)
  })

  it("finishes an evicted pod on a KWOK node when its grace period ends, not before", async () => {
    const node = await bed.registerNode()
    const namespace = bed.namespace()
    await Fixtures.createBarePod(bed.clients, namespace, {
      name: "graceful",
      nodeName: node.name,
      terminationGracePeriodSeconds: 3,
      labels: { app: "graceful" }
    })
    await Fixtures.waitForReadyPods(bed.clients, namespace, { app: "graceful" }, 1)
    const started = Date.now()
    expect(await statusOf(evict(namespace, "graceful"))).toBe(201)

    const terminating = await bed.clients.core.readNamespacedPod({ name: "graceful", namespace })
    expect(terminating.metadata?.deletionTimestamp).toBeDefined()
    await Fixtures.waitFor("the pod to be gone", async () => {
      const list = await bed.clients.core.listNamespacedPod({
        namespace,
        fieldSelector: "metadata.name=graceful"
      })
      return list.items.length === 0 ? true : undefined
    })
    // KWOK finishes the pod at its deletionTimestamp, which the API server stores with second precision: up to
    // one second before the full grace period.
    const elapsed = Date.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(2000)
    expect(elapsed).toBeLessThan(6000)
  })

  it("schedules a replacement away from a cordoned node", async () => {
    const cordoned = await bed.registerNode()
    await bed.registerNode()
    const namespace = bed.namespace()
    const labels = await Fixtures.createDeployment(bed.clients, namespace, {
      name: "movable",
      replicas: 1,
      preferNode: cordoned.name
    })
    const [pod] = await Fixtures.waitForReadyPods(bed.clients, namespace, labels, 1)
    expect(pod!.spec?.nodeName).toBe(cordoned.name)

    await Fixtures.setUnschedulable(bed.clients, cordoned.name, true)
    expect(await statusOf(evict(namespace, pod!.metadata!.name!))).toBe(201)
    const replacement = await Fixtures.waitFor("a replacement pod on another node", async () => {
      const list = await bed.clients.core.listNamespacedPod({ namespace, labelSelector: "app=movable" })
      return list.items.find((p) => p.metadata?.uid !== pod!.metadata?.uid && p.spec?.nodeName)
    })
    expect(replacement.spec?.nodeName).not.toBe(cordoned.name)
  })
})

describe("AWS", () => {
  it("delivers an event published through an EventBridge rule to SQS, read with the JSON protocol", async () => {
    const queue = await Fixtures.createEventQueue(bed.clients)
    const node = await bed.registerNode()
    const contentTypes: Array<string> = []
    bed.clients.sqs.middlewareStack.add(
      (next) => async (args) => {
        const headers = (args.request as { headers?: Record<string, string> }).headers
        if (headers?.["content-type"]) contentTypes.push(headers["content-type"])
        return next(args)
      },
      { step: "finalizeRequest", name: "recordContentType" }
    )
    await Fixtures.publishEvents(bed.clients, [AwsEvents.spotInterruptionWarning(node.instanceId)])

    const received = await bed.clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queue.queueUrl, WaitTimeSeconds: 5, MaxNumberOfMessages: 10 })
    )
    await Fixtures.deleteEventQueue(bed.clients, queue)
    expect(contentTypes).toContain("application/x-amz-json-1.0")
    // Other runs sharing this test bed may publish events for their own instances at the same time.
    const ours = (received.Messages ?? []).filter((message) => message.Body?.includes(node.instanceId))
    expect(ours).toHaveLength(1)
    const envelope = JSON.parse(ours[0]!.Body!)
    expect(envelope).toMatchObject({
      source: "aws.ec2",
      "detail-type": "EC2 Spot Instance Interruption Warning",
      detail: { "instance-id": node.instanceId, "instance-action": "terminate" }
    })
    expect(typeof envelope.id).toBe("string")
    expect(typeof envelope.time).toBe("string")
  })

  it("validates lifecycle actions as Auto Scaling does: a wrong token fails, the right one completes", async () => {
    const group = Fixtures.uniqueName("workers")
    const node = await bed.registerNode({ autoScalingGroup: { name: group } })
    const action = await Fixtures.startLifecycleAction(bed.clients, {
      autoScalingGroupName: group,
      lifecycleHookName: "nth-drain",
      instanceId: node.instanceId
    })
    const lifecycleState = async () =>
      (
        await bed.clients.autoScaling.send(
          new DescribeAutoScalingInstancesCommand({ InstanceIds: [node.instanceId] })
        )
      ).AutoScalingInstances?.[0]?.LifecycleState
    expect(await lifecycleState()).toBe("Terminating:Wait")

    const complete = (token: string) =>
      bed.clients.autoScaling.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: group,
          LifecycleHookName: "nth-drain",
          LifecycleActionToken: token,
          LifecycleActionResult: "CONTINUE"
        })
      )
    const wrong = await complete("00000000-0000-0000-0000-000000000000").catch((error: Error) => error)
    expect(wrong).toBeInstanceOf(Error)
    expect((wrong as Error).name).toBe("ValidationError")
    expect((wrong as Error).message).toContain("No active Lifecycle Action found")

    await bed.clients.autoScaling.send(
      new RecordLifecycleActionHeartbeatCommand({
        AutoScalingGroupName: group,
        LifecycleHookName: "nth-drain",
        LifecycleActionToken: action.lifecycleActionToken
      })
    )
    await complete(action.lifecycleActionToken)
    expect(await lifecycleState()).toBe("Terminating:Proceed")
    const recorded = (await Fixtures.lifecycleActions(bed.clients)).find(
      (a) => a.lifecycleActionToken === action.lifecycleActionToken
    )
    expect(recorded).toMatchObject({ state: "completed", result: "CONTINUE", heartbeats: 1 })

    // A completed action is no longer active.
    const again = await complete(action.lifecycleActionToken).catch((error: Error) => error)
    expect((again as Error).name).toBe("ValidationError")
  })
})

describe("IMDS", () => {
  it("answers 401 without an IMDSv2 token, and the identity with one", async () => {
    const url = bed.clients.env.INSTANCE_METADATA_URL
    expect((await fetch(`${url}/latest/meta-data/instance-id`)).status).toBe(401)
    const token = await (
      await fetch(`${url}/latest/api/token`, {
        method: "PUT",
        headers: { "X-aws-ec2-metadata-token-ttl-seconds": "60" }
      })
    ).text()
    const response = await fetch(`${url}/latest/meta-data/instance-id`, {
      headers: { "X-aws-ec2-metadata-token": token }
    })
    expect(response.status).toBe(200)
    expect(await response.text()).toMatch(/^i-[0-9a-f]+$/)
  })
})
