/**
 * The drainer through the test bed's fault proxy (`ApiFaults`): the real API server, with throttling, errors, cut
 * watches and an outage injected on cue. What the drainer sent is counted from the proxy's log, not from its own
 * report: every pod is evicted, and no pod gets a second eviction after one was accepted.
 */
import { describe, expect, it } from "@effect/vitest"
import { KubeConfig } from "@kubernetes/client-node"
import { KubeClient } from "@nth/kube"
import { ApiFaults, Fixtures, useTestBed } from "@nth/testbed"
import { Effect, Exit } from "effect"
import { afterAll, beforeAll } from "vitest"
import { Drainer } from "../src/index.ts"

const bed = useTestBed()
let proxy: ApiFaults.ApiFaultProxy
let kubeConfig: KubeConfig

beforeAll(async () => {
  proxy = await ApiFaults.start(bed.clients.env.KUBECONFIG)
  kubeConfig = new KubeConfig()
  kubeConfig.loadFromFile(proxy.kubeconfig)
})
afterAll(() => proxy.close())

/** A cordoned node running `replicas` pods (a spare node takes the replacements), and their namespace. */
const nodeWithPods = async (replicas: number) => {
  const node = await bed.registerNode()
  await bed.registerNode()
  const namespace = bed.namespace()
  const labels = await Fixtures.createDeployment(bed.clients, namespace, {
    name: Fixtures.uniqueName("faults"),
    replicas,
    preferNode: node.name,
    terminationGracePeriodSeconds: 1
  })
  const pods = await Fixtures.waitForReadyPods(bed.clients, namespace, labels, replicas)
  await Fixtures.setUnschedulable(bed.clients, node.name, true)
  return { node: node.name, namespace, pods: pods.map((pod) => `${namespace}/${pod.metadata?.name}`) }
}

const drainThroughProxy = async (node: string) => {
  const exit = await Effect.runPromise(
    Effect.exit(Drainer.drain(node, { timeoutSeconds: 60 })).pipe(
      Effect.provide(KubeClient.layer({ kubeConfig })),
      Effect.scoped
    )
  )
  if (Exit.isFailure(exit)) throw new Error(`drain failed: ${String(exit.cause)}`)
  return exit.value
}

/** The eviction requests for `pods` in the proxy's log since `from`, by pod: the statuses in order. */
const evictionsOf = (pods: ReadonlyArray<string>, from: number) => {
  const byPod = new Map<string, Array<number>>(pods.map((pod) => [pod, []]))
  for (const entry of proxy.log.slice(from)) {
    if (entry.eviction !== undefined) byPod.get(entry.eviction.pod)?.push(entry.status)
  }
  return byPod
}

describe("Drainer, with the API server failing on cue", () => {
  it("a failed first pod list (500) is tried again, not a failed drain; throttled evictions and a cut watch: each pod evicted once", async () => {
    const { node, pods } = await nodeWithPods(3)
    const from = proxy.log.length
    const removes = [
      proxy.inject({
        method: "POST",
        path: /\/eviction$/,
        fault: { _tag: "status", status: 429, retryAfterSeconds: 1 },
        times: 4
      }),
      proxy.inject({
        method: "GET",
        path: /^\/api\/v1\/pods\?(?!.*watch=true)/,
        fault: { _tag: "status", status: 500 },
        times: 1
      }),
      proxy.inject({
        method: "GET",
        path: /^\/api\/v1\/pods\?.*watch=true/,
        fault: { _tag: "cutWatch", afterMs: 300 },
        times: 2
      })
    ]
    const report = await drainThroughProxy(node)
    for (const remove of removes) remove()
    expect(report.pods.filter((pod) => pod.outcome === "Gone")).toHaveLength(3)
    const evictions = evictionsOf(pods, from)
    for (const [pod, statuses] of evictions) {
      // Refused (throttled) as often as the proxy said, then accepted once, and never sent again.
      expect(
        statuses.filter((status) => status === 201),
        pod
      ).toHaveLength(1)
      expect(statuses.at(-1), pod).toBe(201)
    }
    expect([...evictions.values()].flat().filter((status) => status === 429)).toHaveLength(4)
    expect(proxy.log.slice(from).some((entry) => entry.action === "cutWatch")).toBe(true)
  }, 90_000)

  it("5xx and resets on evictions, then an API server outage mid-drain: the drain finishes, each pod evicted once", async () => {
    const { node, pods } = await nodeWithPods(3)
    const from = proxy.log.length
    const removes = [
      proxy.inject({ method: "POST", path: /\/eviction$/, fault: { _tag: "status", status: 503 }, times: 1 }),
      proxy.inject({ method: "POST", path: /\/eviction$/, fault: { _tag: "reset" }, times: 1 })
    ]
    const draining = drainThroughProxy(node)
    await Fixtures.waitFor("the first accepted eviction", async () =>
      proxy.log.slice(from).some((entry) => entry.eviction !== undefined && entry.status === 201)
        ? true
        : undefined
    )
    await proxy.outage(2000)
    const report = await draining
    for (const remove of removes) remove()
    expect(report.pods.filter((pod) => pod.outcome === "Gone")).toHaveLength(3)
    for (const [pod, statuses] of evictionsOf(pods, from)) {
      expect(
        statuses.filter((status) => status === 201),
        pod
      ).toHaveLength(1)
    }
  }, 90_000)
})
