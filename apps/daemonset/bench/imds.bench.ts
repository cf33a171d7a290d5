/**
 * IMDS-mode benchmark of the built DaemonSet program (dist/main.js) on the test bed:
 *
 * - start-up: from spawning the process to its first poll of a notice path, `spot/instance-action` (target
 *   ≤ 250 ms): settings, identity, start-up recovery against the API server and the monitors' start all count;
 *   median and max over NTH_BENCH_STARTS starts (default 5);
 * - notice → cordon latency, p50 and p99 over many Spot notices at the default 2 s poll interval (target p99 ≤
 *   poll interval + 100 ms);
 * - steady RSS after polling for NTH_BENCH_RSS_SECONDS (default 300), printed as `RSS <n> MiB` (target ≤ 64),
 *   next to a bare Node process measured in the same run.
 *
 *   pnpm --filter @nth/daemonset bench
 */
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { ImdsMock } from "@nth/imds-mock"
import { Fixtures, TestBed } from "@nth/testbed"
import { rssMiB } from "./proc.ts"

const appPath = join(import.meta.dirname, "..", "dist", "main.js")
if (!existsSync(appPath)) throw new Error(`${appPath} is missing: build first`)
const NOTICES = Number(process.env.NTH_BENCH_NOTICES ?? 30)
const RSS_SECONDS = Number(process.env.NTH_BENCH_RSS_SECONDS ?? 300)
const STARTS = Math.max(1, Number(process.env.NTH_BENCH_STARTS ?? 5))

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

/**
 * Starts the program as the image does (`node dist/main.js`) and waits for its first poll of a notice path: the
 * identity read comes first, and the monitors start only once start-up recovery against the API server is done.
 */
const start = async () => {
  const from = imds.requests().length
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
  const requests = () => imds.requests().slice(from)
  const firstPoll = await Fixtures.waitFor(
    "the first Spot notice poll",
    async () => requests().find((r) => r.path === "/latest/meta-data/spot/instance-action")?.epochMs,
    { intervalMs: 2 }
  )
  return {
    app,
    startup: firstPoll - spawnedAt,
    firstRequest: (requests()[0]?.epochMs ?? Number.NaN) - spawnedAt
  }
}

try {
  // A few starts and stops first: one start-up time is at the mercy of whatever else the machine is doing.
  const startups: Array<number> = []
  for (let i = 1; i < STARTS; i++) {
    const { app, startup } = await start()
    startups.push(startup)
    const exited = new Promise((resolve) => app.once("exit", resolve))
    app.kill("SIGTERM")
    await exited
  }
  const { app, startup, firstRequest } = await start()
  startups.push(startup)

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
  console.log(
    `start-up to first notice poll (spot/instance-action) over ${STARTS} starts: median ${percentile(startups, 50)} ms, max ${Math.max(...startups)} ms (target ≤ 250 ms); the last start's first IMDS request at ${firstRequest} ms`
  )
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
