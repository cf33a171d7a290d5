/**
 * Start-up with its dependencies down (the Go handler crash-loops on an IMDS 503 at start, #916): the DaemonSet
 * program started while the API server refuses connections (the test bed's fault proxy in an outage) and IMDS
 * answers 503 on every path keeps running, and protects its node as soon as both are back.
 */
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ImdsMock } from "@nth/imds-mock"
import { ApiFaults, Fixtures, Programs, useTestBed } from "@nth/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const bed = useTestBed()
const appPath = join(import.meta.dirname, "..", "dist", "main.js")
let proxy: ApiFaults.ApiFaultProxy

beforeAll(async () => {
  proxy = await ApiFaults.start(bed.clients.env.KUBECONFIG)
})
afterAll(() => proxy.close())

const uptimeFile = () => {
  const file = join(tmpdir(), `nth-uptime-${Math.random().toString(16).slice(2)}`)
  writeFileSync(file, "100000.00 1000.00\n")
  return file
}

describe("nth-daemonset with its dependencies down at start", () => {
  it("keeps running while the API server and IMDS are down, then drains on the first notice after they return", async () => {
    const { node } = await bed.nodeWithDeployment({ replicas: 2, terminationGracePeriodSeconds: 1 })
    const imds = await ImdsMock.start({ instanceId: node.instanceId, availabilityZone: node.zone })
    bed.defer(() => imds.close())
    imds.injectFault({ mode: "unavailable", pathPrefix: "/latest/" })
    const outage = proxy.outage(6000)
    const probesPort = await Programs.freePort()
    const app = Programs.startProgram(appPath, {
      env: {
        ENABLE_PROBES_SERVER: "true",
        PROBES_SERVER_PORT: String(probesPort),
        KUBECONFIG: proxy.kubeconfig,
        JSON_LOGGING: "true",
        NODE_NAME: node.name,
        INSTANCE_METADATA_URL: imds.url,
        UPTIME_FROM_FILE: uptimeFile()
      },
      cleanup: bed.defer
    })
    await Programs.waitForLog(app, "nth started")
    // Polls fail (503) while the API server refuses connections: still running, never exited.
    await Fixtures.waitFor("failing polls", async () =>
      imds.requests().filter((r) => r.status === 503).length >= 3 ? true : undefined
    )
    // Not ready, naming both dependencies, while live: a restart would not bring them back.
    const down = await Fixtures.waitFor("IMDS's 503 in the readiness answer", async () => {
      const answer = await Programs.readiness(probesPort)
      return answer.body.dependencies.imds?.reason?.includes("503") ? answer : undefined
    })
    expect(down.status).toBe(503)
    expect(down.body.dependencies.kubernetes?.ready).toBe(false)
    expect((await fetch(`http://127.0.0.1:${probesPort}/healthz`)).status).toBe(200)
    await outage
    imds.clearFaults()
    expect(app.process.exitCode).toBeNull()
    // Ready once both answer again (the start-up recovery, given up during the outage, goes on in the background).
    await Fixtures.waitFor(
      "ready",
      async () => ((await Programs.readiness(probesPort)).status === 200 ? true : undefined),
      { timeoutMs: 40_000 }
    )
    imds.setSpotInterruption({ action: "terminate" })
    await Fixtures.waitFor(
      `node ${node.name} drained`,
      async () => ((await Fixtures.livePodsOn(bed.clients, node.name)).length === 0 ? true : undefined),
      { timeoutMs: 40_000 }
    )
    expect((await bed.clients.core.readNode({ name: node.name })).spec?.unschedulable).toBe(true)
    expect(await app.stop()).toBe(0)
    // It went through the proxy: refused connections during the outage, then the drain's requests.
    expect(proxy.acceptedEvictions().length).toBeGreaterThanOrEqual(2)
  }, 90_000)
})
