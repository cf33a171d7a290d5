/**
 * One POST, on Node's own http(s) agents: they carry out an HTTP proxy (`proxyEnv`, Node ≥ 22.21 or ≥ 24.5, hence the package's engines: absolute-form
 * requests for `http:` URLs, a CONNECT tunnel for `https:` ones), which `fetch` cannot be given without undici's
 * own agent as a dependency.
 */
import * as http from "node:http"
import * as https from "node:https"

/** What came back. */
export interface Response {
  readonly status: number
  /** `Retry-After` in milliseconds, when the receiver sent one in seconds. */
  readonly retryAfterMs: number | undefined
}

export interface Agents {
  readonly http: http.Agent
  readonly https: https.Agent
  readonly destroy: () => void
}

/**
 * The agents of every request: keep-alive, and the proxy when one is set. The Go handler sends every request
 * through `WEBHOOK_PROXY` when it is set and never through `HTTP(S)_PROXY`: so the agents are given only it.
 */
export const makeAgents = (proxy: URL | undefined): Agents => {
  const proxyEnv =
    proxy === undefined ? undefined : { HTTP_PROXY: proxy.href, HTTPS_PROXY: proxy.href, NO_PROXY: "" }
  const options = { keepAlive: true, maxSockets: 8, ...(proxyEnv === undefined ? {} : { proxyEnv }) }
  const agents = { http: new http.Agent(options), https: new https.Agent(options) }
  return {
    ...agents,
    destroy: () => {
      agents.http.destroy()
      agents.https.destroy()
    }
  }
}

/** POSTs `body` to `url`; rejects on a connection error, or when `signal` aborts (the timeout). */
export const post = (
  agents: Agents,
  url: URL,
  headers: Readonly<Record<string, string>>,
  body: string,
  signal: AbortSignal
): Promise<Response> =>
  new Promise((resolve, reject) => {
    const secure = url.protocol === "https:"
    const request = (secure ? https : http).request(
      url,
      {
        method: "POST",
        agent: secure ? agents.https : agents.http,
        headers: { ...headers, "Content-Length": Buffer.byteLength(body) },
        signal
      },
      (response) => {
        // The body is of no use; read it so the connection goes back to the pool.
        response.resume()
        response.on("end", () => {
          const retryAfter = Number(response.headers["retry-after"])
          resolve({
            status: response.statusCode ?? 0,
            retryAfterMs: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined
          })
        })
        response.on("error", reject)
      }
    )
    request.on("error", reject)
    request.end(body)
  })
