/**
 * A webhook receiver for tests (a Slack or Chime endpoint's stand-in): records every request, and answers as the
 * test says (a status, or never). With `tls`, it serves https with a certificate made for the occasion
 * (`tls.ts`), for the host `webhook.nth-proxy.test` and 127.0.0.1; a program trusts it through
 * `NODE_EXTRA_CA_CERTS=<certificateFile>`.
 */
import * as http from "node:http"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import * as Tls from "./tls.ts"

export interface Received {
  readonly method: string
  readonly path: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
  /** When it arrived (epoch ms). */
  readonly at: number
}

/** How to answer the `index`-th request (0-based): a status, or `"hang"` (never answer). */
export type Answer = (index: number) => number | "hang"

export interface WebhookReceiver {
  /** `http(s)://127.0.0.1:<port>/hook` */
  readonly url: string
  readonly port: number
  readonly requests: Array<Received>
  /** With `tls`: the certificate to trust. */
  readonly certificateFile: string | undefined
  readonly close: () => Promise<void>
}

/** The name the certificate is made for. */
export const tlsHost = "webhook.nth-proxy.test"

export const start = async (
  options: { readonly answer?: Answer; readonly tls?: boolean } = {}
): Promise<WebhookReceiver> => {
  const requests: Array<Received> = []
  const hanging = new Set<http.ServerResponse>()
  const answer = options.answer ?? (() => 200)
  const handler = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const index = requests.length
      requests.push({
        method: request.method ?? "",
        path: request.url ?? "",
        headers: request.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        at: Date.now()
      })
      const status = answer(index)
      if (status === "hang") hanging.add(response)
      else response.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? "ok" : "no")
    })
  }
  const certificate = options.tls ? Tls.make(tlsHost, [`DNS:${tlsHost}`, "IP:127.0.0.1"]) : undefined
  const server =
    certificate === undefined
      ? http.createServer(handler)
      : https.createServer({ key: certificate.key, cert: certificate.cert }, handler)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `${certificate === undefined ? "http" : "https"}://127.0.0.1:${port}/hook`,
    port,
    requests,
    certificateFile: certificate?.file,
    close: () =>
      new Promise((resolve) => {
        for (const response of hanging) response.destroy()
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
