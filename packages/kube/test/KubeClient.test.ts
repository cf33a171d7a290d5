import { assert, describe, expect, it } from "@effect/vitest"
import { useTestBed } from "@nth/testbed"
import { Effect, Fiber, Stream } from "effect"
import { KubeClient } from "../src/index.ts"

const bed = useTestBed()

const withClient = <A, E>(
  f: (client: KubeClient.Service) => Effect.Effect<A, E>,
  options: KubeClient.Options = {}
) =>
  Effect.gen(function* () {
    const client = yield* KubeClient.make({
      kubeConfig: bed.clients.kubeConfig,
      requestTimeout: "5 seconds",
      ...options
    })
    return yield* f(client)
  })

describe("KubeClient", () => {
  it.live("calls the API and counts its requests", () =>
    withClient((client) =>
      Effect.gen(function* () {
        const node = yield* Effect.promise(() => bed.registerNode())
        for (let i = 0; i < 10; i++) {
          yield* client.call("list pods", (options) =>
            client.core.listPodForAllNamespaces({ limit: 1 }, options)
          )
        }
        const read = yield* client.call("read node", (options) =>
          client.core.readNode({ name: node.name }, options)
        )
        expect(read.metadata?.name).toBe(node.name)
        expect(read.spec?.providerID).toBe(node.providerId)
        expect(client.requestCount()).toBe(11)
      })
    )
  )

  it.live("lists nodes with a label selector, in pages", () =>
    withClient((client) =>
      Effect.gen(function* () {
        const group = `g${Math.random().toString(16).slice(2, 8)}`
        const nodes = yield* Effect.promise(() =>
          Promise.all([1, 2, 3].map(() => bed.registerNode({ labels: { "testbed.nth.dev/group": group } })))
        )
        const selector = { labelSelector: `testbed.nth.dev/group=${group}` }
        const first = yield* client.call("list nodes", (options) =>
          client.core.listNode({ ...selector, limit: 2 }, options)
        )
        expect(first.items).toHaveLength(2)
        // The JSON the server sent: `continue`, not client-node's `_continue`.
        const token = (first.metadata as { readonly continue?: string } | undefined)?.continue
        expect(token).toBeTruthy()
        const rest = yield* client.call("list nodes", (options) =>
          client.core.listNode({ ...selector, limit: 2, _continue: token! }, options)
        )
        expect([...first.items, ...rest.items].map((node) => node.metadata?.name).sort()).toEqual(
          nodes.map((node) => node.name).sort()
        )
        expect(rest.items[0]?.spec?.providerID).toMatch(/^aws:\/\/\/us-east-1a\/i-/)
      })
    )
  )

  it.live("reads the kubeconfig named by KUBECONFIG when given no KubeConfig", () =>
    Effect.gen(function* () {
      const client = yield* KubeClient.make()
      const list = yield* client.call("list pods", (options) =>
        client.core.listPodForAllNamespaces({ limit: 1 }, options)
      )
      expect(Array.isArray(list.items)).toBe(true)
    })
  )

  it.live("fails with a typed reason", () =>
    withClient((client) =>
      Effect.gen(function* () {
        const error = yield* client
          .call("read node nope", (options) => client.core.readNode({ name: "nope" }, options))
          .pipe(Effect.flip)
        expect(error._tag).toBe("KubeError")
        expect(error.reason).toBe("NotFound")
        expect(error.status).toBe(404)
        expect(error.operation).toBe("read node nope")
        expect(error.message).toContain("nope")
      })
    )
  )

  it.live("applies the patch flavour asked for", () =>
    withClient((client) =>
      Effect.gen(function* () {
        const node = yield* Effect.promise(() => bed.registerNode({ labels: { a: "1" } }))
        const patched = yield* client.call(
          "patch node",
          (options) =>
            client.core.patchNode({ name: node.name, body: { metadata: { labels: { b: "2" } } } }, options),
          { patch: KubeClient.PatchStrategy.StrategicMergePatch }
        )
        expect(patched.metadata?.labels).toMatchObject({ a: "1", b: "2" })
        const jsonPatched = yield* client.call("patch node", (options) =>
          client.core.patchNode(
            { name: node.name, body: [{ op: "add", path: "/metadata/labels/c", value: "3" }] },
            options
          )
        )
        expect(jsonPatched.metadata?.labels).toMatchObject({ a: "1", b: "2", c: "3" })
      })
    )
  )

  it.live("patches the status subresource (conditions merged by type in a strategic merge patch)", () =>
    withClient((client) =>
      Effect.gen(function* () {
        const node = yield* Effect.promise(() => bed.registerNode())
        const now = new Date().toISOString()
        const condition = {
          type: "TerminationHandling",
          status: "True",
          reason: "Cordoned",
          message: "a condition of nth's",
          lastHeartbeatTime: now,
          lastTransitionTime: now
        }
        const patched = yield* client.call(
          "patch node status",
          (options) =>
            client.core.patchNodeStatus(
              { name: node.name, body: { status: { conditions: [condition] } }, fieldManager: "nth" },
              options
            ),
          { patch: KubeClient.PatchStrategy.StrategicMergePatch }
        )
        const types = (patched.status?.conditions ?? []).map((c) => c.type)
        expect(types).toContain("Ready")
        expect(types).toContain("TerminationHandling")
        // A patch of the node itself leaves its status alone.
        const other = yield* client.call(
          "patch node",
          (options) =>
            client.core.patchNode({ name: node.name, body: { status: { conditions: [] } } }, options),
          { patch: KubeClient.PatchStrategy.MergePatch }
        )
        expect((other.status?.conditions ?? []).map((c) => c.type)).toContain("TerminationHandling")
        const dryRun = yield* client.call("patch node status", (options) =>
          client.core.patchNodeStatus(
            {
              name: node.name,
              body: [{ op: "replace", path: "/status/conditions", value: [] }],
              dryRun: "All"
            },
            options
          )
        )
        expect(dryRun.status?.conditions ?? []).toEqual([])
        const read = yield* client.call("read node", (options) =>
          client.core.readNode({ name: node.name }, options)
        )
        expect((read.status?.conditions ?? []).map((c) => c.type)).toContain("TerminationHandling")
      })
    )
  )

  it.live("watches a path as a stream", () =>
    withClient((client) =>
      Effect.gen(function* () {
        const node = yield* Effect.promise(() => bed.registerNode())
        const read = yield* client.call("read node", (options) =>
          client.core.readNode({ name: node.name }, options)
        )
        const events = yield* client
          .watch<{ metadata: { labels: Record<string, string> } }>("/api/v1/nodes", {
            fieldSelector: `metadata.name=${node.name}`,
            resourceVersion: read.metadata?.resourceVersion,
            allowWatchBookmarks: true
          })
          .pipe(
            Stream.filter(
              (event) => event.type === "MODIFIED" && event.object.metadata.labels.watched === "yes"
            ),
            Stream.take(1),
            Stream.runCollect,
            Effect.forkChild
          )
        yield* Effect.sleep("200 millis")
        yield* Effect.promise(() =>
          bed.clients.core.patchNode({
            name: node.name,
            body: [{ op: "add", path: "/metadata/labels/watched", value: "yes" }]
          })
        )
        const [event] = yield* Fiber.join(events)
        assert.strictEqual(event?.object.metadata.labels.watched, "yes")
      })
    )
  )

  it.live("aborts the request when interrupted", () =>
    withClient((client) =>
      Effect.gen(function* () {
        const fiber = yield* client.watch("/api/v1/nodes", {}).pipe(Stream.runDrain, Effect.forkChild)
        yield* Effect.sleep("100 millis")
        yield* Fiber.interrupt(fiber)
      })
    )
  )
})
