/**
 * The HTTP underneath `KubeClient`: node:https with one keep-alive agent, JSON in and out, newline-delimited
 * JSON for watches. Kept free of client-node at run time: its generated API and model serializer cost about
 * 80 MB of memory in every process that loads them, which a DaemonSet pod on every node cannot afford.
 */
import { readFileSync } from "node:fs"
import * as http from "node:http"
import * as https from "node:https"

/** Where and how to reach the API server. `authorize` is asked before each request (tokens rotate). */
export interface Connection {
  readonly server: URL
  readonly agent: http.Agent
  readonly authorize: () => Promise<Readonly<Record<string, string>>>
}

/** The part of client-node's `KubeConfig` that nth uses: enough to build a connection from one. */
export interface KubeConfigLike {
  getCurrentCluster(): {
    readonly server: string
    readonly skipTLSVerify?: boolean
    readonly proxyUrl?: string
  } | null
  applyToHTTPSOptions(options: https.RequestOptions): Promise<void>
}

const agentOptions = { keepAlive: true, keepAliveMsecs: 30_000, maxSockets: 32 }

export const fromKubeConfig = async (kubeConfig: KubeConfigLike): Promise<Connection> => {
  const cluster = kubeConfig.getCurrentCluster()
  if (!cluster) throw new Error("the kubeconfig has no current cluster")
  const server = new URL(cluster.server)
  const tls: https.RequestOptions = {}
  await kubeConfig.applyToHTTPSOptions(tls)
  const agent =
    server.protocol === "https:"
      ? new https.Agent({
          ...agentOptions,
          ...(tls.ca === undefined ? {} : { ca: tls.ca }),
          ...(tls.cert === undefined ? {} : { cert: tls.cert }),
          ...(tls.key === undefined ? {} : { key: tls.key }),
          rejectUnauthorized: tls.rejectUnauthorized ?? !cluster.skipTLSVerify
        })
      : new http.Agent(agentOptions)
  return {
    server,
    agent,
    authorize: async () => {
      // Re-applied per request: exec and token-file authenticators refresh their credentials here.
      const fresh: https.RequestOptions = {}
      await kubeConfig.applyToHTTPSOptions(fresh)
      const headers = (fresh.headers ?? {}) as Record<string, string | Array<string> | number>
      return Object.fromEntries(Object.entries(headers).map(([key, value]) => [key, String(value)]))
    }
  }
}

const serviceAccount = "/var/run/secrets/kubernetes.io/serviceaccount"

/** In a pod: the API server from the service environment, the service account's token (re-read every minute). */
export const inCluster = (): Connection => {
  const host = process.env.KUBERNETES_SERVICE_HOST
  const port = process.env.KUBERNETES_SERVICE_PORT ?? "443"
  if (!host) throw new Error("not in a cluster: KUBERNETES_SERVICE_HOST is not set")
  const server = new URL(`https://${host.includes(":") ? `[${host}]` : host}:${port}`)
  let token = ""
  let readAt = 0
  return {
    server,
    agent: new https.Agent({ ...agentOptions, ca: readFileSync(`${serviceAccount}/ca.crt`) }),
    authorize: async () => {
      if (Date.now() - readAt > 60_000) {
        token = readFileSync(`${serviceAccount}/token`, "utf8").trim()
        readAt = Date.now()
      }
      return { authorization: `Bearer ${token}` }
    }
  }
}

export interface Response {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly text: string
}

/** An HTTP error answer, shaped like client-node's `ApiException` so `KubeError.fromUnknown` reads both. */
export class HttpStatusError extends Error {
  readonly code: number
  readonly body: string
  readonly headers: Record<string, string>
  constructor(code: number, body: string, headers: http.IncomingHttpHeaders) {
    super(`HTTP ${code}`)
    this.code = code
    this.body = body
    this.headers = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)]))
  }
}

const urlFor = (connection: Connection, path: string, query: Readonly<Record<string, unknown>>) => {
  const url = new URL(path, connection.server)
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null) url.searchParams.set(key, String(value))
  }
  return url
}

const send = async (
  connection: Connection,
  options: {
    readonly method: string
    readonly path: string
    readonly query?: Readonly<Record<string, unknown>>
    readonly body?: unknown
    readonly contentType?: string
    readonly signal?: AbortSignal | undefined
  }
) => {
  const url = urlFor(connection, options.path, options.query ?? {})
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body)
  const headers = {
    accept: "application/json",
    "user-agent": "nth",
    ...(payload === undefined
      ? {}
      : {
          "content-type": options.contentType ?? "application/json",
          "content-length": String(Buffer.byteLength(payload))
        }),
    ...(await connection.authorize())
  }
  const transport = url.protocol === "https:" ? https : http
  return new Promise<http.IncomingMessage>((resolve, reject) => {
    const request = transport.request(url, {
      method: options.method,
      headers,
      agent: connection.agent,
      ...(options.signal ? { signal: options.signal } : {})
    })
    request.on("response", resolve)
    request.on("error", reject)
    request.end(payload)
  })
}

export const request = async (
  connection: Connection,
  options: Parameters<typeof send>[1]
): Promise<unknown> => {
  const response = await send(connection, options)
  const chunks: Array<Buffer> = []
  for await (const chunk of response) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString("utf8")
  const status = response.statusCode ?? 0
  if (status < 200 || status > 299) throw new HttpStatusError(status, text, response.headers)
  return text === "" ? undefined : JSON.parse(text)
}

/** A watch: calls `onEvent` for each line; resolves when the server ends the stream. */
export const watch = async (
  connection: Connection,
  options: {
    readonly path: string
    readonly query: Readonly<Record<string, unknown>>
    readonly signal: AbortSignal
    readonly onEvent: (type: string, object: unknown) => void
  }
): Promise<void> => {
  const response = await send(connection, {
    method: "GET",
    path: options.path,
    query: { ...options.query, watch: "true" },
    signal: options.signal
  })
  const status = response.statusCode ?? 0
  if (status !== 200) {
    const chunks: Array<Buffer> = []
    for await (const chunk of response) chunks.push(chunk as Buffer)
    throw new HttpStatusError(status, Buffer.concat(chunks).toString("utf8"), response.headers)
  }
  let buffered = ""
  for await (const chunk of response) {
    buffered += (chunk as Buffer).toString("utf8")
    let newline = buffered.indexOf("\n")
    while (newline >= 0) {
      const line = buffered.slice(0, newline).trim()
      buffered = buffered.slice(newline + 1)
      if (line !== "") {
        const event = JSON.parse(line) as { type: string; object: unknown }
        options.onEvent(event.type, event.object)
      }
      newline = buffered.indexOf("\n")
    }
  }
}
