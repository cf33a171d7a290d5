/**
 * The drain against an API server in memory, for what the real one cannot be made to do on demand: server errors,
 * refused watches, callbacks that throw, deadlines already past.
 */
import { describe, expect, it } from "@effect/vitest"
import type { KubeConfig, V1Pod } from "@kubernetes/client-node"
import { KubeClient } from "@nth/kube"
import { Effect, Exit } from "effect"
import { Drainer, type DrainReport, PodFilter } from "../src/index.ts"
import { type Ending, type Pacing, run } from "../src/internal/drain.ts"
import { budgetRefusal, type FakeKube, httpError, makeFakeKube, makePod } from "./fakeKube.ts"

const quick: Pacing = {
  serverErrorDelay: "1 millis",
  namespaceTerminatingDelay: "10 millis",
  podPollInterval: "50 millis"
}

const drainEnding = (fake: FakeKube, options: Drainer.Options = {}): Promise<Exit.Exit<Ending, unknown>> =>
  Effect.runPromiseExit(run(fake.client, "node-1", Drainer.resolveOptions(options), quick))

const ending = async (fake: FakeKube, options: Drainer.Options = {}) => {
  const exit = await drainEnding(fake, options)
  if (Exit.isFailure(exit)) throw new Error(`drain failed: ${String(exit.cause)}`)
  return exit.value
}

const drainError = async (fake: FakeKube, options: Drainer.Options = {}) => {
  const exit = await Effect.runPromiseExit(
    Drainer.drain("node-1", options).pipe(Effect.provideService(KubeClient.KubeClient, fake.client))
  )
  if (Exit.isSuccess(exit)) throw new Error("expected the drain to fail")
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  if (failure?._tag !== "Fail") throw new Error(`drain died: ${String(exit.cause)}`)
  return failure.error
}

const pod = (report: DrainReport.DrainReport, name: string) => report.pods.find((p) => p.name === name)

const twoPods = () => makeFakeKube({ pods: [makePod("web-1"), makePod("web-2")] })

describe("cordon", () => {
  it("cordons the node before listing its pods", async () => {
    const fake = twoPods()
    const done = await ending(fake)
    expect(done._tag).toBe("Done")
    expect(fake.node.unschedulable).toBe(true)
    const kinds = fake.calls.map((call) => call.kind)
    expect(kinds.indexOf("patchNode")).toBeGreaterThanOrEqual(0)
    expect(kinds.indexOf("patchNode")).toBeLessThan(kinds.indexOf("listPods"))
  })

  it("leaves a cordoned node alone, and the node entirely with cordon: false", async () => {
    const cordoned = makeFakeKube({ pods: [makePod("web-1")], unschedulable: true })
    await ending(cordoned)
    expect(cordoned.callsOf("patchNode")).toHaveLength(0)
    const left = twoPods()
    await ending(left, { cordon: false })
    expect(left.callsOf("readNode")).toHaveLength(0)
    expect(left.callsOf("patchNode")).toHaveLength(0)
    expect(left.node.unschedulable).toBe(false)
  })

  it("sends no cordon in a client dry run, and a dry-run cordon in a server dry run", async () => {
    const client = twoPods()
    await ending(client, { dryRun: "client" })
    expect(client.callsOf("readNode")).toHaveLength(0)
    expect(client.callsOf("patchNode")).toHaveLength(0)
    const server = twoPods()
    await ending(server, { dryRun: "server" })
    expect(server.callsOf("patchNode").map((call) => (call.params as { dryRun?: string }).dryRun)).toEqual([
      "All"
    ])
    expect(server.node.unschedulable).toBe(false)
  })

  it("fails the drain, evicting nothing, when the cordon fails", async () => {
    const fake = twoPods()
    fake.setFault((call) => (call.kind === "patchNode" ? httpError(403, "nodes is forbidden") : undefined))
    const error = await drainError(fake)
    expect(error).toMatchObject({ _tag: "KubeError", reason: "Forbidden" })
    expect(fake.callsOf("evict")).toHaveLength(0)
  })
})

describe("drain", () => {
  it("is not broken by an onProgress callback that throws", async () => {
    const fake = twoPods()
    const events: Array<string> = []
    const done = await ending(fake, {
      onProgress: (event) => {
        events.push(event._tag)
        throw new Error("a caller's bug")
      }
    })
    expect(done._tag).toBe("Done")
    expect(done.report.pods.map((p) => p.outcome)).toEqual(["Gone", "Gone"])
    expect(events.filter((tag) => tag === "PodGone")).toHaveLength(2)
  })

  it("ends through polls when the pod watch is refused, even without a timeout", async () => {
    const fake = twoPods()
    fake.setFault((call) => (call.kind === "watchPods" ? httpError(403, "pods is forbidden") : undefined))
    const done = await ending(fake, { timeoutSeconds: 0 })
    expect(done._tag).toBe("Done")
    expect(done.report.pods.map((p) => p.outcome)).toEqual(["Gone", "Gone"])
    expect(fake.callsOf("readPod").length).toBeGreaterThan(0)
  })

  it("fails with the API server's refusal when neither the pod watch nor the polls may read pods", async () => {
    const fake = twoPods()
    fake.setFault((call) =>
      call.kind === "watchPods" || call.kind === "readPod" ? httpError(403, "pods is forbidden") : undefined
    )
    const exit = await drainEnding(fake, { timeoutSeconds: 0 })
    expect(Exit.isFailure(exit) && exit.cause.reasons.find((r) => r._tag === "Fail")).toMatchObject({
      error: { _tag: "KubeError", reason: "Forbidden" }
    })
  })

  it("stops waiting for a pod still terminating skipWaitForDeleteTimeoutSeconds after its deletion time", async () => {
    const fake = makeFakeKube({ pods: [makePod("stuck"), makePod("quick")], terminateAfterMs: undefined })
    const events: Array<string> = []
    setTimeout(() => fake.removePod("quick-uid"), 100)
    const done = await ending(fake, {
      gracePeriodSeconds: 0,
      skipWaitForDeleteTimeoutSeconds: 1,
      onProgress: (event) => events.push(`${event._tag}${"pod" in event ? ` ${event.pod.name}` : ""}`)
    })
    expect(done._tag).toBe("Done")
    expect(pod(done.report, "stuck")).toMatchObject({ outcome: "Skipped", reason: "DeletedLongAgo" })
    expect(pod(done.report, "quick")?.outcome).toBe("Gone")
    expect(events).toContain("PodSkipped stuck")
    expect(events).not.toContain("PodGone stuck")
  })

  it("evicts every pod, with the shortest grace, when the deadline has already passed, then gives up", async () => {
    const fake = makeFakeKube({
      pods: [
        makePod("web-1"),
        makePod("web-2"),
        makePod("vital", { priorityClassName: "system-node-critical" })
      ],
      terminateAfterMs: undefined
    })
    const error = await drainError(fake, { deadline: new Date(Date.now() - 1000) })
    expect(error._tag).toBe("DrainTimeout")
    const report = (error as Drainer.DrainTimeout).report as DrainReport.DrainReport
    expect(report.pods.map((p) => [p.name, p.outcome, p.attempts, p.gracePeriodSeconds])).toEqual([
      ["web-1", "Terminating", 1, 1],
      ["web-2", "Terminating", 1, 1],
      ["vital", "Terminating", 1, 1]
    ])
    expect(report.pods.every((p) => p.gracePeriodShortened)).toBe(true)
  })

  it("evicts every pod at once when the deadline is inside the margin, then waits for them until it", async () => {
    const fake = makeFakeKube({
      pods: [makePod("web-1"), makePod("vital", { priorityClassName: "system-node-critical" })],
      terminateAfterMs: 300
    })
    const events: Array<string> = []
    const done = await ending(fake, {
      deadline: new Date(Date.now() + 3000),
      deadlineMarginSeconds: 5,
      onProgress: (event) => events.push(event._tag)
    })
    expect(done._tag).toBe("Done")
    // No waves: the critical pod did not wait for the other to go.
    expect(events.slice(0, 4)).toEqual(["PodEvicting", "PodEvicting", "PodEvicted", "PodEvicted"])
    expect(done.report.pods.every((p) => p.outcome === "Gone" && p.gracePeriodSeconds === 1)).toBe(true)
  })

  it("fails a pod after a few server errors in a row; other pods go on", async () => {
    const fake = twoPods()
    let errors = 0
    fake.setFault((call) => {
      if (call.kind !== "evict") return undefined
      if (call.pod === "web-1") return httpError(500, "etcdserver: request timed out")
      return ++errors <= 2 ? httpError(503, "unavailable") : undefined
    })
    const failed = await ending(fake)
    expect(failed._tag).toBe("Failed")
    expect(pod(failed.report, "web-1")).toMatchObject({
      outcome: "Failed",
      attempts: 6,
      error: "etcdserver: request timed out"
    })
    expect(pod(failed.report, "web-2")).toMatchObject({ outcome: "Gone", attempts: 3 })
  })

  it("waits out throttling and budget refusals beyond that", async () => {
    const fake = twoPods()
    let refusals = 0
    fake.setFault((call) => {
      if (call.kind !== "evict" || ++refusals > 16) return undefined
      return call.pod === "web-1" ? httpError(429, "too many requests") : budgetRefusal("web-2")
    })
    const done = await ending(fake, { budgetRetryFallback: "10 millis" })
    expect(done._tag).toBe("Done")
    expect(done.report.pods.every((p) => p.outcome === "Gone" && p.attempts > 6)).toBe(true)
  })

  it("reports, in a server dry run, pods gone or replaced before their turn as such, not as gone", async () => {
    const fake = makeFakeKube({ pods: [makePod("vanished"), makePod("replaced"), makePod("present")] })
    fake.setFault((call) => {
      if (call.kind !== "evict") return undefined
      if (call.pod === "vanished") return httpError(404, 'pods "vanished" not found')
      if (call.pod === "replaced") return httpError(409, "Precondition failed: UID in precondition")
      return undefined
    })
    const events: Array<string> = []
    const done = await ending(fake, { dryRun: "server", onProgress: (event) => events.push(event._tag) })
    expect(done._tag).toBe("Done")
    expect(done.report.pods.map((p) => [p.name, p.outcome, p.reason])).toEqual([
      ["vanished", "Skipped", "NotFound"],
      ["replaced", "Skipped", "Replaced"],
      ["present", "Accepted", undefined]
    ])
    expect(events).not.toContain("PodGone")
    expect(events.filter((tag) => tag === "PodSkipped")).toHaveLength(2)
  })
})

describe("per-pod choices by annotation", () => {
  const { annotations } = PodFilter
  const annotated = (base: V1Pod, values: Record<string, string>, bare = false): V1Pod => {
    const { ownerReferences, ...metadata } = base.metadata ?? {}
    return {
      ...base,
      metadata: { ...metadata, ...(bare ? {} : { ownerReferences }), annotations: values }
    }
  }
  const sentGrace = (fake: FakeKube, name: string) =>
    fake
      .callsOf("evict")
      .filter((call) => call.pod === name)
      .map(
        (call) =>
          (call.params as { body: { deleteOptions: { gracePeriodSeconds?: number } } }).body.deleteOptions
            .gracePeriodSeconds
      )

  it("sends the annotated grace, over the drain's gracePeriodSeconds and the pod's own", async () => {
    const fake = makeFakeKube({
      pods: [
        annotated(makePod("own", { terminationGracePeriodSeconds: 45 }), {
          [annotations.gracePeriodSeconds]: "7"
        }),
        makePod("plain")
      ]
    })
    const done = await ending(fake, { podAnnotations: true, gracePeriodSeconds: 20 })
    expect(done._tag).toBe("Done")
    expect(sentGrace(fake, "own")).toEqual([7])
    expect(sentGrace(fake, "plain")).toEqual([20])
    expect(pod(done.report, "own")).toMatchObject({
      outcome: "Gone",
      gracePeriodSeconds: 7,
      gracePeriodShortened: false
    })
  })

  it("caps an annotated grace that would outlive the deadline, and marks it shortened", async () => {
    const fake = makeFakeKube({
      pods: [annotated(makePod("slow"), { [annotations.gracePeriodSeconds]: "600" })]
    })
    const done = await ending(fake, {
      podAnnotations: true,
      deadline: new Date(Date.now() + 20_000),
      deadlineMarginSeconds: 5
    })
    expect(done._tag).toBe("Done")
    const [grace] = sentGrace(fake, "slow")
    expect(grace).toBeGreaterThanOrEqual(13)
    expect(grace).toBeLessThanOrEqual(15)
    expect(pod(done.report, "slow")).toMatchObject({ gracePeriodSeconds: grace, gracePeriodShortened: true })
  })

  it("evicts an evict-last pod in the last wave, after every other pod is gone", async () => {
    const fake = makeFakeKube({
      pods: [
        annotated(makePod("last"), { [annotations.evictLast]: " True " }),
        makePod("web-1"),
        makePod("web-2")
      ],
      terminateAfterMs: 100
    })
    const events: Array<string> = []
    const done = await ending(fake, {
      podAnnotations: true,
      onProgress: (event) =>
        events.push(
          event._tag === "WaveStarted"
            ? `WaveStarted ${event.wave} ${event.pods}`
            : `${event._tag}${"pod" in event ? ` ${event.pod.name}` : ""}`
        )
    })
    expect(done._tag).toBe("Done")
    expect(events).toContain("WaveStarted regular 2")
    expect(events).toContain("WaveStarted critical 1")
    const lastEvicting = events.indexOf("PodEvicting last")
    expect(lastEvicting).toBeGreaterThan(events.indexOf("PodGone web-1"))
    expect(lastEvicting).toBeGreaterThan(events.indexOf("PodGone web-2"))
    expect(done.report.pods.map((p) => [p.name, p.outcome, p.wave])).toEqual([
      ["last", "Gone", "critical"],
      ["web-1", "Gone", "regular"],
      ["web-2", "Gone", "regular"]
    ])
  })

  it("never evicts a do-not-evict pod, even one kubectl's rules would refuse, and reports it skipped", async () => {
    const keep = annotated(makePod("keep"), { [annotations.doNotEvict]: "true" }, true)
    const fake = makeFakeKube({ pods: [keep, makePod("web-1")] })
    const events: Array<string> = []
    const done = await ending(fake, {
      podAnnotations: true,
      onProgress: (event) => events.push(`${event._tag}${"pod" in event ? ` ${event.pod.name}` : ""}`)
    })
    expect(done._tag).toBe("Done")
    expect(fake.callsOf("evict").map((call) => call.pod)).toEqual(["web-1"])
    expect(fake.callsOf("delete")).toHaveLength(0)
    expect(fake.findPod("default", "keep")).toBeDefined()
    const kept = pod(done.report, "keep")
    expect(kept).toMatchObject({ outcome: "Skipped", reason: "DoNotEvict", method: "none", attempts: 0 })
    expect(kept?.message).toContain("nth.aws/do-not-evict")
    expect(kept?.wave).toBeUndefined()
    expect(events).toContain("PodSkipped keep")
    expect(pod(done.report, "web-1")?.outcome).toBe("Gone")
  })

  it("keeps a warning for an annotation it cannot read, and drains the pod as if it had none", async () => {
    const fake = makeFakeKube({
      pods: [
        annotated(makePod("odd"), {
          [annotations.gracePeriodSeconds]: "soon",
          [annotations.evictLast]: "maybe",
          [annotations.doNotEvict]: "please"
        })
      ]
    })
    const done = await ending(fake, { podAnnotations: true })
    expect(done._tag).toBe("Done")
    expect(sentGrace(fake, "odd")).toEqual([undefined])
    const odd = pod(done.report, "odd")
    expect(odd).toMatchObject({ outcome: "Gone", wave: "regular" })
    expect(odd?.warnings).toHaveLength(3)
    expect(odd?.warnings.join("\n")).toMatch(/do-not-evict: "please"[\s\S]*evict-last: "maybe"[\s\S]*"soon"/)
  })

  it("ignores the annotations without podAnnotations", async () => {
    const pods = [
      annotated(makePod("keep"), { [annotations.doNotEvict]: "true" }),
      annotated(makePod("last"), { [annotations.evictLast]: "true", [annotations.gracePeriodSeconds]: "7" }),
      makePod("web-1")
    ]
    const fake = makeFakeKube({ pods })
    const waves: Array<string> = []
    const done = await ending(fake, {
      onProgress: (event) => (event._tag === "WaveStarted" ? waves.push(event.wave) : undefined)
    })
    expect(done._tag).toBe("Done")
    expect(waves).toEqual(["regular"])
    expect(done.report.pods.map((p) => [p.name, p.outcome, p.wave, p.warnings.length])).toEqual([
      ["keep", "Gone", "regular", 0],
      ["last", "Gone", "regular", 0],
      ["web-1", "Gone", "regular", 0]
    ])
    expect(sentGrace(fake, "last")).toEqual([undefined])
    // And kubectl's refusals stand.
    const bare = makeFakeKube({
      pods: [annotated(makePod("keep"), { [annotations.doNotEvict]: "true" }, true)]
    })
    expect((await ending(bare))._tag).toBe("Refused")
  })
})

describe("createDrainer", () => {
  // A kubeconfig whose first read throws (a credentials file not there yet, say), pointing at no server.
  const flakyKubeConfig = () => {
    let reads = 0
    return {
      getCurrentCluster: () => {
        reads += 1
        if (reads === 1) throw new Error("credentials not ready")
        return { server: "http://127.0.0.1:1" }
      },
      applyToHTTPSOptions: async () => {}
    } as unknown as KubeConfig
  }

  it("builds its client again after a failed build", async () => {
    const drainer = Drainer.createDrainer({ kubeConfig: flakyKubeConfig() })
    await expect(drainer.cordon("node-1")).rejects.toThrow("credentials not ready")
    // Built this time: the call reaches the (absent) server.
    await expect(drainer.cordon("node-1")).rejects.toMatchObject({ _tag: "KubeError", reason: "Transport" })
    await drainer.close()
  })

  it("rejects calls after close() with a clear error", async () => {
    const drainer = Drainer.createDrainer({ kubeConfig: flakyKubeConfig() })
    await drainer.close()
    await expect(drainer.drain("node-1")).rejects.toBeInstanceOf(Drainer.DrainerClosed)
    await expect(drainer.uncordon("node-1")).rejects.toThrow(/closed/)
  })
})
