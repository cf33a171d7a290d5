import { assert, describe, expect, it } from "@effect/vitest"
import { useTestBed } from "@nth/testbed"
import { Effect, Fiber, Stream } from "effect"
import { KubeClient } from "../src/index.ts"

const bed = useTestBed()

const withClient = <A, E>(f: (client: KubeClient.Service) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const client = yield* KubeClient.make({ kubeConfig: bed.clients.kubeConfig, requestTimeout: "5 seconds" })
    return yield* f(client)
  })

describe("KubeClient", () => {
  it.live("calls the API and counts its requests", () =>
    withClient((client) =>
      Effect.gen(function* () {
        for (let i = 0; i < 10; i++) {
          yield* client.call("list namespaces", (options) => client.core.listNamespace({}, options))
        }
        const namespace = yield* client.call("read namespace", (options) =>
          client.core.readNamespace({ name: bed.namespace() }, options)
        )
        expect(namespace.metadata?.name).toBe(bed.namespace())
        expect(client.requestCount()).toBe(11)
      })
    )
  )

  it.live("fails with a typed reason", () =>
    withClient((client) =>
      Effect.gen(function* () {
        const error = yield* client
          .call("read pod nope", (options) =>
            client.core.readNamespacedPod({ name: "nope", namespace: bed.namespace() }, options)
          )
          .pipe(Effect.flip)
        expect(error._tag).toBe("KubeError")
        expect(error.reason).toBe("NotFound")
        expect(error.status).toBe(404)
        expect(error.operation).toBe("read pod nope")
        expect(error.message).toContain("nope")
      })
    )
  )

  it.live("applies a strategic merge patch when asked", () =>
    withClient((client) =>
      Effect.gen(function* () {
        const namespace = bed.namespace()
        yield* client.call("create configmap", (options) =>
          client.core.createNamespacedConfigMap(
            { namespace, body: { metadata: { name: "patched" }, data: { a: "1" } } },
            options
          )
        )
        const patched = yield* client.call(
          "patch configmap",
          (options) =>
            client.core.patchNamespacedConfigMap(
              { name: "patched", namespace, body: { data: { b: "2" } } },
              options
            ),
          { patch: KubeClient.PatchStrategy.StrategicMergePatch }
        )
        expect(patched.data).toEqual({ a: "1", b: "2" })
      })
    )
  )

  it.live("watches a path as a stream", () =>
    withClient((client) =>
      Effect.gen(function* () {
        const namespace = bed.namespace()
        const list = yield* client.call("list configmaps", (options) =>
          client.core.listNamespacedConfigMap({ namespace }, options)
        )
        const events = yield* client
          .watch<{ metadata: { name: string } }>(`/api/v1/namespaces/${namespace}/configmaps`, {
            resourceVersion: list.metadata?.resourceVersion,
            allowWatchBookmarks: true
          })
          .pipe(
            Stream.filter((event) => event.type === "ADDED"),
            Stream.take(1),
            Stream.runCollect,
            Effect.forkChild
          )
        yield* Effect.sleep("200 millis")
        yield* client.call("create configmap", (options) =>
          client.core.createNamespacedConfigMap(
            { namespace, body: { metadata: { name: "watched" } } },
            options
          )
        )
        const [event] = yield* Fiber.join(events)
        assert.strictEqual(event?.object.metadata.name, "watched")
      })
    )
  )

  it.live("aborts the request when interrupted", () =>
    withClient((client) =>
      Effect.gen(function* () {
        const fiber = yield* client
          .watch(`/api/v1/namespaces/${bed.namespace()}/configmaps`, {})
          .pipe(Stream.runDrain, Effect.forkChild)
        yield* Effect.sleep("100 millis")
        yield* Fiber.interrupt(fiber)
      })
    )
  )
})
