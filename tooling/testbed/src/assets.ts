/**
 * Finds the binaries the test bed runs, building what is missing.
 *
 * Lookup order per Kubernetes binary, as controller-runtime's envtest does it: `TEST_ASSET_<NAME>`, then
 * `$KUBEBUILDER_ASSETS/<name>`, then `/usr/local/kubebuilder/bin/<name>`, then the test bed's own cache (built
 * from Go modules by scripts/build-go.sh, about 15 minutes on 2 cores the first time).
 */
import { spawn } from "node:child_process"
import { accessSync, constants } from "node:fs"
import { join } from "node:path"
import { builtAssetsDir, kwokDir, scriptsDir } from "./paths.ts"

export type KubernetesBinary =
  | "etcd"
  | "kube-apiserver"
  | "kube-controller-manager"
  | "kube-scheduler"
  | "kubectl"

export interface Assets {
  readonly etcd: string
  readonly kubeApiserver: string
  readonly kubeControllerManager: string
  readonly kubeScheduler: string
  readonly kubectl: string
  readonly kwok: string
  readonly kwokStages: string
}

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

const envName = (binary: string) => `TEST_ASSET_${binary.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`

/** Where a binary is found without building anything, or `undefined`. */
export const findBinary = (binary: KubernetesBinary): string | undefined => {
  const candidates = [
    process.env[envName(binary)],
    process.env.KUBEBUILDER_ASSETS ? join(process.env.KUBEBUILDER_ASSETS, binary) : undefined,
    join("/usr/local/kubebuilder/bin", binary),
    join(builtAssetsDir, binary)
  ]
  return candidates.find(
    (candidate): candidate is string => candidate !== undefined && isExecutable(candidate)
  )
}

/** Runs a build script, its progress lines going to `onProgress`. */
export const runScript = (script: string, args: ReadonlyArray<string>, onProgress: (line: string) => void) =>
  new Promise<string>((resolvePromise, reject) => {
    const child = spawn("bash", [join(scriptsDir, script), ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let tail = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on("data", (chunk: Buffer) => {
      const text = chunk.toString()
      tail = (tail + text).slice(-4000)
      for (const line of text.split("\n")) if (line.startsWith("[testbed build]")) onProgress(line)
    })
    child.on("error", reject)
    child.on("exit", (code) =>
      code === 0
        ? resolvePromise(stdout.trim())
        : reject(new Error(`${script} ${args.join(" ")} failed:\n${tail}`))
    )
  })

/**
 * Every binary the test bed needs, building the missing ones from Go modules (and refreshing KWOK's stages).
 */
export const ensureAssets = async (onProgress: (line: string) => void = () => {}): Promise<Assets> => {
  const kubernetes: ReadonlyArray<KubernetesBinary> = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl"
  ]
  const targets = [
    ...(kubernetes.some((binary) => findBinary(binary) === undefined) ? ["k8s"] : []),
    ...(findBinary("etcd") === undefined ? ["etcd"] : []),
    "kwok"
  ]
  await runScript("build-go.sh", [targets.join(" ")], onProgress)
  const required = (binary: KubernetesBinary) => {
    const path = findBinary(binary)
    if (path === undefined) throw new Error(`${binary} not found after building it`)
    return path
  }
  return {
    etcd: required("etcd"),
    kubeApiserver: required("kube-apiserver"),
    kubeControllerManager: required("kube-controller-manager"),
    kubeScheduler: required("kube-scheduler"),
    kubectl: required("kubectl"),
    kwok: join(kwokDir, "kwok"),
    kwokStages: join(kwokDir, "stages.yaml")
  }
}

/** The python of moto's cached virtualenv, installing it the first time. */
export const ensureMoto = (onProgress: (line: string) => void = () => {}): Promise<string> =>
  runScript("setup-moto.sh", [], onProgress)
