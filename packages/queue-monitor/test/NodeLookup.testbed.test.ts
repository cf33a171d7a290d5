/**
 * Finding an instance's node against the test bed: InstanceInfo asks moto's EC2, NodeIndex lists and watches the
 * API server's nodes (KWOK nodes, each backed by a moto instance).
 */
import {
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand
} from "@aws-sdk/client-ec2"
import { describe, expect, it } from "@effect/vitest"
import { KubeClient } from "@nth/kube"
import { Fixtures, useTestBed } from "@nth/testbed"
import { Effect, Schedule } from "effect"
import { InstanceInfo, NodeIndex } from "../src/index.ts"

const bed = useTestBed()
const env = bed.clients.env

/** An EC2 client for moto that counts the DescribeInstances calls it sends. */
const countingClient = () => {
  const client = new EC2Client({
    endpoint: env.AWS_ENDPOINT_URL,
    region: env.AWS_REGION,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
    maxAttempts: 1
  })
  let describes = 0
  client.middlewareStack.add(
    (next, context) => (args) => {
      if (context.commandName === DescribeInstancesCommand.name) describes += 1
      return next(args)
    },
    { step: "initialize", name: "countDescribeInstances" }
  )
  return { client, describes: () => describes }
}

/** Launches `count` instances in moto (no nodes), tagged with `tags`; they are terminated when the file ends. */
const runInstances = async (count: number, tags: Record<string, string> = {}) => {
  const entries = Object.entries(tags)
  const run = await bed.clients.ec2.send(
    new RunInstancesCommand({
      ImageId: "ami-12c6146b",
      InstanceType: "t3.micro",
      MinCount: count,
      MaxCount: count,
      ...(entries.length > 0
        ? {
            TagSpecifications: [
              { ResourceType: "instance", Tags: entries.map(([Key, Value]) => ({ Key, Value })) }
            ]
          }
        : {})
    })
  )
  const ids = (run.Instances ?? []).map((instance) => instance.InstanceId!)
  bed.defer(() => bed.clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: ids })))
  return (run.Instances ?? []).map((instance) => ({
    instanceId: instance.InstanceId!,
    privateDnsName: instance.PrivateDnsName!
  }))
}

/** Polls `lookup` until `predicate` holds (the watch brings changes a moment after the API server has them). */
const eventually = <A, E>(lookup: Effect.Effect<A, E>, predicate: (a: A) => boolean) =>
  lookup.pipe(
    Effect.flatMap((a) => (predicate(a) ? Effect.succeed(a) : Effect.fail("not yet" as const))),
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo({ times: 200 })))
  )

const kubeClient = () => KubeClient.make({ kubeConfig: bed.clients.kubeConfig, requestTimeout: "10 seconds" })

describe("InstanceInfo against moto", () => {
  it.live(
    "answers 50 concurrent lookups of distinct instances with one DescribeInstances call, then from its cache",
    () =>
      Effect.gen(function* () {
        const managed = yield* Effect.promise(() =>
          runInstances(25, { [InstanceInfo.defaultManagedTag]: "" })
        )
        const unmanaged = yield* Effect.promise(() => runInstances(25, { team: "other" }))
        const launched = [...managed, ...unmanaged]
        const { client, describes } = countingClient()
        const info = yield* InstanceInfo.make({ client })

        const found = yield* Effect.forEach(launched, (instance) => info.describe(instance.instanceId), {
          concurrency: "unbounded"
        })
        expect(describes()).toBe(1)
        expect(found.map((instance) => instance?.privateDnsName)).toEqual(
          launched.map((i) => i.privateDnsName)
        )
        expect(found.map((instance) => InstanceInfo.isManaged(instance!))).toEqual([
          ...managed.map(() => true),
          ...unmanaged.map(() => false)
        ])
        expect(found.every((instance) => InstanceInfo.isManaged(instance!, { checkTag: false }))).toBe(true)
        expect(found[30]?.tags).toEqual({ team: "other" })

        // A second lookup of the same instance is answered from the cache.
        const again = yield* info.describe(launched[7]!.instanceId)
        expect(again?.privateDnsName).toBe(launched[7]!.privateDnsName)
        expect(describes()).toBe(1)
        client.destroy()
      })
  )

  it.live("answers an instance moto does not know as not found, beside one it knows, in one call", () =>
    Effect.gen(function* () {
      const [known] = yield* Effect.promise(() => runInstances(1))
      const { client, describes } = countingClient()
      const info = yield* InstanceInfo.make({ client })
      const [one, unknown] = yield* Effect.all(
        [info.describe(known!.instanceId), info.describe("i-0000000000000dead")],
        { concurrency: "unbounded" }
      )
      expect(one?.instanceId).toBe(known!.instanceId)
      expect(one?.state).toBe("running")
      expect(one?.providerId).toBe(`aws:///${one?.availabilityZone}/${known!.instanceId}`)
      expect(unknown).toBeUndefined()
      expect(describes()).toBe(1)
      client.destroy()
    })
  )

  it.live("builds its own client from the endpoint and region given", () =>
    Effect.gen(function* () {
      const [known] = yield* Effect.promise(() => runInstances(1))
      const info = yield* InstanceInfo.make({ endpoint: env.AWS_ENDPOINT_URL, region: env.AWS_REGION })
      expect((yield* info.describe(known!.instanceId))?.privateDnsName).toBe(known!.privateDnsName)
      expect(info.callCount()).toBe(1)
    })
  )
})

describe("NodeIndex against the test bed", () => {
  it.live("finds a node by the private DNS name EC2 gives, and by provider id; the node is Ready", () =>
    Effect.gen(function* () {
      const registered = yield* Effect.promise(() => bed.registerNode())
      const kube = yield* kubeClient()
      const info = yield* InstanceInfo.make({ endpoint: env.AWS_ENDPOINT_URL, region: env.AWS_REGION })
      const byName = yield* NodeIndex.make().pipe(Effect.provideService(KubeClient.KubeClient, kube))
      const byProviderId = yield* NodeIndex.make({ useProviderId: true }).pipe(
        Effect.provideService(KubeClient.KubeClient, kube)
      )

      const instance = yield* info.describe(registered.instanceId)
      expect(instance?.privateDnsName).toBe(registered.privateDnsName)
      expect(InstanceInfo.isManaged(instance!)).toBe(true)
      const node = yield* byName.lookup(instance!)
      expect(node?.metadata?.name).toBe(registered.name)
      expect(NodeIndex.isReady(node!)).toBe(true)
      expect((yield* byProviderId.lookup(instance!))?.metadata?.name).toBe(registered.name)
    })
  )

  it.live("finds a node not named after its DNS name by provider id only", () =>
    Effect.gen(function* () {
      const registered = yield* Effect.promise(() =>
        bed.registerNode({ name: Fixtures.uniqueName("worker") })
      )
      const kube = yield* kubeClient()
      const byName = yield* NodeIndex.make().pipe(Effect.provideService(KubeClient.KubeClient, kube))
      const byProviderId = yield* NodeIndex.make({ useProviderId: true }).pipe(
        Effect.provideService(KubeClient.KubeClient, kube)
      )
      const key = { instanceId: registered.instanceId, privateDnsName: registered.privateDnsName }
      expect(yield* byName.lookup(key)).toBeUndefined()
      expect((yield* byProviderId.lookup(key))?.metadata?.name).toBe(registered.name)
    })
  )

  it.live(
    "does not take a node whose provider id names another instance for the one its name is the DNS name of",
    () =>
      Effect.gen(function* () {
        const [other] = yield* Effect.promise(() => runInstances(1))
        // A node named as `other` would be, running on an instance of its own (a reused private address, say).
        const registered = yield* Effect.promise(() => bed.registerNode({ name: other!.privateDnsName }))
        const kube = yield* kubeClient()
        const byName = yield* NodeIndex.make().pipe(Effect.provideService(KubeClient.KubeClient, kube))
        expect(yield* byName.lookup(other!)).toBeUndefined()
        expect(
          (yield* byName.lookup({ instanceId: registered.instanceId, privateDnsName: other!.privateDnsName }))
            ?.metadata?.name
        ).toBe(other!.privateDnsName)
      })
  )

  it.live("finds a node registered after it started, and no longer finds a deleted one", () =>
    Effect.gen(function* () {
      const kube = yield* kubeClient()
      const index = yield* NodeIndex.make().pipe(Effect.provideService(KubeClient.KubeClient, kube))
      yield* index.synced
      const registered = yield* Effect.promise(() => bed.registerNode())
      const key = { instanceId: registered.instanceId, privateDnsName: registered.privateDnsName }
      const found = yield* eventually(index.lookup(key), (node) => node !== undefined)
      expect(found?.metadata?.name).toBe(registered.name)
      yield* Effect.promise(() => Fixtures.deleteNode(bed.clients, registered.name))
      yield* eventually(index.lookup(key), (node) => node === undefined)
    })
  )

  it.live("answers a lookup made as it starts, after the first list, not 'not found'", () =>
    Effect.gen(function* () {
      const registered = yield* Effect.promise(() => bed.registerNode())
      const kube = yield* kubeClient()
      const index = yield* NodeIndex.make().pipe(Effect.provideService(KubeClient.KubeClient, kube))
      // No wait for `synced`: the lookup waits for the list.
      const node = yield* index.lookup({
        instanceId: registered.instanceId,
        privateDnsName: registered.privateDnsName
      })
      expect(node?.metadata?.name).toBe(registered.name)
      expect(index.size()).toBeGreaterThan(0)
    })
  )
})
