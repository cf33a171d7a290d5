/**
 * Benchmark instrumentation for queue.bench.ts: a counting forwarder in front of moto (AWS requests by
 * operation), the API server's own request counters (`apiserver_request_total` of `/metrics`), and a watch of
 * the benchmark's nodes that tells when every one is cordoned and tainted.
 */
import { readFileSync } from "node:fs"
import { createServer, Agent as HttpAgent, request as httpRequest } from "node:http"
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from "node:https"
import type { AddressInfo } from "node:net"
import { type KubeConfig, type V1Node, Watch } from "@kubernetes/client-node"

// ---------------------------------------------------------------------------------------------------------------
// AWS: a counting forwarder
// ---------------------------------------------------------------------------------------------------------------

/** One request through the forwarder. */
export interface AwsCall {
  readonly operation: string
  /** The client's tag: `replica<n>` for an endpoint `<url>/replica<n>` (see {@link AwsCounter.url}), else `""`. */
  readonly client: string
  /** `Date.now()` when the request arrived and when its answer ended. */
  readonly startedAt: number
  endedAt: number
  /** Messages in a ReceiveMessage answer. */
  messages: number
}

export interface AwsCounter {
  /**
   * The forwarder's URL: give it to the program as AWS_ENDPOINT, or `<url>/replica<n>` to tell the calls of
   * several clients apart (that first segment is removed from the path before forwarding).
   */
  readonly url: string
  /** Requests since the last reset, by `service:Operation` (`sqs:ReceiveMessage`, `ec2:DescribeInstances`). */
  readonly counts: () => ReadonlyMap<string, number>
  /** Every request since the last reset (answered or not), in arrival order. */
  readonly calls: () => ReadonlyArray<AwsCall>
  readonly reset: () => void
  readonly close: () => Promise<void>
}

/**
 * An HTTP forwarder to `target` that counts each request by its operation: the `X-Amz-Target` header of the
 * JSON protocols (SQS: `AmazonSQS.ReceiveMessage`), else the `Action` parameter of the query protocols (EC2,
 * Auto Scaling), from the form body or the query string, and keeps when each was made and answered (and how
 * many messages a ReceiveMessage got). Responses are streamed back (long polls included), and a request its
 * client aborts is aborted upstream.
 */
export const startAwsCounter = async (target: string): Promise<AwsCounter> => {
  const upstream = new URL(target)
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 512 })
  let counts = new Map<string, number>()
  let calls: Array<AwsCall> = []
  const server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const body = Buffer.concat(chunks)
      const amzTarget = req.headers["x-amz-target"]
      let operation: string
      if (typeof amzTarget === "string") {
        const [prefix = "", name = "?"] = amzTarget.split(".")
        operation = `${prefix === "AmazonSQS" ? "sqs" : prefix}:${name}`
      } else {
        const form = new URLSearchParams(body.toString())
        const query = new URL(req.url ?? "/", "http://x").searchParams
        const action = form.get("Action") ?? query.get("Action") ?? "?"
        const version = form.get("Version") ?? query.get("Version") ?? ""
        // EC2's API version is 2016-11-15; Auto Scaling's 2011-01-01.
        const service = version === "2016-11-15" ? "ec2" : version === "2011-01-01" ? "autoscaling" : "aws"
        operation = `${service}:${action}`
      }
      counts.set(operation, (counts.get(operation) ?? 0) + 1)
      const tagged = /^\/(replica\d+)(\/.*)?$/.exec(req.url ?? "/")
      const client = tagged?.[1] ?? ""
      const path = tagged ? (tagged[2] ?? "/") : (req.url ?? "/")
      const call: AwsCall = { operation, client, startedAt: Date.now(), endedAt: Number.NaN, messages: 0 }
      calls.push(call)
      const forwarded = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path,
          headers: req.headers,
          agent
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers)
          const received = operation === "sqs:ReceiveMessage" ? ([] as Array<Buffer>) : undefined
          answer.on("data", (chunk: Buffer) => received?.push(chunk))
          answer.on("end", () => {
            call.endedAt = Date.now()
            if (received) {
              try {
                const parsed = JSON.parse(Buffer.concat(received).toString()) as { Messages?: Array<unknown> }
                call.messages = parsed.Messages?.length ?? 0
              } catch {
                // Not JSON (an error page): no messages.
              }
            }
          })
          answer.pipe(res)
        }
      )
      forwarded.on("error", () => res.destroy())
      res.on("close", () => {
        if (!res.writableFinished) forwarded.destroy()
      })
      forwarded.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    counts: () => counts,
    calls: () => calls,
    reset: () => {
      counts = new Map()
      calls = []
    },
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      agent.destroy()
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes: the API server's request counters
// ---------------------------------------------------------------------------------------------------------------

/**
 * `apiserver_request_total` summed by `VERB group/resource[/subresource]` (`PATCH nodes`, `PATCH nodes/status`,
 * `PUT coordination.k8s.io/leases`, `GET /metrics` for non-resource requests).
 */
export const apiServerRequests = async (kubeConfig: KubeConfig): Promise<Map<string, number>> => {
  const cluster = kubeConfig.getCurrentCluster()
  if (!cluster) throw new Error("the kubeconfig names no cluster")
  const url = new URL("/metrics", cluster.server)
  const options: RequestOptions = { method: "GET" }
  await kubeConfig.applyToHTTPSOptions(options)
  const text = await new Promise<string>((resolve, reject) => {
    const req = httpsRequest(url, options, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("end", () =>
        res.statusCode === 200
          ? resolve(Buffer.concat(chunks).toString())
          : reject(new Error(`GET /metrics: ${res.statusCode}`))
      )
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end()
  })
  const totals = new Map<string, number>()
  for (const line of text.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue
    const close = line.lastIndexOf("}")
    const labels = Object.fromEntries(
      [...line.slice(line.indexOf("{") + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [
        m[1],
        m[2]
      ])
    )
    const value = Number(line.slice(close + 1).trim())
    const what = labels.resource
      ? `${labels.group ? `${labels.group}/` : ""}${labels.resource}${labels.subresource ? `/${labels.subresource}` : ""}`
      : "(non-resource)"
    const key = `${labels.verb} ${what}`
    totals.set(key, (totals.get(key) ?? 0) + value)
  }
  return totals
}

/** `after - before`, per key, without the keys that did not change. */
export const difference = (
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>
): Map<string, number> => {
  const out = new Map<string, number>()
  for (const [key, value] of after) {
    const delta = value - (before.get(key) ?? 0)
    if (delta !== 0) out.set(key, delta)
  }
  return out
}

/** Sends one request to the API server; resolves with the status and body. */
const kubeRequest = (
  server: URL,
  options: RequestOptions,
  path: string,
  body?: { readonly contentType: string; readonly data: string }
) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpsRequest(
      new URL(path, server),
      {
        ...options,
        method: body ? "PATCH" : "GET",
        headers: {
          ...options.headers,
          accept: "application/json",
          ...(body ? { "content-type": body.contentType } : {})
        }
      },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }))
        res.on("error", reject)
      }
    )
    req.on("error", reject)
    req.end(body?.data)
  })

/**
 * The API server's ceiling for node writes: each node of `names` written once (a label set), `concurrency` at
 * a time over one keep-alive agent of that many sockets (as nth's client), with `readFirst` a GET and a JSON
 * Patch pinned to the resourceVersion read (as nth's TaintManager writes), else one merge PATCH. Returns the
 * seconds it took.
 */
export const kubeWriteCeiling = async (
  kubeConfig: KubeConfig,
  names: ReadonlyArray<string>,
  options: { readonly concurrency: number; readonly readFirst: boolean; readonly label: string }
): Promise<number> => {
  const cluster = kubeConfig.getCurrentCluster()
  if (!cluster) throw new Error("the kubeconfig names no cluster")
  const server = new URL(cluster.server)
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: options.concurrency })
  const base: RequestOptions = { agent }
  await kubeConfig.applyToHTTPSOptions(base)
  base.agent = agent
  const labelPath = `/metadata/labels/${options.label.replaceAll("~", "~0").replaceAll("/", "~1")}`
  const from = performance.now()
  let next = 0
  let value = 0
  const write = async (name: string) => {
    const path = `/api/v1/nodes/${name}`
    value += 1
    if (options.readFirst) {
      const read = await kubeRequest(server, base, path)
      if (read.status !== 200) throw new Error(`GET ${path}: ${read.status}`)
      const resourceVersion = (JSON.parse(read.body) as V1Node).metadata?.resourceVersion ?? ""
      const patched = await kubeRequest(server, base, path, {
        contentType: "application/json-patch+json",
        data: JSON.stringify([
          { op: "replace", path: "/metadata/resourceVersion", value: resourceVersion },
          { op: "add", path: labelPath, value: String(value) }
        ])
      })
      // A conflict (KWOK wrote the node in between) is a write the server did: count it as one.
      if (patched.status !== 200 && patched.status !== 409)
        throw new Error(`PATCH ${path}: ${patched.status}`)
    } else {
      const patched = await kubeRequest(server, base, path, {
        contentType: "application/merge-patch+json",
        data: JSON.stringify({ metadata: { labels: { [options.label]: String(value) } } })
      })
      if (patched.status !== 200) throw new Error(`PATCH ${path}: ${patched.status}`)
    }
  }
  try {
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (next < names.length) await write(names[next++]!)
      })
    )
    return (performance.now() - from) / 1000
  } finally {
    agent.destroy()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Nodes: one watch
// ---------------------------------------------------------------------------------------------------------------

export interface NodeWatch {
  /** Nodes seen and not deleted. */
  readonly count: () => number
  readonly ready: () => number
  /** Nodes that are unschedulable and carry the taint. */
  readonly done: () => number
  /** Resolves once `predicate` holds (checked on every event), with `Date.now()` then. */
  readonly until: (what: string, predicate: () => boolean, timeoutMs: number) => Promise<number>
  readonly close: () => void
}

const isReady = (node: V1Node) =>
  node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true

/**
 * Watches the nodes of `labelSelector` (re-opened if the server ends it) and counts those Ready and those
 * cordoned with the taint `taintKey`.
 */
export const watchNodes = async (
  kubeConfig: KubeConfig,
  labelSelector: string,
  taintKey: string
): Promise<NodeWatch> => {
  const nodes = new Map<string, { ready: boolean; done: boolean }>()
  let ready = 0
  let done = 0
  const waiters = new Set<() => void>()
  let closed = false
  let controller: AbortController | undefined
  const onEvent = (type: string, node: V1Node) => {
    const name = node.metadata?.name
    if (name === undefined) return
    const before = nodes.get(name)
    if (before) {
      ready -= before.ready ? 1 : 0
      done -= before.done ? 1 : 0
    }
    if (type === "DELETED") nodes.delete(name)
    else {
      const now = {
        ready: isReady(node),
        done: node.spec?.unschedulable === true && node.spec.taints?.some((t) => t.key === taintKey) === true
      }
      nodes.set(name, now)
      ready += now.ready ? 1 : 0
      done += now.done ? 1 : 0
    }
    for (const waiter of waiters) waiter()
  }
  const open = async (): Promise<void> => {
    controller = await new Watch(kubeConfig).watch("/api/v1/nodes", { labelSelector }, onEvent, () => {
      // Ended by the server (or an error): re-open; the initial ADDED events restate every node.
      if (!closed) setTimeout(() => void open(), 100)
    })
  }
  await open()
  return {
    count: () => nodes.size,
    ready: () => ready,
    done: () => done,
    until: (what, predicate, timeoutMs) =>
      new Promise<number>((resolve, reject) => {
        const check = () => {
          if (!predicate()) return
          waiters.delete(check)
          clearTimeout(timer)
          resolve(Date.now())
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      }),
    close: () => {
      closed = true
      controller?.abort()
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// CPU
// ---------------------------------------------------------------------------------------------------------------

/** CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`; NaN when it is gone. */
export const cpuSeconds = (pid: number): number => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // The fields after `(comm)`: state is the 3rd field of the line, utime the 14th and stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / clockTicks
  } catch {
    return Number.NaN
  }
}
const clockTicks = 100
