/**
 * A minimal forward proxy for tests: `http:` requests in absolute form are forwarded, `CONNECT` is tunnelled, and
 * each one is recorded with the AWS operation it carries (`X-Amz-Target`'s, or the `Action` of a query-protocol
 * body).
 *
 * `hosts` maps the `host:port` a request names to where the proxy connects instead: moto listens on 127.0.0.1,
 * which nth (as the Go handler) never sends through a proxy, so tests name it by a host only this proxy knows
 * (`moto.nth-proxy.test`): a call that reaches moto can only have come through here. Any other host is refused
 * (502), so nothing leaves the machine.
 */
import * as http from "node:http"
import * as net from "node:net"

export interface Recorded {
  /** `GET`, `POST`, … or `CONNECT`. */
  readonly method: string
  /** The `host:port` asked for. */
  readonly target: string
  /** `AmazonSQS.ReceiveMessage` → `ReceiveMessage`; `Action=DescribeInstances` → `DescribeInstances`. */
  readonly operation: string | undefined
  readonly proxyAuthorization: string | undefined
}

export interface ForwardProxy {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  readonly requests: Array<Recorded>
  /** Connections accepted so far (keep-alive shows as fewer connections than requests). */
  readonly connections: () => number
  readonly operations: () => ReadonlyArray<string>
  readonly close: () => Promise<void>
}

/** The AWS operation a request carries: `X-Amz-Target`'s (JSON protocol), or the `Action` of a query body. */
export const operationOf = (headers: http.IncomingHttpHeaders, body: string): string | undefined => {
  const target = headers["x-amz-target"]
  if (typeof target === "string") return target.slice(target.lastIndexOf(".") + 1)
  return /(?:^|&)Action=([A-Za-z]+)/.exec(body)?.[1]
}

const splitTarget = (target: string): { host: string; port: number } => {
  const colon = target.lastIndexOf(":")
  return { host: target.slice(0, colon), port: Number(target.slice(colon + 1)) }
}

export const start = async (hosts: Readonly<Record<string, string>>): Promise<ForwardProxy> => {
  const requests: Array<Recorded> = []
  const sockets = new Set<net.Socket>()
  let connections = 0
  const server = http.createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const body = Buffer.concat(chunks)
      let url: URL
      try {
        url = new URL(request.url ?? "")
      } catch {
        response.writeHead(400).end("absolute-form request expected")
        return
      }
      const target = `${url.hostname}:${url.port || "80"}`
      requests.push({
        method: request.method ?? "",
        target,
        operation: operationOf(request.headers, body.toString("utf8")),
        proxyAuthorization: request.headers["proxy-authorization"]
      })
      const to = hosts[target]
      if (to === undefined) {
        response.writeHead(502).end(`not a host of this proxy: ${target}`)
        return
      }
      const { "proxy-authorization": _a, "proxy-connection": _c, ...headers } = request.headers
      const upstream = http.request(
        { ...splitTarget(to), method: request.method, path: `${url.pathname}${url.search}`, headers },
        (answer) => {
          // Hop-by-hop: moto's `Connection: close` is the upstream connection's, not the client's.
          const { connection: _connection, "keep-alive": _keepAlive, ...answerHeaders } = answer.headers
          response.writeHead(answer.statusCode ?? 502, answerHeaders)
          answer.pipe(response)
        }
      )
      upstream.on("error", (error) => response.writeHead(502).end(String(error)))
      upstream.end(body)
    })
  })
  server.on("connect", (request: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const target = request.url ?? ""
    requests.push({
      method: "CONNECT",
      target,
      operation: undefined,
      proxyAuthorization: request.headers["proxy-authorization"]
    })
    const to = hosts[target]
    if (to === undefined) {
      client.end("HTTP/1.1 502 Bad Gateway\r\n\r\n")
      return
    }
    const upstream = net.connect(splitTarget(to), () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
      upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    upstream.on("error", () => client.destroy())
    upstream.on("close", () => client.destroy())
    client.on("error", () => upstream.destroy())
    client.on("close", () => upstream.destroy())
  })
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket)
    connections += 1
    socket.on("close", () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    connections: () => connections,
    operations: () => requests.flatMap((r) => (r.operation === undefined ? [] : [r.operation])),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}
