/**
 * A fault-injecting proxy in front of the test bed's API server, for any test: a program given its kubeconfig
 * talks to the real API server (RBAC, admission, watches and all) through it, and the test decides at run time
 * what goes wrong, per verb and path:
 *
 * - `status`: an answer of the test's choosing instead of the API server's (429 with `Retry-After`, 500, 503, a
 *   409 conflict), as a Kubernetes `Status` object;
 * - `delay`: the request reaches the API server late;
 * - `reset`: the connection is destroyed before any answer;
 * - `cutWatch`: a watch (or any streamed answer) is cut off after a while, mid-stream;
 * - `outage(ms)`: nothing listens for a while (connections refused), then the proxy listens again on the same port.
 *
 * Each rule applies to the requests it matches (`method`, `path` as a string prefix or a RegExp on the path and
 * query), the first `times` of them (default: all), and the first matching rule wins. Every request is logged with
 * what was done to it: a test counts what a program really sent (evictions by pod, list and watch calls) from
 * the log, not from the program's own word.
 *
 * The proxy serves https with a certificate of its own (`tls.ts`) and forwards with the caller's credentials
 * (the test bed's token), so the API server authorizes each request as the program's.
 */
import { writeFileSync } from "node:fs"
import type * as http from "node:http"
import * as https from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { KubeConfig } from "@kubernetes/client-node"
import * as OutageServer from "./outageServer.ts"
import * as Tls from "./tls.ts"

export type Fault =
  | {
      readonly _tag: "status"
      readonly status: number
      /** Sent as `Retry-After`, in seconds. */
      readonly retryAfterSeconds?: number
      readonly reason?: string
    }
  | { readonly _tag: "delay"; readonly ms: number }
  | { readonly _tag: "reset" }
  | { readonly _tag: "cutWatch"; readonly afterMs: number }

export interface Rule {
  readonly method?: string
  /** A prefix of the path (`/api/v1/namespaces/`) or a RegExp tried on the path and query. */
  readonly path?: string | RegExp
  readonly fault: Fault
  /** How many matching requests it applies to; default every one. */
  readonly times?: number
}

export interface Logged {
  readonly method: string
  /** The path and query. */
  readonly path: string
  /** The status the caller got (`0`: none, the connection was reset or cut before the answer). */
  readonly status: number
  /** What the proxy did: `forwarded`, the fault's tag, or `outage` (the start of one: no request). */
  readonly action: "forwarded" | Fault["_tag"] | "outage"
  /** For an eviction: the pod's namespace/name, and the UID its preconditions name when they do. */
  readonly eviction?: { readonly pod: string; readonly uid: string | undefined }
  readonly at: number
}

export interface ApiFaultProxy {
  /** `https://127.0.0.1:<port>` */
  readonly url: string
  /** A kubeconfig naming the proxy (its certificate authority, the test bed's token): give it as KUBECONFIG. */
  readonly kubeconfig: string
  /** Adds a rule; returns a function that removes it. */
  readonly inject: (rule: Rule) => () => void
  /** Removes every rule. */
  readonly clear: () => void
  /** Refuses connections for `ms` (closing those open), then listens again. Resolves when it listens again. */
  readonly outage: (ms: number) => Promise<void>
  readonly log: Array<Logged>
  /** The evictions the API server accepted (status 201), by pod. */
  readonly acceptedEvictions: () => ReadonlyArray<string>
  readonly close: () => Promise<void>
}

interface ActiveRule extends Rule {
  used: number
}

const statusBody = (status: number, reason: string | undefined) =>
  JSON.stringify({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: `injected by the test bed's fault proxy (${status})`,
    reason: reason ?? (status === 429 ? "TooManyRequests" : status === 409 ? "Conflict" : "InternalError"),
    code: status
  })

const evictionOf = (path: string, body: string): Logged["eviction"] => {
  const match = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/?]+)\/eviction/.exec(path)
  if (match === null) return undefined
  let uid: string | undefined
  try {
    uid = (JSON.parse(body) as { deleteOptions?: { preconditions?: { uid?: string } } }).deleteOptions
      ?.preconditions?.uid
  } catch {}
  return { pod: `${match[1]}/${match[2]}`, uid }
}

/** Starts a proxy in front of the API server `kubeconfigFile` names (the test bed's). */
export const start = async (kubeconfigFile: string): Promise<ApiFaultProxy> => {
  const upstreamConfig = new KubeConfig()
  upstreamConfig.loadFromFile(kubeconfigFile)
  const cluster = upstreamConfig.getCurrentCluster()
  if (cluster === null) throw new Error(`${kubeconfigFile} names no cluster`)
  const upstream = new URL(cluster.server)
  const upstreamCa = cluster.caData === undefined ? undefined : Buffer.from(cluster.caData, "base64")
  const agent = new https.Agent({ keepAlive: true, ...(upstreamCa === undefined ? {} : { ca: upstreamCa }) })

  const rules: Array<ActiveRule> = []
  const log: Array<Logged> = []
  const matching = (method: string, path: string): ActiveRule | undefined =>
    rules.find(
      (rule) =>
        (rule.times === undefined || rule.used < rule.times) &&
        (rule.method === undefined || rule.method.toUpperCase() === method) &&
        (rule.path === undefined ||
          (typeof rule.path === "string" ? path.startsWith(rule.path) : rule.path.test(path)))
    )

  const forward = (
    request: http.IncomingMessage,
    response: http.ServerResponse,
    body: Buffer,
    entry: Omit<Logged, "status" | "action" | "at">,
    action: "forwarded" | "delay" | "cutWatch",
    cutAfterMs: number | undefined
  ) => {
    const at = Date.now()
    const headers = { ...request.headers, host: upstream.host }
    const outgoing = https.request(
      {
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers,
        agent
      },
      (answer) => {
        answered = true
        log.push({
          ...entry,
          status: answer.statusCode ?? 0,
          action,
          at
        })
        // The caller may be gone (a program killed mid-call): the API server's answer is logged all the same, so
        // an eviction it accepted is counted.
        if (response.destroyed) {
          answer.destroy()
          return
        }
        response.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(response)
        if (cutAfterMs !== undefined) {
          setTimeout(() => {
            answer.destroy()
            response.destroy()
          }, cutAfterMs)
        }
      }
    )
    let answered = false
    outgoing.on("error", () => {
      if (response.destroyed) return
      if (!response.headersSent) response.writeHead(502).end()
      else response.destroy()
    })
    // A caller gone before the answer does not cancel the call (it reached the server); one gone during an
    // answer (a watch) ends it.
    response.on("close", () => {
      if (answered) outgoing.destroy()
    })
    outgoing.end(body)
  }

  const handle = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const method = request.method ?? "GET"
      const path = request.url ?? "/"
      const body = Buffer.concat(chunks)
      const eviction = method === "POST" ? evictionOf(path, body.toString("utf8")) : undefined
      const entry = { method, path, ...(eviction === undefined ? {} : { eviction }) }
      const rule = matching(method, path)
      if (rule !== undefined) rule.used += 1
      const fault = rule?.fault
      if (fault === undefined) return forward(request, response, body, entry, "forwarded", undefined)
      switch (fault._tag) {
        case "status":
          log.push({ ...entry, status: fault.status, action: "status", at: Date.now() })
          response
            .writeHead(fault.status, {
              "content-type": "application/json",
              ...(fault.retryAfterSeconds === undefined
                ? {}
                : { "retry-after": String(fault.retryAfterSeconds) })
            })
            .end(statusBody(fault.status, fault.reason))
          return
        case "delay":
          setTimeout(() => forward(request, response, body, entry, "delay", undefined), fault.ms)
          return
        case "reset":
          log.push({ ...entry, status: 0, action: "reset", at: Date.now() })
          request.socket.destroy()
          return
        case "cutWatch":
          return forward(request, response, body, entry, "cutWatch", fault.afterMs)
      }
    })
  }

  const certificate = Tls.make("nth-api-fault-proxy", ["IP:127.0.0.1", "DNS:localhost"])
  const server = await OutageServer.start(() =>
    https.createServer({ key: certificate.key, cert: certificate.cert }, handle)
  )
  const { port } = server
  const url = `https://127.0.0.1:${port}`

  const proxied = new KubeConfig()
  proxied.loadFromFile(kubeconfigFile)
  const kubeconfig = join(tmpdir(), `nth-api-fault-proxy-${port}.kubeconfig`)
  const user = proxied.getCurrentUser()
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "nth-fault-proxy",
          cluster: {
            server: url,
            "certificate-authority-data": Buffer.from(certificate.cert).toString("base64")
          }
        }
      ],
      users: [{ name: "nth-fault-proxy", user: { token: user?.token } }],
      contexts: [
        { name: "nth-fault-proxy", context: { cluster: "nth-fault-proxy", user: "nth-fault-proxy" } }
      ],
      "current-context": "nth-fault-proxy"
    })
  )

  return {
    url,
    kubeconfig,
    inject: (rule) => {
      const active: ActiveRule = { ...rule, used: 0 }
      rules.push(active)
      return () => {
        const index = rules.indexOf(active)
        if (index >= 0) rules.splice(index, 1)
      }
    },
    clear: () => {
      rules.length = 0
    },
    outage: (ms) =>
      server.outage(ms, () =>
        log.push({ method: "-", path: "-", status: 0, action: "outage", at: Date.now() })
      ),
    log,
    acceptedEvictions: () =>
      log.flatMap((entry) =>
        entry.eviction !== undefined && entry.status === 201 ? [entry.eviction.pod] : []
      ),
    close: async () => {
      await server.close()
      agent.destroy()
    }
  }
}
