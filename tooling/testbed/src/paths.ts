/**
 * Where the test bed keeps things: binaries and virtualenvs in a cache outside the repo (built once per machine),
 * running state under `.testbed/` in the repo (git-ignored).
 */
import { homedir } from "node:os"
import { join, resolve } from "node:path"

export const versions = {
  kubernetes: process.env.NTH_K8S_VERSION ?? "1.36.3",
  etcd: process.env.NTH_ETCD_VERSION ?? "3.6.16",
  kwok: process.env.NTH_KWOK_VERSION ?? "0.8.0",
  moto: process.env.NTH_MOTO_VERSION ?? "5.2.5",
  helm: process.env.NTH_HELM_VERSION ?? "4.3.2",
  kubeconform: process.env.NTH_KUBECONFORM_VERSION ?? "0.8.0",
  /** The Prometheus Operator's API types the ServiceMonitor and PodMonitor CRDs are generated from. */
  monitoring: process.env.NTH_MONITORING_VERSION ?? "0.95.2"
} as const

export const testbedRoot = resolve(import.meta.dirname, "..")
export const repoRoot = resolve(testbedRoot, "../..")
export const scriptsDir = join(testbedRoot, "scripts")

export const cacheDir =
  process.env.NTH_TESTBED_CACHE ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "nth-testbed")

/** The folder the built Kubernetes binaries land in; it can itself serve as KUBEBUILDER_ASSETS. */
export const builtAssetsDir = join(cacheDir, "k8s", `${versions.kubernetes}-linux-amd64`)
export const kwokDir = join(cacheDir, "kwok", `v${versions.kwok}`)

/** The default state folder of `pnpm testbed up`. */
export const defaultStateDir = join(repoRoot, ".testbed")
