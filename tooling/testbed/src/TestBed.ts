/**
 * The whole test bed as one object: start it, read its environment, stop it.
 *
 *   const bed = await TestBed.start({ dir })
 *   bed.env.KUBECONFIG, bed.env.AWS_ENDPOINT_URL, bed.env.INSTANCE_METADATA_URL …
 *   await bed.stop()
 *
 * `pnpm testbed up` runs the same code in a background process; tests either reuse that one (found through
 * `.testbed/state.json`) or start their own for the run.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ImdsMock } from "@nth/imds-mock"
import { ensureAssets, ensureMoto } from "./assets.ts"
import { awsEnvironment, startMoto } from "./aws.ts"
import { startControlPlane } from "./kubernetes.ts"
import { defaultStateDir } from "./paths.ts"

export interface Environment {
  readonly KUBECONFIG: string
  readonly AWS_ENDPOINT_URL: string
  readonly AWS_REGION: string
  readonly AWS_ACCESS_KEY_ID: string
  readonly AWS_SECRET_ACCESS_KEY: string
  /** The default IMDS emulator (tests start one per fake node as well). */
  readonly INSTANCE_METADATA_URL: string
  readonly NTH_IMDS_CONTROL_URL: string
  readonly NTH_TESTBED_DIR: string
  readonly NTH_TESTBED_KUBECTL: string
}

export interface Component {
  readonly name: string
  readonly pid: number
  readonly url?: string
  readonly logFile?: string
}

export interface TestBed {
  readonly env: Environment
  readonly components: ReadonlyArray<Component>
  readonly stop: () => Promise<void>
}

export interface StartOptions {
  /** State folder (kubeconfig, logs, etcd data). */
  readonly dir: string
  readonly onProgress?: (line: string) => void
}

/** Shell lines that export the environment, for `.testbed/env`. */
export const formatEnvFile = (env: Environment): string =>
  `${Object.entries(env)
    .map(([key, value]) => `export ${key}='${String(value).replaceAll("'", "'\\''")}'`)
    .join("\n")}\n`

export const parseEnvFile = (text: string): Environment =>
  Object.fromEntries(
    text
      .split("\n")
      .map((line) => /^export ([A-Z0-9_]+)='(.*)'$/.exec(line))
      .filter((match) => match !== null)
      .map((match) => [match[1], match[2]!.replaceAll("'\\''", "'")])
  ) as unknown as Environment

export const start = async (options: StartOptions): Promise<TestBed> => {
  const progress = options.onProgress ?? (() => {})
  mkdirSync(join(options.dir, "logs"), { recursive: true })
  const stops: Array<() => Promise<void>> = []
  const stop = async () => {
    for (const stopOne of stops.reverse()) await stopOne().catch(() => {})
  }
  try {
    progress("checking binaries (Kubernetes, etcd, KWOK) and moto")
    // moto's install is mostly downloading and the Go builds mostly compiling: they overlap well.
    const [assets, python] = await Promise.all([ensureAssets(progress), ensureMoto(progress)])

    progress("starting moto")
    const motoStarted = startMoto(python, options.dir)
    // Its failure is reported where it is awaited; until then it must not count as unhandled.
    motoStarted.catch(() => {})
    // Registered before anything else can fail, so a control plane that does not start leaves no moto behind.
    stops.push(() => motoStarted.then((moto) => moto.stop()))
    const controlPlane = await startControlPlane(assets, options.dir, progress)
    stops.push(controlPlane.stop)
    const moto = await motoStarted

    progress("starting the IMDS emulator")
    const imds = await ImdsMock.start({})
    stops.push(() => imds.close())

    const env: Environment = {
      KUBECONFIG: controlPlane.kubeconfig,
      ...awsEnvironment(moto.endpoint),
      INSTANCE_METADATA_URL: imds.url,
      NTH_IMDS_CONTROL_URL: `${imds.url}/control`,
      NTH_TESTBED_DIR: options.dir,
      NTH_TESTBED_KUBECTL: assets.kubectl
    }
    const components: Array<Component> = [
      ...controlPlane.processes.map((p) => ({
        name: p.name,
        pid: p.pid,
        logFile: p.logFile,
        ...(p.name === "kube-apiserver" ? { url: controlPlane.server } : {})
      })),
      { name: "moto", pid: moto.process.pid, url: moto.endpoint, logFile: moto.process.logFile },
      { name: "imds-mock", pid: process.pid, url: imds.url }
    ]
    return { env, components, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

/** What `pnpm testbed up` records about the running test bed. */
export interface State {
  readonly supervisorPid: number
  readonly startedAt: string
  readonly env: Environment
  readonly components: ReadonlyArray<Component>
}

export const stateFile = (dir: string) => join(dir, "state.json")

export const readState = (dir: string): State | undefined => {
  try {
    return JSON.parse(readFileSync(stateFile(dir), "utf8")) as State
  } catch {
    return undefined
  }
}

export const writeState = (dir: string, state: State) => {
  writeFileSync(stateFile(dir), `${JSON.stringify(state, null, 2)}\n`)
  writeFileSync(join(dir, "env"), formatEnvFile(state.env))
}

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The environment of the test bed `pnpm testbed up` started, if it is up and whole. */
export const running = (dir = process.env.NTH_TESTBED_DIR ?? defaultStateDir): Environment | undefined => {
  const state = readState(dir)
  if (!state || !isAlive(state.supervisorPid)) return undefined
  return state.components.every((component) => isAlive(component.pid)) ? state.env : undefined
}

/**
 * A test bed for a test run or a benchmark: the one `pnpm testbed up` started, or else a new one in a temporary
 * folder, which `release` stops and removes (releasing a borrowed one does nothing).
 */
export const acquire = async (
  options: { readonly onProgress?: (line: string) => void } = {}
): Promise<{ readonly env: Environment; readonly release: () => Promise<void> }> => {
  const env = running()
  if (env) return { env, release: async () => {} }
  const dir = mkdtempSync(join(tmpdir(), "nth-testbed-"))
  const bed = await start({ dir, ...(options.onProgress ? { onProgress: options.onProgress } : {}) })
  return {
    env: bed.env,
    release: async () => {
      await bed.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
