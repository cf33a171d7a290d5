/**
 * End to end, the choices no other termination handler offers (issue 17), with the built DaemonSet program
 * against the test bed's API server, KWOK and the IMDS emulator: the rebalance cordon that lifts itself, the
 * node label that overrides the rebalance settings, per-pod annotations, and the node condition.
 */
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node"
import { ImdsMock } from "@nth/imds-mock"
import { Fixtures, Programs, useTestBed } from "@nth/testbed"
import { describe, expect, it } from "vitest"

const bed = useTestBed()
const appPath = join(import.meta.dirname, "..", "dist", "main.js")

const startApp = (env: Record<string, string>): Programs.Program =>
  Programs.startProgram(appPath, {
    env: { KUBECONFIG: bed.clients.env.KUBECONFIG, JSON_LOGGING: "true", ...env },
    cleanup: bed.defer
  })

const uptimeFile = (seconds: number) => {
  const file = join(tmpdir(), `nth-uptime-${Math.random().toString(16).slice(2)}`)
  writeFileSync(file, `${seconds}.00 1000.00\n`)
  return file
}

const readNode = (name: string) => bed.clients.core.readNode({ name })
const livePods = async (node: string) =>
  (await bed.clients.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items.filter(
    (p) => !p.metadata?.deletionTimestamp
  )
/** Whether every pod of `names` still runs on the node (other files' pods may land there too). */
const stillThere = async (node: string, names: ReadonlyArray<string>) => {
  const live = new Set((await livePods(node)).map((p) => p.metadata?.name))
  return names.every((name) => live.has(name))
}
/** An RFC 3339 time `seconds` from now, in whole seconds (as IMDS writes it). */
const secondsFromNow = (seconds: number) =>
  new Date(Date.now() + seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z")
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const polled = (imds: ImdsMock.StartedImdsMock, suffix: string) =>
  Fixtures.waitFor(`a poll of ${suffix}`, async () =>
    imds.requests().some((r) => r.path.endsWith(suffix)) ? true : undefined
  )
const morePolls = (imds: ImdsMock.StartedImdsMock, suffix: string, n: number) => {
  const pollsOf = () => imds.requests().filter((r) => r.path.endsWith(suffix)).length
  const before = pollsOf()
  return Fixtures.waitFor(`${n} more polls of ${suffix}`, async () =>
    pollsOf() >= before + n ? true : undefined
  )
}
const cordoned = (name: string) =>
  Fixtures.waitFor(`node ${name} cordoned`, async () =>
    (await readNode(name)).spec?.unschedulable === true ? true : undefined
  )
const uncordoned = (name: string, timeoutMs = 30_000) =>
  Fixtures.waitFor(
    `node ${name} uncordoned`,
    async () => ((await readNode(name)).spec?.unschedulable === true ? undefined : true),
    { timeoutMs }
  )
const drained = (name: string) =>
  Fixtures.waitFor(`node ${name} drained`, async () =>
    (await livePods(name)).length === 0 ? true : undefined
  )
const taintKeys = async (name: string) => (await readNode(name)).spec?.taints?.map((t) => t.key) ?? []
const recordOf = async (name: string) => {
  const raw = (await readNode(name)).metadata?.annotations?.["nth.dev/record"]
  return raw === undefined ? undefined : (JSON.parse(raw) as Record<string, unknown>)
}
const nodeEvents = async (name: string) =>
  (
    await bed.clients.core.listNamespacedEvent({
      namespace: "default",
      fieldSelector: `involvedObject.name=${name}`
    })
  ).items

const label = (name: string, labels: Record<string, string | null>) =>
  bed.clients.core.patchNode(
    { name, body: { metadata: { labels } } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch)
  )

/** A node with one pod of a Deployment (and a spare node for it), and its instance's IMDS emulator. */
const spotNode = async (labels: Record<string, string> = {}) => {
  const { node, labels: app } = await bed.nodeWithDeployment({
    replicas: 1,
    terminationGracePeriodSeconds: 1
  })
  if (Object.keys(labels).length > 0) await label(node.name, labels)
  const imds = await ImdsMock.start({
    instanceId: node.instanceId,
    availabilityZone: node.zone,
    localHostname: node.privateDnsName,
    instanceLifeCycle: "spot"
  })
  bed.defer(() => imds.close())
  const env = { NODE_NAME: node.name, INSTANCE_METADATA_URL: imds.url, UPTIME_FROM_FILE: uptimeFile(100_000) }
  // This test's pod only: other files' pods may land on the node, and go.
  const pods = (await livePods(node.name))
    .filter((p) => Object.entries(app).every(([key, value]) => p.metadata?.labels?.[key] === value))
    .map((p) => p.metadata?.name ?? "")
  return { node, imds, env, pods }
}

const rebalanceTaint = "aws-node-termination-handler/rebalance-recommendation"
const rebalancePath = "/events/recommendations/rebalance"

describe("a rebalance cordon that lifts itself (REBALANCE_UNCORDON_AFTER_SECONDS)", () => {
  it("is lifted when nothing followed in time, stays lifted while IMDS still lists the recommendation, also after a restart", async () => {
    const { node, imds, env, pods } = await spotNode()
    const settings = {
      ...env,
      ENABLE_REBALANCE_MONITORING: "true",
      TAINT_NODE: "true",
      REBALANCE_UNCORDON_AFTER_SECONDS: "3",
      EMIT_KUBERNETES_EVENTS: "true"
    }
    const app = startApp(settings)
    await polled(imds, rebalancePath)
    imds.setRebalanceRecommendation({})
    await cordoned(node.name)
    expect(await taintKeys(node.name)).toContain(rebalanceTaint)
    const cordonedAt = Date.now()
    await uncordoned(node.name)
    // Not before its time (3 s from the cordon, which the test saw a little after it happened).
    expect(Date.now() - cordonedAt).toBeGreaterThan(2000)
    expect(await taintKeys(node.name)).not.toContain(rebalanceTaint)
    expect(await recordOf(node.name)).toMatchObject({
      rebalanceCordonLifted: { eventId: expect.any(String) }
    })
    expect((await nodeEvents(node.name)).map((e) => e.message)).toContain(
      "Rebalance recommendation's cordon lifted: no interruption followed within 3 s"
    )
    // IMDS still lists the recommendation: it is not acted on again, by this process or the next.
    await morePolls(imds, rebalancePath, 3)
    expect((await readNode(node.name)).spec?.unschedulable).not.toBe(true)
    expect(await app.stop()).toBe(0)
    const next = startApp(settings)
    await morePolls(imds, rebalancePath, 4)
    expect((await readNode(node.name)).spec?.unschedulable).not.toBe(true)
    expect(await stillThere(node.name, pods)).toBe(true)
    expect(await next.stop()).toBe(0)
  })

  it("a process restarted while the cordon waits lifts it when its time is up", async () => {
    const { node, imds, env } = await spotNode()
    const settings = { ...env, ENABLE_REBALANCE_MONITORING: "true", REBALANCE_UNCORDON_AFTER_SECONDS: "6" }
    const first = startApp(settings)
    await polled(imds, rebalancePath)
    imds.setRebalanceRecommendation({})
    await cordoned(node.name)
    expect(await first.stop()).toBe(0)
    const second = startApp(settings)
    await uncordoned(node.name)
    expect(second.logs.some((line) => line.includes("rebalance cordon alone"))).toBe(true)
    expect(await second.stop()).toBe(0)
  })

  it("keeps the cordon when a Spot notice came before its time was up", async () => {
    const { node, imds, env } = await spotNode()
    const app = startApp({
      ...env,
      ENABLE_REBALANCE_MONITORING: "true",
      REBALANCE_UNCORDON_AFTER_SECONDS: "4"
    })
    await polled(imds, rebalancePath)
    imds.setRebalanceRecommendation({})
    await cordoned(node.name)
    imds.setSpotInterruption({ action: "terminate" })
    await drained(node.name)
    await sleep(6000)
    expect((await readNode(node.name)).spec?.unschedulable).toBe(true)
    expect(app.logs.some((line) => line.includes("rebalance cordon kept"))).toBe(true)
    expect(await app.stop()).toBe(0)
  })

  it("keeps an operator's cordon: only nth's own taint goes", async () => {
    const { node, imds, env } = await spotNode()
    await Fixtures.setUnschedulable(bed.clients, node.name, true)
    const app = startApp({
      ...env,
      ENABLE_REBALANCE_MONITORING: "true",
      TAINT_NODE: "true",
      REBALANCE_UNCORDON_AFTER_SECONDS: "2"
    })
    await polled(imds, rebalancePath)
    imds.setRebalanceRecommendation({})
    await Fixtures.waitFor("the rebalance taint", async () =>
      (await taintKeys(node.name)).includes(rebalanceTaint) ? true : undefined
    )
    await Fixtures.waitFor("the rebalance taint gone", async () =>
      (await taintKeys(node.name)).includes(rebalanceTaint) ? undefined : true
    )
    expect((await readNode(node.name)).spec?.unschedulable).toBe(true)
    expect(await app.stop()).toBe(0)
  })
})

describe(`the node label nth.aws/rebalance-action`, () => {
  it("drain: a node with no rebalance setting drains on a recommendation", async () => {
    const { node, imds, env } = await spotNode({ "nth.aws/rebalance-action": "drain" })
    const app = startApp(env)
    await polled(imds, rebalancePath)
    imds.setRebalanceRecommendation({})
    await drained(node.name)
    expect((await readNode(node.name)).spec?.unschedulable).toBe(true)
    expect(await app.stop()).toBe(0)
  })

  it("cordon: only cordons, though ENABLE_REBALANCE_DRAINING is true", async () => {
    const { node, imds, env, pods } = await spotNode({ "nth.aws/rebalance-action": "cordon" })
    const app = startApp({ ...env, ENABLE_REBALANCE_DRAINING: "true" })
    await polled(imds, rebalancePath)
    imds.setRebalanceRecommendation({})
    await cordoned(node.name)
    await morePolls(imds, rebalancePath, 2)
    expect(await stillThere(node.name, pods)).toBe(true)
    expect(await app.stop()).toBe(0)
  })

  it("ignore: nothing is done, though ENABLE_REBALANCE_DRAINING is true", async () => {
    const { node, imds, env, pods } = await spotNode({ "nth.aws/rebalance-action": "Ignore" })
    const app = startApp({ ...env, ENABLE_REBALANCE_DRAINING: "true" })
    await polled(imds, rebalancePath)
    imds.setRebalanceRecommendation({})
    await morePolls(imds, rebalancePath, 3)
    expect((await readNode(node.name)).spec?.unschedulable).not.toBe(true)
    expect(await stillThere(node.name, pods)).toBe(true)
    expect(app.logs.some((line) => line.includes("asks for ignore"))).toBe(true)
    expect(await app.stop()).toBe(0)
  })

  it("an unknown value with no rebalance setting: the Warning Event comes at start (nothing is polled to say it later)", async () => {
    const { node, imds, env } = await spotNode({ "nth.aws/rebalance-action": "always" })
    const app = startApp({ ...env, EMIT_KUBERNETES_EVENTS: "true" })
    const warning = await Fixtures.waitFor("the Warning Event", async () =>
      (await nodeEvents(node.name)).find((e) => e.reason === "InvalidNodeLabel")
    )
    expect(warning.message).toContain('nth.aws/rebalance-action="always" is not cordon, drain or ignore')
    await polled(imds, "/spot/instance-action")
    expect(imds.requests().some((r) => r.path.endsWith(rebalancePath))).toBe(false)
    expect(await app.stop()).toBe(0)
  })

  it("an unknown value: a Warning Event, a metric, and the global setting applies", async () => {
    const { node, imds, env, pods } = await spotNode({ "nth.aws/rebalance-action": "sometimes" })
    const metricsPort = await Programs.freePort()
    const app = startApp({
      ...env,
      ENABLE_REBALANCE_MONITORING: "true",
      EMIT_KUBERNETES_EVENTS: "true",
      ENABLE_PROMETHEUS_SERVER: "true",
      PROMETHEUS_SERVER_PORT: String(metricsPort)
    })
    await polled(imds, rebalancePath)
    imds.setRebalanceRecommendation({})
    await cordoned(node.name)
    const warning = await Fixtures.waitFor("the Warning Event", async () =>
      (await nodeEvents(node.name)).find((e) => e.reason === "InvalidNodeLabel")
    )
    expect(warning.type).toBe("Warning")
    expect(warning.message).toContain('nth.aws/rebalance-action="sometimes" is not cordon, drain or ignore')
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
    expect(metrics).toMatch(/events_error_total\{event_error_where="node-label"\} 1/)
    await morePolls(imds, rebalancePath, 2)
    expect(await stillThere(node.name, pods)).toBe(true)
    expect(await app.stop()).toBe(0)
  })
})

describe("per-pod annotations (ENABLE_POD_DRAIN_ANNOTATIONS)", () => {
  /** A node with bare pods carrying `annotations` (KWOK ends each 3 s after its deletion), all Running. */
  const annotatedNode = async (pods: Record<string, Record<string, string>>) => {
    const node = await bed.registerNode()
    await bed.registerNode()
    const namespace = bed.namespace()
    const suffix = Fixtures.uniqueName("p")
    for (const [name, annotations] of Object.entries(pods)) {
      await Fixtures.createBarePod(bed.clients, namespace, {
        name: `${name}-${suffix}`,
        nodeName: node.name,
        annotations,
        terminateAfter: "3s",
        terminationGracePeriodSeconds: 30
      })
    }
    await Fixtures.waitFor("the pods running", async () =>
      (await livePods(node.name)).filter((p) => p.status?.phase === "Running").length ===
      Object.keys(pods).length
        ? true
        : undefined
    )
    const imds = await ImdsMock.start({
      instanceId: node.instanceId,
      availabilityZone: node.zone,
      localHostname: node.privateDnsName,
      instanceLifeCycle: "spot"
    })
    bed.defer(() => imds.close())
    const env = {
      NODE_NAME: node.name,
      INSTANCE_METADATA_URL: imds.url,
      UPTIME_FROM_FILE: uptimeFile(100_000)
    }
    return { node, imds, env, name: (pod: string) => `${pod}-${suffix}`, namespace }
  }

  /** The grace period each pod of the node was deleted with, as the API server recorded it, until `until`. */
  const watchGraces = (node: string, until: Promise<unknown>) => {
    const graces = new Map<string, number>()
    let done = false
    void until.finally(() => {
      done = true
    })
    const loop = (async () => {
      while (!done) {
        for (const pod of (
          await bed.clients.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })
        ).items) {
          const grace = pod.metadata?.deletionGracePeriodSeconds
          if (grace !== undefined && !graces.has(pod.metadata?.name ?? ""))
            graces.set(pod.metadata?.name ?? "", grace)
        }
        await sleep(100)
      }
    })()
    return { graces, loop }
  }

  it("the pods' own grace (capped by the Spot deadline), evict-last and do-not-evict", async () => {
    const { node, imds, env, name } = await annotatedNode({
      short: { "nth.aws/drain-grace-period-seconds": "7" },
      long: { "nth.aws/drain-grace-period-seconds": "600" },
      last: { "nth.aws/evict-last": "true" },
      stays: { "nth.aws/do-not-evict": "true" },
      plain: {}
    })
    const app = startApp({ ...env, ENABLE_POD_DRAIN_ANNOTATIONS: "true", EMIT_KUBERNETES_EVENTS: "true" })
    await polled(imds, "/spot/instance-action")
    imds.setSpotInterruption({ action: "terminate", time: secondsFromNow(40) })
    const drainedLog = Fixtures.waitFor("the drain's end", async () =>
      app.logs.some((line) => line.includes('"node drained"')) ? true : undefined
    )
    const { graces, loop } = watchGraces(node.name, drainedLog)
    await drainedLog
    await loop
    expect(graces.get(name("short"))).toBe(7)
    // 600 s asked, 40 s left: capped to end 5 s before the instance does.
    expect(graces.get(name("long"))).toBeGreaterThan(20)
    expect(graces.get(name("long"))).toBeLessThanOrEqual(35)
    expect(graces.get(name("plain"))).toBe(30)
    expect(graces.has(name("stays"))).toBe(false)
    // The last wave starts once every other evicted pod is gone.
    const at = (tag: string, pod: string) =>
      app.logs.findIndex((line) => line.includes(`"message":"${tag}"`) && line.includes(`/${name(pod)}"`))
    expect(at("PodGone", "plain")).toBeGreaterThan(-1)
    expect(at("PodGone", "short")).toBeGreaterThan(-1)
    expect(at("PodEvicted", "last")).toBeGreaterThan(at("PodGone", "plain"))
    expect(at("PodEvicted", "last")).toBeGreaterThan(at("PodGone", "short"))
    // Left alone, and said so: a log line and an Event on the pod.
    const stays = (await livePods(node.name)).find((p) => p.metadata?.name === name("stays"))
    expect(stays?.status?.phase).toBe("Running")
    expect(app.logs.some((line) => line.includes("pod skipped") && line.includes(name("stays")))).toBe(true)
    const skipped = await Fixtures.waitFor("the PodSkipped Event", async () =>
      (
        await bed.clients.core.listNamespacedEvent({
          namespace: bed.namespace(),
          fieldSelector: `involvedObject.name=${name("stays")}`
        })
      ).items.find((e) => e.reason === "PodSkipped")
    )
    expect(skipped.message).toContain("nth.aws/do-not-evict")
    expect(await app.stop()).toBe(0)
  })

  it("off by default: a pod annotated do-not-evict is evicted like any other", async () => {
    const { node, imds, env, name } = await annotatedNode({
      stays: { "nth.aws/do-not-evict": "true" },
      short: { "nth.aws/drain-grace-period-seconds": "7" }
    })
    const app = startApp(env)
    await polled(imds, "/spot/instance-action")
    const drainedLog = Fixtures.waitFor("the drain's end", async () =>
      app.logs.some((line) => line.includes('"node drained"')) ? true : undefined
    )
    const { graces, loop } = watchGraces(node.name, drainedLog)
    imds.setSpotInterruption({ action: "terminate", time: secondsFromNow(60) })
    await drainedLog
    await loop
    expect(graces.get(name("stays"))).toBe(30)
    expect(graces.get(name("short"))).toBe(30)
    expect(await livePods(node.name)).toHaveLength(0)
    expect(await app.stop()).toBe(0)
  })
})

describe("the TerminationHandling node condition (ENABLE_NODE_CONDITION)", () => {
  const conditionOf = async (name: string) =>
    (await readNode(name)).status?.conditions?.find((c) => c.type === "TerminationHandling")

  it("tells each step of a drain, and survives the node's own status updates (a kubelet's heartbeats)", async () => {
    const { node, imds, env } = await spotNode()
    const app = startApp({ ...env, ENABLE_NODE_CONDITION: "true" })
    await polled(imds, "/spot/instance-action")
    const seen: Array<string> = []
    let done = false
    const watching = (async () => {
      while (!done) {
        const reason = (await conditionOf(node.name))?.reason
        if (reason !== undefined && seen.at(-1) !== reason) seen.push(reason)
        await sleep(50)
      }
    })()
    imds.setSpotInterruption({ action: "terminate", time: secondsFromNow(60) })
    await drained(node.name)
    const final = await Fixtures.waitFor("the condition Drained", async () => {
      const condition = await conditionOf(node.name)
      return condition?.reason === "Drained" ? condition : undefined
    })
    done = true
    await watching
    // The watcher may have stopped before its next read.
    if (seen.at(-1) !== final.reason) seen.push(final.reason ?? "")
    expect(final.status).toBe("True")
    expect(final.message).toMatch(/^SpotInterruption: .*\(\d+ pods evicted\)$/)
    // Each step in order (a quick step may fall between two reads).
    expect(seen.at(-1)).toBe("Drained")
    expect(seen.filter((reason) => !["Cordoned", "Draining", "Drained"].includes(reason))).toEqual([])
    expect(
      [...seen].sort(
        (a, b) =>
          ["Cordoned", "Draining", "Drained"].indexOf(a) - ["Cordoned", "Draining", "Drained"].indexOf(b)
      )
    ).toEqual(seen)
    // A status update as a kubelet (and KWOK) sends it, a strategic merge patch of its own conditions, leaves
    // nth's alone (KWOK's own heartbeats: packages/taint-manager/test/NodeCondition.test.ts).
    await bed.clients.core.patchNodeStatus(
      {
        name: node.name,
        body: {
          status: {
            conditions: [
              {
                type: "Ready",
                status: "True",
                reason: "KubeletReady",
                message: "kubelet is posting ready status",
                lastHeartbeatTime: new Date()
              }
            ]
          }
        }
      },
      setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch)
    )
    expect(await conditionOf(node.name)).toEqual(final)
    expect(await app.stop()).toBe(0)
  })

  it("False with its reason when nth undoes its work: a lifted rebalance cordon, a cancelled scheduled event", async () => {
    const lifted = await spotNode()
    const app = startApp({
      ...lifted.env,
      ENABLE_NODE_CONDITION: "true",
      ENABLE_REBALANCE_MONITORING: "true",
      REBALANCE_UNCORDON_AFTER_SECONDS: "2"
    })
    await polled(lifted.imds, rebalancePath)
    lifted.imds.setRebalanceRecommendation({})
    await Fixtures.waitFor("the condition Cordoned", async () =>
      (await conditionOf(lifted.node.name))?.reason === "Cordoned" ? true : undefined
    )
    await uncordoned(lifted.node.name)
    const condition = await Fixtures.waitFor("the condition False", async () => {
      const found = await conditionOf(lifted.node.name)
      return found?.status === "False" ? found : undefined
    })
    expect(condition.reason).toBe("RebalanceCordonLifted")
    expect(await app.stop()).toBe(0)

    const cancelled = await spotNode()
    const second = startApp({ ...cancelled.env, ENABLE_NODE_CONDITION: "true" })
    await polled(cancelled.imds, "/events/maintenance/scheduled")
    const id = cancelled.imds.addScheduledEvent({ code: "system-reboot", state: "active" })
    await drained(cancelled.node.name)
    cancelled.imds.setScheduledEventState(id, "canceled")
    await uncordoned(cancelled.node.name)
    const undone = await Fixtures.waitFor("the condition False", async () => {
      const found = await conditionOf(cancelled.node.name)
      return found?.status === "False" ? found : undefined
    })
    expect(undone.reason).toBe("Uncordoned")
    expect(await second.stop()).toBe(0)
  })

  it("off by default: no condition", async () => {
    const { node, imds, env } = await spotNode()
    const app = startApp(env)
    await polled(imds, "/spot/instance-action")
    imds.setSpotInterruption({ action: "terminate", time: secondsFromNow(60) })
    await drained(node.name)
    await sleep(500)
    expect(await conditionOf(node.name)).toBeUndefined()
    expect(await app.stop()).toBe(0)
  })
})
