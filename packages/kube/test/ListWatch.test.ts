/**
 * ListWatch against a scripted stub of the client (what it lists, watches, resumes and reports), then once against
 * the test bed's API server.
 */
import { describe, expect, it } from "@effect/vitest"
import { useTestBed } from "@nth/testbed"
import { type Duration, Effect, Fiber, Queue, Schedule, Stream } from "effect"
import { KubeClient, KubeError, ListWatch } from "../src/index.ts"

const bed = useTestBed()

interface Thing {
  readonly metadata: { readonly name: string; readonly resourceVersion: string }
}

const thing = (name: string, resourceVersion: string): Thing => ({ metadata: { name, resourceVersion } })

type WatchParams = Readonly<Record<string, string | number | boolean | undefined>>

const failure = (status: number, message: string) =>
  KubeError.fromUnknown("stub", { code: status, body: JSON.stringify({ message }), headers: {} })

const gone = () =>
  new KubeError.KubeError({ operation: "watch /things", reason: "Gone", status: 410, message: "too old" })

/** Events, then the watch stays open (`end: false`), ends (`end: true`) or fails. */
const events = (
  items: ReadonlyArray<KubeClient.WatchEvent<Thing>>,
  end: boolean | KubeError.KubeError = false
): Stream.Stream<KubeClient.WatchEvent<Thing>, KubeError.KubeError> => {
  const head = Stream.fromIterable(items)
  if (end === true) return head
  return Stream.concat(head, end === false ? Stream.never : Stream.fail(end))
}

/**
 * A client that lists and watches `/things` as the test scripts it: the nth list call (from 0) answers
 * `lists(n, params)`, the nth watch `watches(n, params)`; calls are recorded with the time they were made.
 */
const makeStub = (script: {
  readonly lists?: (
    n: number,
    params: ListWatch.ListParams
  ) => ListWatch.ObjectList<Thing> | KubeError.KubeError
  readonly watches: (
    n: number,
    params: WatchParams
  ) => Stream.Stream<KubeClient.WatchEvent<Thing>, KubeError.KubeError>
}) => {
  const listCalls: Array<{ readonly params: ListWatch.ListParams; readonly at: number }> = []
  const watchCalls: Array<{ readonly params: WatchParams; readonly at: number }> = []
  const resource: ListWatch.Resource<Thing> = {
    kind: "things",
    path: "/things",
    list: (_kube, params) => {
      const answer = (script.lists ?? (() => ({ items: [], metadata: { resourceVersion: "1" } })))(
        listCalls.length,
        params
      )
      listCalls.push({ params, at: Date.now() })
      return answer instanceof KubeError.KubeError ? Promise.reject(answer) : Promise.resolve(answer)
    }
  }
  const kube = {
    call: (operation: string, run: (options: KubeClient.CallOptions) => Promise<unknown>) =>
      Effect.tryPromise({
        try: (signal) => run({ signal }),
        catch: (error) => KubeError.fromUnknown(operation, error)
      }),
    watch: (path: string, params: WatchParams) => {
      expect(path).toBe("/things")
      const n = watchCalls.length
      watchCalls.push({ params, at: Date.now() })
      return script.watches(n, params)
    }
  } as unknown as KubeClient.Service
  return { kube, resource, listCalls, watchCalls }
}

/** Runs the stream in the background, collecting its signals (without the `Up`s unless asked). */
const collect = (stub: ReturnType<typeof makeStub>, options: ListWatch.Options = {}, keepUps = false) =>
  Effect.gen(function* () {
    const signals: Array<ListWatch.Signal<Thing>> = []
    const fiber = yield* ListWatch.stream(stub.kube, stub.resource, options).pipe(
      Stream.runForEach((signal) =>
        Effect.sync(() => {
          if (keepUps || signal._tag !== "Up") signals.push(signal)
        })
      ),
      Effect.forkChild
    )
    return { signals, fiber }
  })

const until = (condition: () => boolean, timeout: Duration.Input = "2 seconds") =>
  Effect.gen(function* () {
    while (!condition()) yield* Effect.sleep("5 millis")
  }).pipe(Effect.timeout(timeout))

const summary = (signal: ListWatch.Signal<Thing>) => {
  switch (signal._tag) {
    case "Listed":
      return `Listed ${signal.items.map((item) => item.metadata.name).join(",")} @${signal.resourceVersion}`
    case "Event":
      return `${signal.type} ${signal.object.metadata.name}`
    case "Up":
      return "Up"
    case "Down":
      return `Down ${signal.error.reason} ${signal.failuresInARow}`
  }
}

describe("ListWatch", () => {
  it.live("lists, then watches from the list's resourceVersion, passing events on and bookmarks not", () =>
    Effect.gen(function* () {
      const stub = makeStub({
        lists: () => ({ items: [thing("a", "5")], metadata: { resourceVersion: "10" } }),
        watches: () =>
          events([
            { type: "ADDED", object: thing("b", "11") },
            { type: "BOOKMARK", object: thing("", "12") },
            { type: "MODIFIED", object: thing("b", "13") },
            { type: "DELETED", object: thing("a", "14") }
          ])
      })
      const { signals } = yield* collect(
        stub,
        { fieldSelector: "spec.nodeName=n1", labelSelector: "app=x" },
        true
      )
      yield* until(() => signals.length >= 5)
      expect(signals.map(summary)).toEqual(["Listed a @10", "Up", "ADDED b", "MODIFIED b", "DELETED a"])
      expect(stub.listCalls.map((call) => call.params)).toEqual([
        { fieldSelector: "spec.nodeName=n1", labelSelector: "app=x" }
      ])
      expect(stub.watchCalls.map((call) => call.params)).toEqual([
        {
          fieldSelector: "spec.nodeName=n1",
          labelSelector: "app=x",
          resourceVersion: "10",
          allowWatchBookmarks: true,
          timeoutSeconds: 300
        }
      ])
    })
  )

  it.live("resumes from the last resourceVersion (a bookmark's too) when the server ends the watch", () =>
    Effect.gen(function* () {
      const stub = makeStub({
        watches: (n) =>
          n === 0
            ? events(
                [
                  { type: "ADDED", object: thing("a", "2") },
                  { type: "BOOKMARK", object: thing("", "3") }
                ],
                true
              )
            : events([{ type: "MODIFIED", object: thing("a", "4") }])
      })
      const { signals } = yield* collect(stub)
      yield* until(() => signals.length >= 3 && stub.watchCalls.length >= 2)
      expect(signals.map(summary)).toEqual(["Listed  @1", "ADDED a", "MODIFIED a"])
      expect(stub.listCalls).toHaveLength(1)
      expect(stub.watchCalls.map((call) => call.params.resourceVersion)).toEqual(["1", "3"])
      // The session that ended had events: the next started at once.
      expect(stub.watchCalls[1]!.at - stub.watchCalls[0]!.at).toBeLessThan(200)
    })
  )

  it.live("relists when the watch's resourceVersion is Gone, without reporting the watch down", () =>
    Effect.gen(function* () {
      const stub = makeStub({
        lists: (n) =>
          n === 0
            ? { items: [thing("a", "2"), thing("b", "3")], metadata: { resourceVersion: "5" } }
            : { items: [thing("b", "3")], metadata: { resourceVersion: "50" } },
        watches: (n) => (n === 0 ? events([{ type: "ADDED", object: thing("c", "6") }], gone()) : events([]))
      })
      const { signals } = yield* collect(stub, {}, true)
      yield* until(() => signals.length >= 4 && stub.watchCalls.length >= 2)
      expect(signals.map(summary)).toEqual(["Listed a,b @5", "Up", "ADDED c", "Listed b @50"])
      expect(stub.watchCalls.map((call) => call.params.resourceVersion)).toEqual(["5", "50"])
    })
  )

  it.live("backs off while attempts fail, reports each failure, relists after one, and comes back up", () =>
    Effect.gen(function* () {
      const stub = makeStub({
        lists: (n) =>
          n < 3
            ? failure(403, "things is forbidden")
            : { items: [], metadata: { resourceVersion: String(n) } },
        watches: (n) =>
          n === 0
            ? Stream.fail(failure(503, "unavailable"))
            : events([{ type: "ADDED", object: thing("a", "9") }])
      })
      const { signals } = yield* collect(stub, { backoff: Schedule.exponential("100 millis") }, true)
      yield* until(() => signals.length >= 8, "5 seconds")
      expect(signals.map(summary)).toEqual([
        "Down Forbidden 1",
        "Down Forbidden 2",
        "Down Forbidden 3",
        "Listed  @3",
        "Down Unavailable 4",
        "Listed  @4",
        "Up",
        "ADDED a"
      ])
      const down = signals.find((signal) => signal._tag === "Down")
      expect(down?._tag === "Down" && down.error).toMatchObject({ _tag: "KubeError", status: 403 })
      // 100, 200, 400, 800 ms between the attempts (sleeps never end early).
      const gaps = stub.listCalls.slice(1).map((call, i) => call.at - stub.listCalls[i]!.at)
      expect(gaps).toHaveLength(4)
      for (const [i, gap] of gaps.entries()) expect(gap).toBeGreaterThanOrEqual(100 * 2 ** i - 5)
    })
  )

  it.live("starts from a given resourceVersion without listing, and lists after the first error", () =>
    Effect.gen(function* () {
      const stub = makeStub({
        lists: () => ({ items: [thing("a", "1")], metadata: { resourceVersion: "8" } }),
        watches: (n) =>
          n === 0 ? events([{ type: "MODIFIED", object: thing("a", "7") }], failure(500, "boom")) : events([])
      })
      const { signals } = yield* collect(stub, { resourceVersion: "6" })
      yield* until(() => signals.length >= 3 && stub.watchCalls.length >= 2)
      expect(signals.map(summary)).toEqual(["MODIFIED a", "Down InternalError 1", "Listed a @8"])
      expect(stub.watchCalls.map((call) => call.params.resourceVersion)).toEqual(["6", "8"])
    })
  )

  it.live("lists in pages, keeping the first page's resourceVersion", () =>
    Effect.gen(function* () {
      const stub = makeStub({
        lists: (n) =>
          n === 0
            ? {
                items: [thing("a", "1"), thing("b", "1")],
                metadata: { resourceVersion: "20", _continue: "next" }
              }
            : { items: [thing("c", "1")], metadata: { resourceVersion: "21" } },
        watches: () => events([])
      })
      const { signals } = yield* collect(stub, { pageSize: 2 })
      yield* until(() => signals.length >= 1 && stub.watchCalls.length >= 1)
      expect(signals.map(summary)).toEqual(["Listed a,b,c @20"])
      expect(stub.listCalls.map((call) => call.params)).toEqual([
        { limit: 2 },
        { limit: 2, _continue: "next" }
      ])
      expect(stub.watchCalls[0]!.params.resourceVersion).toBe("20")
    })
  )

  it.live("backs off watches the server ends at once without events", () =>
    Effect.gen(function* () {
      const stub = makeStub({ watches: () => events([], true) })
      yield* collect(stub, { backoff: Schedule.exponential("100 millis") })
      yield* Effect.sleep("500 millis")
      // At 0, 100, 300 ms (and 700): not a busy loop; and resumed, not relisted.
      expect(stub.watchCalls.length).toBeGreaterThanOrEqual(2)
      expect(stub.watchCalls.length).toBeLessThanOrEqual(4)
      expect(stub.listCalls).toHaveLength(1)
    })
  )

  it.live("aborts the watch in flight when interrupted", () =>
    Effect.gen(function* () {
      let open = 0
      const stub = makeStub({
        watches: () =>
          Stream.callback<KubeClient.WatchEvent<Thing>, KubeError.KubeError>((queue) =>
            Effect.acquireRelease(
              Effect.sync(() => {
                open += 1
                Queue.offerUnsafe(queue, { type: "ADDED", object: thing("a", "2") })
              }),
              () =>
                Effect.sync(() => {
                  open -= 1
                })
            )
          )
      })
      const { signals, fiber } = yield* collect(stub)
      yield* until(() => signals.length >= 2)
      expect(open).toBe(1)
      yield* Fiber.interrupt(fiber)
      expect(open).toBe(0)
    })
  )
})

describe("ListWatch against the test bed", () => {
  it.live("lists and watches a namespace's pods with one list and one watch", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.make({ kubeConfig: bed.clients.kubeConfig, requestTimeout: "5 seconds" })
      const namespace = bed.namespace()
      const signals: Array<ListWatch.Signal<{ metadata?: { name?: string } }>> = []
      yield* ListWatch.stream(kube, ListWatch.pods, {
        fieldSelector: `metadata.namespace=${namespace}`
      }).pipe(
        Stream.runForEach((signal) => Effect.sync(() => signals.push(signal))),
        Effect.forkChild
      )
      yield* until(() => signals.some((signal) => signal._tag === "Listed"), "10 seconds")
      const name = "listwatch-probe"
      // Bound to a node that does not exist: nothing runs it, and a deletion with grace 0 is immediate.
      yield* Effect.promise(() =>
        bed.clients.core.createNamespacedPod({
          namespace,
          body: {
            metadata: { name },
            spec: {
              nodeName: "listwatch-nowhere",
              containers: [{ name: "app", image: "registry.k8s.io/pause:3.10" }]
            }
          }
        })
      )
      const eventFor = (type: string) => () =>
        signals.some(
          (signal) => signal._tag === "Event" && signal.type === type && signal.object.metadata?.name === name
        )
      yield* until(eventFor("ADDED"), "10 seconds")
      yield* Effect.promise(() =>
        bed.clients.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 })
      )
      yield* until(eventFor("DELETED"), "10 seconds")
      expect(signals[0]?._tag).toBe("Listed")
      expect(signals.some((signal) => signal._tag === "Down")).toBe(false)
      expect(kube.requestCount()).toBe(2)
    })
  )

  it.live("lists nodes with a label selector in pages, then watches them", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient.make({ kubeConfig: bed.clients.kubeConfig, requestTimeout: "5 seconds" })
      const group = `g${Math.random().toString(16).slice(2, 8)}`
      const labels = { "testbed.nth.dev/group": group }
      const first = yield* Effect.promise(() =>
        Promise.all([1, 2, 3].map(() => bed.registerNode({ labels })))
      )
      const signals: Array<ListWatch.Signal<{ metadata?: { name?: string } }>> = []
      yield* ListWatch.stream(kube, ListWatch.nodes, {
        labelSelector: `testbed.nth.dev/group=${group}`,
        pageSize: 2
      }).pipe(
        Stream.runForEach((signal) => Effect.sync(() => signals.push(signal))),
        Effect.forkChild
      )
      yield* until(() => signals.some((signal) => signal._tag === "Listed"), "10 seconds")
      const listed = signals[0]
      expect(listed?._tag === "Listed" && listed.items.map((node) => node.metadata?.name).sort()).toEqual(
        first.map((node) => node.name).sort()
      )
      const second = yield* Effect.promise(() => bed.registerNode({ labels }))
      yield* until(
        () =>
          signals.some(
            (signal) =>
              signal._tag === "Event" &&
              signal.type === "ADDED" &&
              signal.object.metadata?.name === second.name
          ),
        "10 seconds"
      )
      expect(signals.some((signal) => signal._tag === "Down")).toBe(false)
    })
  )
})
