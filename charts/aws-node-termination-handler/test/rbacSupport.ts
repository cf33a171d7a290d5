/**
 * What test/rbac.test.ts needs besides the scenarios: running helm and kubectl, the chart's RBAC objects applied
 * under names of the test's own (optionally with one verb taken out of the ClusterRole), a token of the chart's
 * ServiceAccount (TokenRequest) in a kubeconfig of its own, and a recording TLS proxy in front of the test bed's
 * API server, so that every request a program makes with that token is seen with its answer (a refused watch
 * that a fallback hides leaves no trace in the program's logs).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ImdsMock } from "@nth/imds-mock"
import type { TestBed } from "@nth/testbed"

// The chart tests' own runners: a non-zero exit is an outcome (`run`); `must` has to succeed.
import { succeed as must } from "./harness.ts"

export { type Outcome, run } from "./harness.ts"
export { must }

/** The file's scratch folder (manifests, kubeconfigs holding tokens, the proxy's key): `removeWork` deletes it. */
export const work = mkdtempSync(join(tmpdir(), "nth-rbac-test-"))
export const removeWork = () => rmSync(work, { recursive: true, force: true })
let files = 0
export const writeWorkFile = (name: string, text: string): string => {
  files += 1
  const path = join(work, `${files}-${name}`)
  writeFileSync(path, text)
  return path
}

// ---------------------------------------------------------------------------------------------------------------
// RBAC objects
// ---------------------------------------------------------------------------------------------------------------

export interface Rule {
  readonly apiGroups: ReadonlyArray<string>
  readonly resources: ReadonlyArray<string>
  readonly verbs: ReadonlyArray<string>
}

/** One verb on one resource: what a rule grants, one permission at a time. */
export interface Permission {
  readonly group: string
  readonly resource: string
  readonly verb: string
}

export const keyOf = (p: Permission) => `${p.group === "" ? "" : `${p.group}/`}${p.resource}:${p.verb}`

/** Every (group, resource, verb) the rules grant, in the rules' order. */
export const permissionsOf = (rules: ReadonlyArray<Rule>): Array<Permission> =>
  rules.flatMap((rule) =>
    rule.apiGroups.flatMap((group) =>
      rule.resources.flatMap((resource) => rule.verbs.map((verb) => ({ group, resource, verb })))
    )
  )

/** The rules without `drop`: the verb taken out of every rule granting it (a rule left with no verb goes). */
export const without = (rules: ReadonlyArray<Rule>, drop: Permission): Array<Rule> =>
  rules.flatMap((rule): Array<Rule> => {
    if (!rule.apiGroups.includes(drop.group) || !rule.resources.includes(drop.resource)) return [rule]
    const split: Array<Rule> = []
    // Other groups and resources of the same rule keep the verb.
    const otherGroups = rule.apiGroups.filter((g) => g !== drop.group)
    const otherResources = rule.resources.filter((r) => r !== drop.resource)
    if (otherGroups.length > 0) split.push({ ...rule, apiGroups: otherGroups })
    if (otherResources.length > 0) split.push({ ...rule, apiGroups: [drop.group], resources: otherResources })
    const verbs = rule.verbs.filter((v) => v !== drop.verb)
    if (verbs.length > 0) split.push({ apiGroups: [drop.group], resources: [drop.resource], verbs })
    return split
  })

export interface KubeObject {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly [key: string]: unknown }
  readonly rules?: ReadonlyArray<Rule>
  readonly [key: string]: unknown
}

/** The JSON values of a text holding several, one after another (kubectl prints one per object). */
export const jsonStream = (text: string): Array<KubeObject> => {
  const values: Array<KubeObject> = []
  let depth = 0
  let start = -1
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (inString) {
      if (c === "\\") i++
      else if (c === '"') inString = false
    } else if (c === '"') inString = true
    else if (c === "{") {
      if (depth === 0) start = i
      depth++
    } else if (c === "}" && --depth === 0) values.push(JSON.parse(text.slice(start, i + 1)) as KubeObject)
  }
  return values.flatMap((value) =>
    value.kind === "List" ? ((value.items ?? []) as Array<KubeObject>) : [value]
  )
}

// ---------------------------------------------------------------------------------------------------------------
// A kubeconfig holding a ServiceAccount's token
// ---------------------------------------------------------------------------------------------------------------

/** The test bed's API server: its URL and the CA its kubeconfig trusts (PEM). */
export const apiServerOf = async (env: TestBed.Environment): Promise<{ server: string; ca: Buffer }> => {
  const config = JSON.parse(
    await must(env.NTH_TESTBED_KUBECTL, [
      "--kubeconfig",
      env.KUBECONFIG,
      "config",
      "view",
      "--raw",
      "--minify",
      "-o",
      "json"
    ])
  ) as { clusters: Array<{ cluster: { server: string; "certificate-authority-data": string } }> }
  const cluster = config.clusters[0]!.cluster
  return { server: cluster.server, ca: Buffer.from(cluster["certificate-authority-data"], "base64") }
}

/** A kubeconfig file for `server`, trusting `ca` (PEM), authenticating with `token`. */
export const tokenKubeconfig = (name: string, server: string, ca: Buffer, token: string): string =>
  writeWorkFile(
    `${name}.kubeconfig`,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name, cluster: { server, "certificate-authority-data": ca.toString("base64") } }],
      users: [{ name, user: { token } }],
      contexts: [{ name, context: { cluster: name, user: name } }],
      "current-context": name
    })
  )

// ---------------------------------------------------------------------------------------------------------------
// The recording proxy
// ---------------------------------------------------------------------------------------------------------------

/** One request a program made through the proxy, with the API server's answer. */
export interface Request {
  readonly at: number
  readonly method: string
  readonly path: string
  readonly query: string
  readonly status: number
  /** The permission the request needs (`undefined`: discovery, health and the like). */
  readonly needs: Permission | undefined
}

/**
 * The permission an API request needs, from its method and path as the API server's request-info resolver
 * reads them: `/api/v1/...` or `/apis/<group>/<version>/...`, then `namespaces/<ns>/` for a namespaced object,
 * the resource, the name, a subresource. A GET without a name is a list, or a watch with `watch=true`.
 */
export const permissionOf = (method: string, url: URL): Permission | undefined => {
  const parts = url.pathname.split("/").filter(Boolean)
  let rest: Array<string>
  let group: string
  if (parts[0] === "api" && parts.length >= 2) {
    group = ""
    rest = parts.slice(2)
  } else if (parts[0] === "apis" && parts.length >= 3) {
    group = parts[1]!
    rest = parts.slice(3)
  } else return undefined
  // `namespaces/<ns>/<resource>...` is namespaced; `namespaces` or `namespaces/<ns>` is the namespace itself.
  if (rest[0] === "namespaces" && rest.length >= 3) rest = rest.slice(2)
  const [resource, name, subresource] = rest
  if (resource === undefined) return undefined
  const watch = url.searchParams.get("watch")
  const verb =
    method === "GET"
      ? name !== undefined
        ? "get"
        : watch === "true" || watch === "1"
          ? "watch"
          : "list"
      : method === "POST"
        ? "create"
        : method === "PATCH"
          ? "patch"
          : method === "PUT"
            ? "update"
            : method === "DELETE"
              ? name === undefined
                ? "deletecollection"
                : "delete"
              : method.toLowerCase()
  return { group, resource: subresource === undefined ? resource : `${resource}/${subresource}`, verb }
}

export interface RecordingProxy {
  /** Where programs reach the API server through the proxy. */
  readonly url: string
  /** The proxy's certificate (PEM): what a kubeconfig for it must trust. */
  readonly ca: Buffer
  /** The requests sent with this bearer token, oldest first. */
  readonly requestsOf: (token: string) => ReadonlyArray<Request>
  readonly close: () => Promise<void>
}

/**
 * An HTTPS server on 127.0.0.1 that forwards every request to `upstream` as it came (the caller's token
 * included: the API server authenticates and authorizes the caller) and streams the answer back (watches
 * included), recording each request by its bearer token. Its certificate is a throw-away one made with openssl.
 */
export const startRecordingProxy = async (upstream: {
  readonly server: string
  readonly ca: Buffer
}): Promise<RecordingProxy> => {
  const key = join(work, "proxy.key")
  const cert = join(work, "proxy.crt")
  await must("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "1",
    "-subj",
    "/CN=nth-rbac-test-proxy",
    "-addext",
    "subjectAltName=IP:127.0.0.1"
  ])
  const target = new URL(upstream.server)
  const agent = new https.Agent({ ca: upstream.ca, keepAlive: true, maxSockets: 256 })
  const log = new Map<string, Array<Request>>()
  const server = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    const url = new URL(req.url ?? "/", "https://proxy")
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? ""
    const at = Date.now()
    const record = (status: number) => {
      const requests = log.get(token) ?? []
      requests.push({
        at,
        method: req.method ?? "GET",
        path: url.pathname,
        query: url.search,
        status,
        needs: permissionOf(req.method ?? "GET", url)
      })
      log.set(token, requests)
    }
    const forwarded = https.request(
      {
        protocol: "https:",
        hostname: target.hostname,
        port: target.port,
        path: req.url,
        method: req.method,
        headers: { ...req.headers, host: target.host },
        agent
      },
      (answer) => {
        record(answer.statusCode ?? 0)
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
        answer.on("error", () => res.destroy())
      }
    )
    forwarded.on("error", () => {
      if (!res.headersSent) {
        record(502)
        res.writeHead(502)
      }
      res.end()
    })
    // The program hung up (a watch it stopped): so does the proxy, upstream.
    res.on("close", () => forwarded.destroy())
    req.pipe(forwarded)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `https://127.0.0.1:${port}`,
    ca: readFileSync(cert),
    requestsOf: (token) => log.get(token) ?? [],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
        agent.destroy()
      })
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The IMDS emulator
// ---------------------------------------------------------------------------------------------------------------

/** Starts an IMDS emulator (@nth/imds-mock) describing a Spot instance. */
export const startImds = (options: {
  readonly instanceId: string
  readonly availabilityZone: string
  readonly localHostname: string
}) => ImdsMock.start({ ...options, instanceLifeCycle: "spot" })

export type Imds = Awaited<ReturnType<typeof startImds>>
