#!/usr/bin/env node
/**
 * pnpm testbed up | down | status | env
 *
 *   up      start the test bed in the background (building what is missing), return once every part is ready,
 *           and write .testbed/env (shell export lines: KUBECONFIG, AWS_ENDPOINT_URL, INSTANCE_METADATA_URL, …)
 *   down    stop all of it; no process is left behind
 *   status  say what runs
 *   env     print .testbed/env
 *
 * Options: --dir <folder> (default .testbed in the repo).
 */
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { parseArgs } from "node:util"
import { defaultStateDir } from "./paths.ts"
import * as TestBed from "./TestBed.ts"

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { dir: { type: "string", default: defaultStateDir }, help: { type: "boolean", short: "h" } }
})
const dir = values.dir
const command = positionals[0]

const usage = () => {
  const text = readFileSync(new URL(import.meta.url), "utf8")
  process.stdout.write(`${/\/\*\*\n([\s\S]*?)\*\//.exec(text)?.[1]?.replace(/^ \* ?/gm, "") ?? ""}`)
}

const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)}s`

// The supervisor's pid, written as soon as it starts (state.json only once everything is ready), so that
// `down` and `status` also find a test bed that is still building or starting.
const pidFile = join(dir, "supervisor.pid")
const logFile = join(dir, "testbed.log")

const starting = (): number | undefined => {
  try {
    const pid = Number.parseInt(readFileSync(pidFile, "utf8"), 10)
    return Number.isInteger(pid) && TestBed.isAlive(pid) ? pid : undefined
  } catch {
    return undefined
  }
}

// The supervisor leads its own process group (it is started detached), and everything it runs (Go builds,
// pip, the control plane) stays in that group: signalling the group reaches all of it.
const signalGroup = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pid, signal)
  } catch {
    // No such group any more.
  }
}

const groupAlive = (pid: number) => {
  try {
    process.kill(-pid, 0)
    return true
  } catch {
    return false
  }
}

/** The background process that `up` starts: it owns every part and stops them all on SIGTERM. */
const serve = async () => {
  mkdirSync(dir, { recursive: true })
  const started = Date.now()
  const log = (line: string) => console.log(`[testbed ${seconds(started)}] ${line}`)
  let bed: TestBed.TestBed | undefined
  let stopping = false
  const shutdown = async (code: number) => {
    if (stopping) return
    stopping = true
    log("stopping")
    if (bed) await bed.stop()
    // Still building or starting: what runs is not known by name yet, but it is all in this process group.
    else signalGroup(process.pid, "SIGTERM")
    rmSync(TestBed.stateFile(dir), { force: true })
    rmSync(join(dir, "env"), { force: true })
    rmSync(pidFile, { force: true })
    log("stopped")
    process.exit(code)
  }
  process.on("SIGTERM", () => void shutdown(0))
  process.on("SIGINT", () => void shutdown(0))
  writeFileSync(pidFile, `${process.pid}\n`)
  try {
    bed = await TestBed.start({ dir, onProgress: log })
  } catch (error) {
    log(`failed: ${error instanceof Error ? error.message : String(error)}`)
    return shutdown(1)
  }
  TestBed.writeState(dir, {
    supervisorPid: process.pid,
    startedAt: new Date().toISOString(),
    env: bed.env,
    components: bed.components
  })
  log("ready")
  // Watch the parts: when one dies, say so in the log (status shows it too).
  setInterval(() => {
    for (const component of bed?.components ?? []) {
      if (!TestBed.isAlive(component.pid)) log(`${component.name} (pid ${component.pid}) is not running`)
    }
  }, 5000).unref()
  await new Promise(() => {})
}

/** Follows the supervisor's log until the test bed is ready (0) or the supervisor is gone (1). */
const awaitReady = async (supervisorPid: number, started: number) => {
  let printed = 0
  // Ctrl-C while waiting stops what is being started, rather than leaving it to run unseen.
  const interrupt = () => {
    console.error("interrupted: stopping the test bed that was starting")
    process.kill(supervisorPid, "SIGTERM")
  }
  process.once("SIGINT", interrupt)
  try {
    for (;;) {
      await sleep(250)
      const lines = existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n") : []
      for (const line of lines.slice(printed, -1)) console.log(line)
      printed = Math.max(printed, lines.length - 1)
      const state = TestBed.readState(dir)
      if (state && state.supervisorPid === supervisorPid) {
        console.log(`test bed up in ${seconds(started)}; environment: . ${join(dir, "env")}`)
        return 0
      }
      if (!TestBed.isAlive(supervisorPid)) {
        console.error(`test bed failed to start; see ${logFile}`)
        return 1
      }
    }
  } finally {
    process.off("SIGINT", interrupt)
  }
}

const up = async () => {
  const existing = TestBed.readState(dir)
  if (existing && TestBed.isAlive(existing.supervisorPid)) {
    console.log(`test bed already up (pid ${existing.supervisorPid}); environment in ${join(dir, "env")}`)
    return 0
  }
  const pending = starting()
  if (pending !== undefined) {
    console.log(`test bed already starting (pid ${pending}); waiting for it`)
    return awaitReady(pending, Date.now())
  }
  mkdirSync(dir, { recursive: true })
  rmSync(logFile, { force: true })
  const out = openSync(logFile, "a")
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, "serve", "--dir", dir], {
    detached: true,
    stdio: ["ignore", out, out]
  })
  child.unref()
  if (child.pid === undefined) {
    console.error(`test bed failed to start; see ${logFile}`)
    return 1
  }
  return awaitReady(child.pid, Date.now())
}

const down = async () => {
  const state = TestBed.readState(dir)
  const supervisorPid = state?.supervisorPid ?? starting()
  if (supervisorPid === undefined) {
    console.log("test bed is not up")
    return 0
  }
  if (TestBed.isAlive(supervisorPid)) process.kill(supervisorPid, "SIGTERM")
  const deadline = Date.now() + 30_000
  while ((TestBed.isAlive(supervisorPid) || groupAlive(supervisorPid)) && Date.now() < deadline)
    await sleep(100)
  // Whatever survived its supervisor (a crash, a SIGKILL, a build that ignored SIGTERM) is stopped here, so
  // nothing is left behind.
  signalGroup(supervisorPid, "SIGKILL")
  for (const pid of [supervisorPid, ...(state?.components ?? []).map((component) => component.pid)]) {
    if (TestBed.isAlive(pid)) process.kill(pid, "SIGKILL")
  }
  rmSync(TestBed.stateFile(dir), { force: true })
  rmSync(join(dir, "env"), { force: true })
  rmSync(pidFile, { force: true })
  console.log("test bed stopped")
  return 0
}

const status = () => {
  const state = TestBed.readState(dir)
  if (!state) {
    const pending = starting()
    if (pending !== undefined) {
      console.log(`test bed starting (supervisor pid ${pending}); progress in ${logFile}`)
      return 4
    }
    console.log("test bed is not up")
    return 3
  }
  const up = TestBed.isAlive(state.supervisorPid)
  console.log(
    `test bed ${up ? "up" : "DOWN"} since ${state.startedAt} (supervisor pid ${state.supervisorPid})`
  )
  let healthy = up
  for (const component of state.components) {
    const alive = TestBed.isAlive(component.pid)
    healthy &&= alive
    console.log(
      `  ${component.name.padEnd(24)} ${alive ? "running" : "STOPPED"}  pid ${component.pid}${component.url ? `  ${component.url}` : ""}`
    )
  }
  return healthy ? 0 : 1
}

const main = async (): Promise<number> => {
  if (values.help) {
    usage()
    return 0
  }
  switch (command) {
    case "up":
      return up()
    case "down":
      return down()
    case "status":
      return status()
    case "env":
      process.stdout.write(readFileSync(join(dir, "env"), "utf8"))
      return 0
    case "serve":
      await serve()
      return 0
    default:
      usage()
      return 2
  }
}

process.exitCode = await main()
