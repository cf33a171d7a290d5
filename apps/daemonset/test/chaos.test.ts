/**
 * A chaos run of IMDS mode: a DaemonSet program on each of many nodes, each node interrupted once (a Spot
 * interruption notice, or a scheduled reboot two minutes out), while the programs are killed (SIGKILL) and stopped
 * (SIGTERM) at random moments and restarted on their node (as the DaemonSet's controller would), IMDS answers
 * errors, throttles, garbage and drops connections, and the API server (behind the test bed's fault proxy)
 * throttles, fails, resets and cuts watches. The invariants are checked from the cluster and the proxy's log, not
 * from nth's own logs:
 *
 * - every node is drained (its pods gone, the node cordoned) before its deadline (the notice's two minutes);
 * - no pod gets a second eviction accepted after one was (counted on the wire);
 * - no node is left cordoned without nth's record saying why.
 *
 * The figures are printed at the end. Size: NTH_CHAOS_IMDS_NODES (default 8) and NTH_CHAOS_KILLS (default 5);
 * `pnpm chaos` runs it at 40 nodes and 20 kills (a node process each: 40 are ~2.4 GiB).
 */
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ImdsMock } from "@nth/imds-mock"
import { ApiFaults, Chaos, Fixtures, Programs, useTestBed } from "@nth/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const bed = useTestBed()
const appPath = join(import.meta.dirname, "..", "dist", "main.js")
const nodeCount = Number(process.env.NTH_CHAOS_IMDS_NODES ?? 8)
const kills = Number(process.env.NTH_CHAOS_KILLS ?? 5)
const deadlineMs = 120_000

let api: ApiFaults.ApiFaultProxy
beforeAll(async () => {
  api = await ApiFaults.start(bed.clients.env.KUBECONFIG)
})
afterAll(() => api.close())

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const uptimeFile = () => {
  const file = join(tmpdir(), `nth-uptime-${Math.random().toString(16).slice(2)}`)
  writeFileSync(file, "100000.00 1000.00\n")
  return file
}

describe("chaos (IMDS mode)", () => {
  it(`${nodeCount} nodes interrupted, ${kills} kills, faults of every kind: every node drained in time, no pod evicted twice`, async () => {
    const nodes = await Promise.all(Array.from({ length: nodeCount }, () => bed.registerNode()))
    await Promise.all(Array.from({ length: Math.ceil(nodeCount / 2) }, () => bed.registerNode()))
    const namespace = bed.namespace()
    // Two pods on each node; every other node's pods under a budget that lets one go at a time.
    await Promise.all(
      nodes.map(async (node, i) => {
        const labels = await Fixtures.createDeployment(bed.clients, namespace, {
          name: Fixtures.uniqueName("chaos"),
          replicas: 2,
          preferNode: node.name,
          terminationGracePeriodSeconds: 1,
          ...(i % 2 === 0 ? { budget: { maxUnavailable: 1 } } : {})
        })
        await Fixtures.waitForReadyPods(bed.clients, namespace, labels, 2, 120_000)
      })
    )
    const podsBefore = new Set<string>()
    for (const node of nodes)
      for (const pod of await Fixtures.livePodsOn(bed.clients, node.name))
        podsBefore.add(`${pod.metadata?.namespace}/${pod.metadata?.name}`)

    const emulators = await Promise.all(
      nodes.map(async (node) => {
        const imds = await ImdsMock.start({ instanceId: node.instanceId, availabilityZone: node.zone })
        bed.defer(() => imds.close())
        return imds
      })
    )

    // API server faults, spread over the run.
    Chaos.injectApiFaults(api, { throttledEvictions: nodeCount })

    const programs = new Map<number, Programs.Program>()
    // Every program a node had (the killed ones too), for the report of a node that was not drained.
    const history = new Map<number, Array<Programs.Program>>()
    const start = (i: number) => {
      const node = nodes[i]!
      const app = Programs.startProgram(appPath, {
        env: {
          KUBECONFIG: api.kubeconfig,
          JSON_LOGGING: "true",
          NODE_NAME: node.name,
          INSTANCE_METADATA_URL: emulators[i]!.url,
          UPTIME_FROM_FILE: uptimeFile()
        },
        cleanup: bed.defer
      })
      programs.set(i, app)
      history.set(i, [...(history.get(i) ?? []), app])
      return app
    }
    await Promise.all(nodes.map((_, i) => Programs.waitForLog(start(i), "nth started in IMDS mode")))

    // IMDS faults on a rotating third of the nodes: each kind for a few requests.
    const imdsModes = ["unavailable", "throttle", "error", "garbage", "drop", "delay"] as const
    const faultImds = (async () => {
      for (let round = 0; round < Math.max(6, nodeCount); round++) {
        const mode = imdsModes[round % imdsModes.length]!
        const i = Math.floor(Math.random() * nodeCount)
        emulators[i]!.injectFault({ mode, count: 3, ...(mode === "delay" ? { delayMs: 1500 } : {}) })
        await sleep(700)
      }
    })()

    // The interruptions, a batch of 4 nodes a second: two in three by a Spot notice, the rest by a scheduled
    // reboot two minutes out.
    const noticedAt = new Map<string, number>()
    let spotNotices = 0
    let scheduledEvents = 0
    const interrupt = (async () => {
      for (let i = 0; i < nodeCount; i += 4) {
        for (let j = i; j < Math.min(nodeCount, i + 4); j++) {
          noticedAt.set(nodes[j]!.name, Date.now())
          if (j % 3 === 2) {
            emulators[j]!.addScheduledEvent({
              code: "system-reboot",
              notBefore: new Date(Date.now() + deadlineMs).toISOString().replace(/\.\d+Z$/, "Z")
            })
            scheduledEvents += 1
          } else {
            emulators[j]!.setSpotInterruption({ action: "terminate" })
            spotNotices += 1
          }
        }
        await sleep(1000)
      }
    })()

    // A full outage of the API server (connections refused), in the thick of it.
    const outage = (async () => {
      await sleep(2000)
      await api.outage(2000)
    })()
    // The kills: a random node's program, restarted a second later on the same node.
    const chaos = Chaos.killAtRandom({
      programs,
      restart: start,
      kills,
      pause: { minMs: 500, spreadMs: 2500 }
    })
    const [, { killed, stopped }] = await Promise.all([interrupt, chaos, faultImds, outage])

    const drainedAt = new Map<string, number>()
    await Chaos.waitForDrained(
      bed.clients,
      nodes.map((node) => node.name),
      drainedAt,
      deadlineMs + 30_000
    ).catch(async (error: unknown) => {
      // Which node, what the cluster shows of it, and what its programs said: a chaos failure is rare and must be
      // explainable from one run.
      const report: Array<string> = []
      for (const [i, node] of nodes.entries()) {
        if (drainedAt.has(node.name)) continue
        const current = await bed.clients.core.readNode({ name: node.name }).catch(() => undefined)
        const pods = await Fixtures.livePodsOn(bed.clients, node.name).catch(() => [])
        report.push(
          `== ${node.name} (${node.instanceId}) not drained: unschedulable=${current?.spec?.unschedulable}`,
          `record: ${current?.metadata?.annotations?.["nth.dev/record"]}`,
          `taints: ${JSON.stringify(current?.spec?.taints ?? [])}`,
          `pods: ${pods.map((pod) => `${pod.metadata?.name} ${pod.status?.phase} deleting=${Boolean(pod.metadata?.deletionTimestamp)}`).join(", ")}`,
          `imds: ${emulators[i]!.requests().length} requests`
        )
        for (const [n, app] of (history.get(i) ?? []).entries())
          report.push(`-- program ${n + 1} (exit ${app.process.exitCode ?? "running"})`, ...app.logs)
      }
      const file = join(tmpdir(), `nth-chaos-imds-${Date.now()}.log`)
      writeFileSync(file, report.join("\n"))
      console.log(`chaos (IMDS mode): the nodes not drained and their programs' logs are in ${file}`)
      console.log(report.filter((line) => line.startsWith("==") || !line.startsWith("{")).join("\n"))
      throw error
    })
    const late = nodes
      .filter((node) => (drainedAt.get(node.name) ?? Infinity) - (noticedAt.get(node.name) ?? 0) > deadlineMs)
      .map(
        (node) =>
          `${node.name} after ${((drainedAt.get(node.name) ?? 0) - (noticedAt.get(node.name) ?? 0)) / 1000} s`
      )
    for (const node of nodes) {
      const current = await bed.clients.core.readNode({ name: node.name })
      expect(current.spec?.unschedulable, `${node.name} cordoned`).toBe(true)
      expect(current.metadata?.annotations?.["nth.dev/record"], `${node.name}'s record`).toBeDefined()
    }

    // No pod evicted twice: accepted evictions on the wire, by pod.
    const counts = new Map<string, number>()
    for (const pod of api.acceptedEvictions())
      if (podsBefore.has(pod)) counts.set(pod, (counts.get(pod) ?? 0) + 1)
    const duplicates = [...counts].filter(([, n]) => n > 1).map(([pod]) => pod)
    // Every program still running, or ending cleanly when stopped.
    for (const app of programs.values()) expect(app.process.exitCode).toBeNull()
    for (const app of programs.values()) expect([0, null]).toContain(await app.stop())

    // The faults the emulators served (the requests they answered with one), not the ones asked for.
    const faults = Chaos.faultCounts({
      api: api.log,
      imds: emulators.flatMap((imds) => imds.requests().map((r) => ({ action: r.fault ?? "forwarded" })))
    })
    const lost = nodes.length - drainedAt.size
    const slowest = Math.max(
      ...nodes.map((node) => (drainedAt.get(node.name) ?? 0) - (noticedAt.get(node.name) ?? 0))
    )
    console.log(
      [
        `chaos (IMDS mode): ${nodes.length} interruptions (${spotNotices} Spot notices, ${scheduledEvents} scheduled reboots),`,
        `${killed} SIGKILLs and ${stopped} SIGTERMs of ${nodes.length} programs;`,
        `faults injected: ${Chaos.describeCounts(faults)};`,
        `drains in time ${nodes.length - late.length}/${nodes.length} (slowest ${(slowest / 1000).toFixed(1)} s),`,
        `events lost ${lost}, duplicate evictions ${duplicates.length}, pods evicted ${counts.size}/${podsBefore.size}`
      ].join(" ")
    )
    expect(late).toEqual([])
    expect(lost).toBe(0)
    expect(duplicates).toEqual([])
    expect(counts.size).toBe(podsBefore.size)
  }, 600_000)
})
