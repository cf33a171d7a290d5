/**
 * A program under test, run as a child process (a built `dist/main.js`, a script): its output collected line by
 * line, waited on, stopped with a signal.
 *
 *   const app = startProgram(appPath, { env: { KUBECONFIG, QUEUE_URL }, cleanup: bed.defer })
 *   await waitForLog(app, "nth started")
 *   expect(await app.stop()).toBe(0)
 */
import { type ChildProcess, spawn } from "node:child_process"
import { waitFor } from "./fixtures.ts"
import type { Environment } from "./TestBed.ts"

export { freePort } from "./processes.ts"

export interface Program {
  readonly process: ChildProcess
  /** stdout and stderr, one entry per line, in arrival order (a line split across chunks is one entry). */
  readonly logs: Array<string>
  /** Resolves with the exit code (`null` when a signal ended it) once the process has exited. */
  readonly exited: Promise<number | null>
  /** Sends `signal` (default SIGTERM) and resolves with the exit code. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

export interface ProgramOptions {
  /**
   * The child's whole environment, besides `PATH` (taken from this process unless given): nothing else is
   * inherited, so a test states every setting the program sees.
   */
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly args?: ReadonlyArray<string>
  /**
   * Registers the SIGKILL that ends the process if the test left it running (e.g. `bed.defer`, run when the
   * file ends).
   */
  readonly cleanup?: (cleanup: () => unknown) => void
}

/** Runs `path` with this Node.js (`node <path> ...args`). */
export const startProgram = (path: string, options: ProgramOptions = {}): Program => {
  const child = spawn(process.execPath, [path, ...(options.args ?? [])], {
    env: { PATH: process.env.PATH ?? "", ...options.env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const logs: Array<string> = []
  const collector = () => {
    let partial = ""
    return {
      data: (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split("\n")
        partial = lines.pop() ?? ""
        logs.push(...lines.filter(Boolean))
      },
      end: () => {
        if (partial) logs.push(partial)
        partial = ""
      }
    }
  }
  const out = collector()
  const err = collector()
  child.stdout.on("data", out.data)
  child.stdout.on("end", out.end)
  child.stderr.on("data", err.data)
  child.stderr.on("end", err.end)
  // "close", not "exit": the output is complete by then.
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
  options.cleanup?.(() => child.kill("SIGKILL"))
  return {
    process: child,
    logs,
    exited,
    stop: async (signal = "SIGTERM") => {
      child.kill(signal)
      return exited
    }
  }
}

/** Waits until a line of the program's output contains `text` (or satisfies the predicate); returns it. */
export const waitForLog = (
  program: Program,
  text: string | ((line: string) => boolean),
  timeoutMs = 30_000
): Promise<string> => {
  const matches = typeof text === "string" ? (line: string) => line.includes(text) : text
  return waitFor(
    `a log line ${typeof text === "string" ? JSON.stringify(text) : "matching"}`,
    async () => program.logs.find(matches),
    { timeoutMs }
  )
}

/**
 * The test bed's Kubernetes and AWS settings in the names nth's programs read (the Go handler's): `KUBECONFIG`,
 * `AWS_REGION`, `AWS_ENDPOINT` and the credentials.
 */
export const testBedEnv = (env: Environment): Record<string, string> => ({
  KUBECONFIG: env.KUBECONFIG,
  AWS_REGION: env.AWS_REGION,
  AWS_ENDPOINT: env.AWS_ENDPOINT_URL,
  AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY
})

/** What {@link readiness} read. */
export interface ReadinessAnswer {
  readonly status: number
  readonly body: {
    readonly ready: boolean
    readonly dependencies: Record<string, { readonly ready: boolean; readonly reason?: string }>
  }
}

/** A program's readiness probe as a kubelet reads it: the status, and the JSON body naming each dependency. */
export const readiness = async (port: number): Promise<ReadinessAnswer> => {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) })
  return { status: response.status, body: (await response.json()) as ReadinessAnswer["body"] }
}
