/**
 * Child processes of the test bed: started with their output in a log file, awaited until ready, stopped with
 * SIGTERM (then SIGKILL). A process that dies before it is ready fails the start with the end of its log.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { closeSync, openSync, readFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"

export interface ManagedProcess {
  readonly name: string
  readonly pid: number
  readonly logFile: string
  /** Resolves when the process has exited. */
  readonly exited: Promise<number | null>
  readonly alive: () => boolean
  readonly stop: () => Promise<void>
}

/** A free TCP port on 127.0.0.1. */
export const freePort = () =>
  new Promise<number>((resolvePromise, reject) => {
    const server = createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address ? resolvePromise(address.port) : reject()))
    })
  })

export const logTail = (file: string, lines = 30): string => {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n")
  } catch {
    return "(no log)"
  }
}

export const startProcess = (
  name: string,
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly logDir: string; readonly env?: NodeJS.ProcessEnv; readonly cwd?: string }
): ManagedProcess => {
  const logFile = join(options.logDir, `${name}.log`)
  const fd = openSync(logFile, "a")
  const child: ChildProcess = spawn(command, args, {
    stdio: ["ignore", fd, fd],
    env: { ...process.env, ...options.env },
    cwd: options.cwd
  })
  closeSync(fd)
  let exitCode: number | null | undefined
  const exited = new Promise<number | null>((resolvePromise) => {
    child.on("exit", (code, signal) => {
      exitCode = code ?? (signal ? null : code)
      resolvePromise(exitCode)
    })
    child.on("error", () => {
      exitCode = -1
      resolvePromise(-1)
    })
  })
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}\n${logTail(logFile)}`)
  const alive = () => exitCode === undefined
  return {
    name,
    pid: child.pid,
    logFile,
    exited,
    alive,
    stop: async () => {
      if (!alive()) return
      child.kill("SIGTERM")
      const stopped = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)])
      if (!stopped) {
        child.kill("SIGKILL")
        await exited
      }
    }
  }
}

/**
 * Polls `check` until it returns true, failing early when the process dies and after `timeoutMs`.
 */
export const waitUntilReady = async (
  process_: ManagedProcess,
  check: () => Promise<boolean>,
  timeoutMs = 60_000
): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (!process_.alive())
      throw new Error(`${process_.name} exited while starting:\n${logTail(process_.logFile)}`)
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) {
      throw new Error(`${process_.name} not ready after ${timeoutMs / 1000}s:\n${logTail(process_.logFile)}`)
    }
    await sleep(100)
  }
}
