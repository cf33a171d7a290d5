/**
 * The pod tracker against an API server in memory: what it does when its watch cannot be used, and pods stuck
 * terminating.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option } from "effect"
import { makePodTracker } from "../src/internal/pods.ts"
import { httpError, makeFakeKube, makePod } from "./fakeKube.ts"

const forbidden = () => httpError(403, 'pods is forbidden: User "drainer" cannot watch resource "pods"')

const refOf = (name: string) => ({ namespace: "default", name, uid: `${name}-uid` })

const track = (fake: ReturnType<typeof makeFakeKube>) =>
  makePodTracker(
    fake.client,
    "node-1",
    { pods: [...fake.pods.values()], resourceVersion: "1" },
    {
      pollInterval: "50 millis"
    }
  )

describe("pod tracker", () => {
  it.live("polls the awaited pods by name when the watch is refused, and backs off the watch", () =>
    Effect.gen(function* () {
      const fake = makeFakeKube({ pods: [makePod("web-1"), makePod("web-2")] })
      fake.setFault((call) => (call.kind === "watchPods" ? forbidden() : undefined))
      const tracker = yield* track(fake)
      setTimeout(() => fake.removePod("web-1-uid"), 300)
      const started = Date.now()
      expect(yield* tracker.awaitGone(refOf("web-1"))).toBe("Gone")
      expect(Date.now() - started).toBeLessThan(1000)
      yield* Effect.sleep("1 second")
      // Only the pod awaited is polled; the watch is tried again at 250, 500, 1000 ms… (not every 100 ms).
      expect(new Set(fake.callsOf("readPod").map((call) => call.pod))).toEqual(new Set(["web-1"]))
      expect(fake.callsOf("watchPods").length).toBeLessThanOrEqual(5)
      expect(tracker.isGone("web-2-uid")).toBe(false)
    })
  )

  it.live("counts a pod replaced by one of the same name (another UID) as gone when polling", () =>
    Effect.gen(function* () {
      const fake = makeFakeKube({ pods: [makePod("db-0", { uid: "old" })] })
      fake.setFault((call) => (call.kind === "watchPods" ? forbidden() : undefined))
      const tracker = yield* track(fake)
      // What a StatefulSet does, at once: no poll can see the name free.
      fake.removePod("old")
      fake.updatePod(makePod("db-0", { uid: "new" }))
      const waited = yield* tracker
        .awaitGone({ namespace: "default", name: "db-0", uid: "old" })
        .pipe(Effect.timeoutOption("2 seconds"))
      expect(waited).toEqual(Option.some("Gone"))
      expect(fake.callsOf("readPod").length).toBeGreaterThan(0)
    })
  )

  it.live("fails the waits with the watch's error when the polls are refused too", () =>
    Effect.gen(function* () {
      const fake = makeFakeKube({ pods: [makePod("web-1")] })
      fake.setFault((call) =>
        call.kind === "watchPods" || call.kind === "readPod" ? forbidden() : undefined
      )
      const tracker = yield* track(fake)
      const exit = yield* tracker.awaitGone(refOf("web-1")).pipe(Effect.timeout("3 seconds"), Effect.exit)
      expect(exit._tag).toBe("Failure")
      if (exit._tag === "Failure") {
        const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
        expect(failure?._tag === "Fail" && failure.error).toMatchObject({
          _tag: "KubeError",
          reason: "Forbidden"
        })
      }
      // Later waits fail at once.
      const later = yield* tracker.awaitGone(refOf("web-1")).pipe(Effect.exit)
      expect(later._tag).toBe("Failure")
    })
  )

  it.live("goes on polling through errors that may pass", () =>
    Effect.gen(function* () {
      const fake = makeFakeKube({ pods: [makePod("web-1")] })
      let polls = 0
      fake.setFault((call) => {
        if (call.kind === "watchPods") return forbidden()
        if (call.kind === "readPod" && ++polls <= 5) return httpError(503, "unavailable")
        return undefined
      })
      const tracker = yield* track(fake)
      fake.removePod("web-1-uid")
      expect(yield* tracker.awaitGone(refOf("web-1")).pipe(Effect.timeout("3 seconds"))).toBe("Gone")
    })
  )

  it.live("lets go of a pod still there long after its deletion time, seen from the list or the watch", () =>
    Effect.gen(function* () {
      const fake = makeFakeKube({
        pods: [
          makePod("stuck", { deletionTimestamp: new Date(Date.now() - 10_000) }),
          makePod("later"),
          makePod("fresh", { deletionTimestamp: new Date(Date.now() + 60_000) })
        ]
      })
      const tracker = yield* track(fake)
      expect(yield* tracker.awaitGone(refOf("stuck"), { skipWaitForDeleteTimeoutSeconds: 5 })).toBe("Skipped")
      // Without the option, it is waited for.
      const unbounded = yield* tracker.awaitGone(refOf("stuck")).pipe(Effect.timeoutOption("300 millis"))
      expect(unbounded._tag).toBe("None")
      // A deletion the watch reports, due 2 s ago: 1 s later it is past the threshold.
      const waiting = yield* tracker
        .awaitGone(refOf("later"), { skipWaitForDeleteTimeoutSeconds: 1 })
        .pipe(Effect.timeoutOption("3 seconds"), Effect.forkChild)
      const pod = fake.findPod("default", "later")!
      fake.updatePod({
        ...pod,
        metadata: { ...pod.metadata, deletionTimestamp: new Date(Date.now() - 2000) }
      })
      expect(yield* Fiber.join(waiting)).toEqual(Option.some("Skipped"))
      // A deletion due in the future is waited for.
      const fresh = yield* tracker
        .awaitGone(refOf("fresh"), { skipWaitForDeleteTimeoutSeconds: 1 })
        .pipe(Effect.timeoutOption(Duration.millis(300)))
      expect(fresh._tag).toBe("None")
    })
  )
})
