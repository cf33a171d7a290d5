/**
 * Soak of the built DaemonSet program (dist/main.js) on the test bed: NTH_SOAK_SECONDS (default 600) of polling an
 * IMDS that answers an error on every path (500s, throttling, refused tokens, dropped connections, garbage, in
 * turn) through an API server that throttles every request (the fault proxy answering 429 with Retry-After). Prints the resident memory after a warm-up (NTH_SOAK_WARMUP_SECONDS, default 60) and at the end
 * (target: growth ≤ 2 MiB), the open file descriptors at both moments (handles must not leak), and the failed
 * polls counted in `events_error_total`.
 *
 *   pnpm --filter @nth/daemonset bench     (with the IMDS benchmark)
 */
import { spawn } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { ImdsMock } from "@nth/imds-mock"
import { ApiFaults, Fixtures, Programs, TestBed } from "@nth/testbed"
import { rssMiB } from "./proc.ts"

const appPath = join(import.meta.dirname, "..", "dist", "main.js")
if (!existsSync(appPath)) throw new Error(`${appPath} is missing: build first`)
const SOAK_SECONDS = Number(process.env.NTH_SOAK_SECONDS ?? 600)
const WARMUP_SECONDS = Number(process.env.NTH_SOAK_WARMUP_SECONDS ?? 60)

const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length

const { env, release } = await TestBed.acquire({ onProgress: (line) => console.log(`[testbed] ${line}`) })
const clients = Fixtures.makeClients(env)
const node = await Fixtures.registerNode(clients)
const imds = await ImdsMock.start({
  instanceId: node.instanceId,
  availabilityZone: node.zone,
  requestLogLimit: 1000
})
const api = await ApiFaults.start(env.KUBECONFIG)
const metricsPort = await Programs.freePort()

// Every kind of IMDS failure in turn, a minute each; and the API server throttling every request.
const modes = ["error", "throttle", "unavailable", "forbidden", "drop", "garbage"] as const
let modeIndex = 0
let faultId = imds.injectFault({ mode: modes[0] })
const rotate = setInterval(() => {
  imds.removeFault(faultId)
  modeIndex = (modeIndex + 1) % modes.length
  faultId = imds.injectFault({ mode: modes[modeIndex] ?? "error" })
}, 60_000)
api.inject({ fault: { _tag: "status", status: 429, retryAfterSeconds: 1 }, times: Number.MAX_SAFE_INTEGER })

const app = spawn(process.execPath, [appPath], {
  env: {
    PATH: process.env.PATH ?? "",
    KUBECONFIG: api.kubeconfig,
    NODE_NAME: node.name,
    INSTANCE_METADATA_URL: imds.url,
    ENABLE_PROMETHEUS_SERVER: "true",
    PROMETHEUS_SERVER_PORT: String(metricsPort),
    LOG_LEVEL: "error"
  },
  stdio: "ignore"
})
let exitedEarly: number | null | undefined
app.once("exit", (code) => {
  exitedEarly = code
})

try {
  console.log(`warming up for ${WARMUP_SECONDS} s, then soaking for ${SOAK_SECONDS} s…`)
  await sleep(WARMUP_SECONDS * 1000)
  if (exitedEarly !== undefined) throw new Error(`the program exited (${exitedEarly}) during the warm-up`)
  const startRss = rssMiB(app.pid!)
  const startFds = openFds(app.pid!)
  await sleep(SOAK_SECONDS * 1000)
  if (exitedEarly !== undefined) throw new Error(`the program exited (${exitedEarly}) during the soak`)
  const endRss = rssMiB(app.pid!)
  const endFds = openFds(app.pid!)
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
  const errors = [...metrics.matchAll(/^events_error_total\{[^}]*\} (\d+)/gm)].reduce(
    (n, m) => n + Number(m[1]),
    0
  )
  const throttled = api.log.filter((entry) => entry.status === 429).length
  console.log("")
  console.log(
    `soak: ${SOAK_SECONDS} s against an IMDS failing on every path (${modes.join(", ")}) and an API server answering 429 (${throttled} times)`
  )
  console.log(
    `RSS ${startRss.toFixed(1)} MiB after the warm-up, ${endRss.toFixed(1)} MiB at the end: growth ${(endRss - startRss).toFixed(1)} MiB (target ≤ 2 MiB)`
  )
  console.log(
    `open file descriptors ${startFds} → ${endFds}; failed polls counted in events_error_total: ${errors}; still running: yes`
  )
} finally {
  clearInterval(rotate)
  app.kill("SIGTERM")
  await imds.close()
  await api.close()
  await Fixtures.deleteNode(clients, node.name)
  await release()
}
