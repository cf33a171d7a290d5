/**
 * IMDS-mode benchmark of the built DaemonSet program (dist/main.js) on the test bed:
 *
 * - start-up: from spawning the process to its first IMDS poll (target ≤ 250 ms);
 * - notice → cordon latency, p50 and p99 over many Spot notices at the default 2 s poll interval (target p99 ≤
 *   poll interval + 100 ms);
 * - steady RSS after polling for NTH_BENCH_RSS_SECONDS (default 300), printed as `RSS <n> MiB` (target ≤ 64),
 *   next to a bare Node process measured in the same run.
 *
 *   pnpm --filter @nth/daemonset bench
 */
import { spawn } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { ImdsMock } from "@nth/imds-mock"
import { Fixtures, TestBed } from "@nth/testbed"

const appPath = join(import.meta.dirname, "..", "dist", "main.js")
if (!existsSync(appPath)) throw new Error(`${appPath} is missing: build first`)
const NOTICES = Number(process.env.NTH_BENCH_NOTICES ?? 30)
const RSS_SECONDS = Number(process.env.NTH_BENCH_RSS_SECONDS ?? 300)

const rssMiB = (pid: number) => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"))
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024
}
const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
}

const { env, release } = await TestBed.acquire({ onProgress: (line) => console.log(`[testbed] ${line}`) })
const clients = Fixtures.makeClients(env)
const node = await Fixtures.registerNode(clients)
const imds = await ImdsMock.start({
  instanceId: node.instanceId,
  availabilityZone: node.zone,
  instanceLifeCycle: "spot"
})
const bare = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" })

try {
  const spawnedAt = Date.now()
  const app = spawn(process.execPath, [appPath], {
    env: {
      PATH: process.env.PATH ?? "",
      KUBECONFIG: env.KUBECONFIG,
      NODE_NAME: node.name,
      INSTANCE_METADATA_URL: imds.url,
      CORDON_ONLY: "true",
      LOG_LEVEL: "error"
    },
    stdio: "ignore"
  })
  const firstPoll = await Fixtures.waitFor(
    "the first poll",
    async () => imds.requests().find((r) => r.path.startsWith("/latest/meta-data/"))?.epochMs,
    { intervalMs: 5 }
  )
  const startup = firstPoll - spawnedAt

  const latencies: Array<number> = []
  for (let i = 0; i < NOTICES; i++) {
    await Fixtures.setUnschedulable(clients, node.name, false)
    // Notices land at random points of the poll cycle, as real ones do.
    await sleep(Math.random() * 2000)
    const postedAt = Date.now()
    imds.setSpotInterruption({
      action: "terminate",
      time: new Date(postedAt + 120_000 + i * 1000).toISOString().replace(/\.\d+Z$/, "Z")
    })
    const cordonedAt = await Fixtures.waitFor(
      "the cordon",
      async () =>
        (await clients.core.readNode({ name: node.name })).spec?.unschedulable ? Date.now() : undefined,
      { intervalMs: 10, timeoutMs: 10_000 }
    )
    latencies.push(cordonedAt - postedAt)
    imds.clearSpotInterruption()
  }

  console.log(`polling for ${RSS_SECONDS} s before reading the resident memory…`)
  await sleep(RSS_SECONDS * 1000)
  const appRss = rssMiB(app.pid!)
  const bareRss = rssMiB(bare.pid!)
  app.kill("SIGTERM")

  console.log("")
  console.log(`start-up to first IMDS poll: ${startup} ms (target ≤ 250 ms)`)
  console.log(
    `notice → cordon over ${NOTICES} notices at the 2 s poll interval: p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms, max ${Math.max(...latencies)} ms (target p99 ≤ 2100 ms)`
  )
  console.log(
    `RSS ${appRss.toFixed(1)} MiB after ${RSS_SECONDS} s of polling (target ≤ 64 MiB); a bare Node process: ${bareRss.toFixed(1)} MiB; ratio ${(appRss / bareRss).toFixed(2)}`
  )
} finally {
  bare.kill()
  await imds.close()
  await Fixtures.deleteNode(clients, node.name)
  await release()
}
