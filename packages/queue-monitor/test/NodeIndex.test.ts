/**
 * NodeIndex on a stub of the kube client (a list the test answers, a watch the test feeds): its rules, how it
 * follows the watch, and how it waits for the first list.
 */

import { describe, expect, it } from "@effect/vitest"
import type { V1Node, V1NodeList } from "@kubernetes/client-node"
import { KubeClient, KubeError } from "@nth/kube"
import { Effect, Fiber, Queue, Schedule, Stream } from "effect"
import { NodeIndex } from "../src/index.ts"

const node = (
  name: string,
  options: {
    readonly instanceId?: string
    readonly hostname?: string | null
    readonly providerId?: string
    readonly ready?: boolean
    readonly labels?: Record<string, string>
  } = {}
): V1Node => ({
  metadata: {
    name,
    resourceVersion: "1",
    labels: {
      ...(options.hostname === null ? {} : { "kubernetes.io/hostname": options.hostname ?? name }),
      ...options.labels
    },
    managedFields: [{ manager: "kubelet" }]
  },
  spec: {
    ...(options.providerId !== undefined
      ? { providerID: options.providerId }
      : options.instanceId
        ? { providerID: `aws:///us-east-1a/${options.instanceId}` }
        : {})
  },
  status: {
    conditions: [{ type: "Ready", status: options.ready === false ? "False" : "True" }],
    images: [{ names: ["registry.k8s.io/pause:3.10"], sizeBytes: 1 }]
  }
})

type Event = KubeClient.WatchEvent<V1Node>

/** A kube client whose list of nodes answers `list()` and whose watches read `events`. */
const stubKube = (list: () => Promise<V1NodeList>, events: Queue.Queue<Event>): KubeClient.Service =>
  ({
    core: { listNode: () => list() },
    call: (operation: string, run: (options: KubeClient.CallOptions) => Promise<unknown>) =>
      Effect.tryPromise({
        try: (signal) => run({ signal }),
        catch: (error) => KubeError.fromUnknown(operation, error)
      }),
    watch: () => Stream.fromQueue(events)
  }) as unknown as KubeClient.Service

const listOf = (...items: ReadonlyArray<V1Node>): V1NodeList => ({
  items: [...items],
  metadata: { resourceVersion: "1" }
})

const withIndex = <A, E>(
  nodes: ReadonlyArray<V1Node>,
  options: NodeIndex.Options,
  f: (index: NodeIndex.Service, events: Queue.Queue<Event>) => Effect.Effect<A, E>
) =>
  Effect.gen(function* () {
    const events = yield* Queue.unbounded<Event>()
    const kube = stubKube(() => Promise.resolve(listOf(...nodes)), events)
    const index = yield* NodeIndex.make(options).pipe(Effect.provideService(KubeClient.KubeClient, kube))
    return yield* f(index, events)
  })

const id1 = "i-0123456789abcdef1"
const id2 = "i-0123456789abcdef2"
const dns1 = "ip-10-0-0-1.ec2.internal"
const dns2 = "ip-10-0-0-2.ec2.internal"

/** Lookups until `predicate` holds (the watch's events are applied by another fiber). */
const eventually = <A, E>(lookup: Effect.Effect<A, E>, predicate: (a: A) => boolean) =>
  lookup.pipe(
    Effect.flatMap((a) => (predicate(a) ? Effect.succeed(a) : Effect.fail("not yet" as const))),
    Effect.retry(Schedule.spaced("5 millis").pipe(Schedule.upTo({ times: 200 })))
  )

describe("NodeIndex", () => {
  it.live("finds a node by its private DNS name: hostname label, its short form, then the node's name", () =>
    withIndex(
      [
        node(dns1, { instanceId: id1 }),
        node("short-labelled", { instanceId: id2, hostname: "ip-10-0-0-2" }),
        node("ip-10-0-0-3.ec2.internal", { hostname: null })
      ],
      {},
      (index) =>
        Effect.gen(function* () {
          expect((yield* index.lookup({ instanceId: id1, privateDnsName: dns1 }))?.metadata?.name).toBe(dns1)
          expect((yield* index.lookup({ instanceId: id2, privateDnsName: dns2 }))?.metadata?.name).toBe(
            "short-labelled"
          )
          expect(
            (yield* index.lookup({ instanceId: "i-03", privateDnsName: "ip-10-0-0-3.ec2.internal" }))
              ?.metadata?.name
          ).toBe("ip-10-0-0-3.ec2.internal")
          expect(
            yield* index.lookup({ instanceId: "i-04", privateDnsName: "ip-10-0-0-4.ec2.internal" })
          ).toBe(undefined)
          expect(yield* index.lookup({ instanceId: id1, privateDnsName: "" })).toBe(undefined)
          expect(index.size()).toBe(3)
        })
    )
  )

  it.live("by name, never answers a node whose provider id names another instance", () =>
    withIndex([node(dns1, { instanceId: id2 })], {}, (index) =>
      Effect.gen(function* () {
        expect(yield* index.lookup({ instanceId: id1, privateDnsName: dns1 })).toBe(undefined)
        expect((yield* index.lookup({ instanceId: id2, privateDnsName: dns1 }))?.metadata?.name).toBe(dns1)
      })
    )
  )

  it.live("by provider id, finds a node whatever its name, and ignores the DNS name", () =>
    withIndex(
      [
        node("worker-a", { instanceId: id1 }),
        node(dns2, { providerId: `aws:///us-east-1a/${id2}/extra` }),
        node("eksctl", { hostname: null, labels: { "alpha.eksctl.io/instance-id": "i-0abc" } })
      ],
      { useProviderId: true },
      (index) =>
        Effect.gen(function* () {
          expect((yield* index.lookup({ instanceId: id1, privateDnsName: dns1 }))?.metadata?.name).toBe(
            "worker-a"
          )
          // Not an aws:///<zone>/<instance id> provider id, and found by name only in the other rule.
          expect(yield* index.lookup({ instanceId: id2, privateDnsName: dns2 })).toBe(undefined)
          expect((yield* index.lookup({ instanceId: "i-0abc", privateDnsName: "" }))?.metadata?.name).toBe(
            "eksctl"
          )
        })
    )
  )

  it.live("follows the watch: added, modified (re-indexed) and deleted nodes", () =>
    withIndex([], { useProviderId: true }, (index, events) =>
      Effect.gen(function* () {
        const byId = (instanceId: string) => index.lookup({ instanceId, privateDnsName: "" })
        expect(yield* byId(id1)).toBe(undefined)
        yield* Queue.offer(events, { type: "ADDED", object: node("a", { instanceId: id1, ready: false }) })
        const added = yield* eventually(byId(id1), (found) => found !== undefined)
        expect(NodeIndex.isReady(added!)).toBe(false)
        yield* Queue.offer(events, { type: "MODIFIED", object: node("a", { instanceId: id2 }) })
        const moved = yield* eventually(byId(id2), (found) => found !== undefined)
        expect(NodeIndex.isReady(moved!)).toBe(true)
        expect(yield* byId(id1)).toBe(undefined)
        yield* Queue.offer(events, { type: "DELETED", object: node("a", { instanceId: id2 }) })
        yield* eventually(byId(id2), (found) => found === undefined)
        expect(index.size()).toBe(0)
      })
    )
  )

  it.live("keeps no images and no managed fields", () =>
    withIndex([node(dns1, { instanceId: id1 })], {}, (index) =>
      Effect.gen(function* () {
        const found = yield* index.lookup({ instanceId: id1, privateDnsName: dns1 })
        expect(found?.status?.images).toBe(undefined)
        expect(found?.metadata?.managedFields).toBe(undefined)
        expect(found?.status?.conditions).toHaveLength(1)
        expect(found?.spec?.providerID).toBe(`aws:///us-east-1a/${id1}`)
      })
    )
  )

  it.live("makes a lookup made before the first list wait for it", () =>
    Effect.gen(function* () {
      const events = yield* Queue.unbounded<Event>()
      let answerList: ((list: V1NodeList) => void) | undefined
      const kube = stubKube(
        () =>
          new Promise<V1NodeList>((resolve) => {
            answerList = resolve
          }),
        events
      )
      const index = yield* NodeIndex.make().pipe(Effect.provideService(KubeClient.KubeClient, kube))
      const lookup = yield* Effect.forkChild(index.lookup({ instanceId: id1, privateDnsName: dns1 }))
      yield* Effect.sleep("50 millis")
      expect(lookup.pollUnsafe()).toBe(undefined)
      answerList?.(listOf(node(dns1, { instanceId: id1 })))
      expect((yield* Fiber.join(lookup))?.metadata?.name).toBe(dns1)
    })
  )

  it.live(
    "fails a lookup with NotSynced, naming the last error, when the nodes cannot be listed in time",
    () =>
      Effect.gen(function* () {
        const events = yield* Queue.unbounded<Event>()
        const kube = stubKube(
          () =>
            Promise.reject({
              code: 403,
              body: JSON.stringify({
                message: 'nodes is forbidden: User "nth" cannot list resource "nodes"'
              }),
              headers: {}
            }),
          events
        )
        const index = yield* NodeIndex.make({
          syncTimeout: "200 millis",
          backoff: Schedule.spaced("20 millis")
        }).pipe(Effect.provideService(KubeClient.KubeClient, kube))
        const error = yield* Effect.flip(index.lookup({ instanceId: id1, privateDnsName: dns1 }))
        expect(error._tag).toBe("NodeIndexError")
        expect(error.reason).toBe("NotSynced")
        expect(error.message).toContain("nodes is forbidden")
        // The readiness probe says why.
        expect(index.health()).toMatchObject({
          ready: false,
          reason: expect.stringContaining("nodes is forbidden")
        })
      })
  )

  it.live("health: not ready until the first list, ready after it", () =>
    Effect.gen(function* () {
      const events = yield* Queue.unbounded<Event>()
      let answer: (list: V1NodeList) => void = () => {}
      const listed = new Promise<V1NodeList>((resolve) => {
        answer = resolve
      })
      const kube = stubKube(() => listed, events)
      const index = yield* NodeIndex.make({}).pipe(Effect.provideService(KubeClient.KubeClient, kube))
      expect(index.health()).toEqual({ ready: false, reason: "the nodes are not listed yet" })
      answer(listOf(node("a", { instanceId: id1 })))
      yield* index.synced
      expect(index.health()).toEqual({ ready: true })
    })
  )

  it.live("replaces everything on a relist: nodes deleted while the watch was down are gone", () =>
    Effect.gen(function* () {
      let lists = 0
      let watches = 0
      const kube = {
        ...stubKube(() => {
          lists += 1
          return Promise.resolve(
            lists === 1 ? listOf(node(dns1, { instanceId: id1 })) : listOf(node(dns2, { instanceId: id2 }))
          )
        }, Effect.runSync(Queue.unbounded<Event>())),
        // The first watch fails: the loop lists again, then watches quietly.
        watch: () =>
          watches++ === 0
            ? Stream.fail(
                KubeError.fromUnknown("watch /api/v1/nodes", { code: 500, body: "{}", headers: {} })
              )
            : Stream.never
      } as KubeClient.Service
      const index = yield* NodeIndex.make({ backoff: Schedule.spaced("1 millis") }).pipe(
        Effect.provideService(KubeClient.KubeClient, kube)
      )
      yield* eventually(
        index.lookup({ instanceId: id2, privateDnsName: dns2 }),
        (found) => found !== undefined
      )
      expect(yield* index.lookup({ instanceId: id1, privateDnsName: dns1 })).toBe(undefined)
      expect(lists).toBe(2)
    })
  )
})

describe("NodeIndex.instanceIdOf", () => {
  it.each([
    ["aws:///us-east-1a/i-0123456789abcdef0", "i-0123456789abcdef0"],
    ["aws://us-east-1a/i-0abc1234", "i-0abc1234"],
    ["aws:///us-east-1a/fargate-ip-10-0-0-1", undefined],
    ["gce://project/zone/i-0123", undefined],
    ["", undefined]
  ])("%s is %s", (providerId, instanceId) => {
    expect(NodeIndex.instanceIdOf({ spec: { providerID: providerId } })).toBe(instanceId)
  })
})
