/**
 * Reading a kubeconfig file without client-node: the current context's server, CA, and a token or client
 * certificate (inline or as files). Exec and auth-provider credentials need client-node's `KubeConfig`
 * (pass one to `KubeClient.make`).
 */
import { existsSync, readFileSync } from "node:fs"
import * as https from "node:https"
import { homedir } from "node:os"
import { dirname, isAbsolute, join } from "node:path"
import { type Connection, inCluster } from "./http.ts"

interface Named<A> {
  readonly name: string
  readonly [key: string]: unknown
  readonly cluster?: A
  readonly user?: A
  readonly context?: A
}

type Fields = Readonly<Record<string, unknown>>

export const fromKubeconfigFile = async (file: string): Promise<Connection> => {
  // Loaded only outside a cluster: a pod reading its service account never pays for the YAML parser.
  const { parse } = await import("yaml")
  const document = parse(readFileSync(file, "utf8")) as {
    readonly "current-context"?: string
    readonly contexts?: ReadonlyArray<Named<Fields>>
    readonly clusters?: ReadonlyArray<Named<Fields>>
    readonly users?: ReadonlyArray<Named<Fields>>
  }
  const context = document.contexts?.find((c) => c.name === document["current-context"])?.context
  if (!context) throw new Error(`${file}: no current context`)
  const cluster = document.clusters?.find((c) => c.name === context.cluster)?.cluster
  const user = document.users?.find((u) => u.name === context.user)?.user ?? {}
  if (!cluster || typeof cluster.server !== "string")
    throw new Error(`${file}: the current context has no cluster`)
  if (user.exec !== undefined || user["auth-provider"] !== undefined) {
    throw new Error(`${file}: exec and auth-provider credentials need client-node's KubeConfig`)
  }
  const base = dirname(file)
  const material = (data: unknown, path: unknown): Buffer | undefined => {
    if (typeof data === "string") return Buffer.from(data, "base64")
    if (typeof path === "string") return readFileSync(isAbsolute(path) ? path : join(base, path))
    return undefined
  }
  const ca = material(cluster["certificate-authority-data"], cluster["certificate-authority"])
  const cert = material(user["client-certificate-data"], user["client-certificate"])
  const key = material(user["client-key-data"], user["client-key"])
  const tokenFile = typeof user.tokenFile === "string" ? user.tokenFile : undefined
  const server = new URL(cluster.server)
  return {
    server,
    agent: new https.Agent({
      keepAlive: true,
      keepAliveMsecs: 30_000,
      maxSockets: 32,
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      rejectUnauthorized: cluster["insecure-skip-tls-verify"] !== true
    }),
    authorize: async () => {
      const token =
        typeof user.token === "string"
          ? user.token
          : tokenFile
            ? readFileSync(tokenFile, "utf8").trim()
            : undefined
      if (token) return { authorization: `Bearer ${token}` }
      if (typeof user.username === "string" && typeof user.password === "string") {
        return {
          authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}`
        }
      }
      return {}
    }
  }
}

/**
 * Where client-node's `loadFromDefault` would look: `KUBECONFIG` (its first file), the pod's service account,
 * then `~/.kube/config`.
 */
export const fromEnvironment = async (): Promise<Connection> => {
  const configured = process.env.KUBECONFIG?.split(":").find((path) => path !== "")
  if (configured) return fromKubeconfigFile(configured)
  if (
    process.env.KUBERNETES_SERVICE_HOST &&
    existsSync("/var/run/secrets/kubernetes.io/serviceaccount/token")
  ) {
    return inCluster()
  }
  return fromKubeconfigFile(join(homedir(), ".kube", "config"))
}
