/**
 * The probes and metrics servers (`/healthz` as the Go handler answers it, `/metrics` in Prometheus text), on
 * `node:http`, as scoped resources: they stop listening when the program ends.
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import { Effect, type Scope } from "effect"
import type { Registry } from "./Metrics.ts"

/**
 * @category constructors
 * @since 0.1.0
 */
export const serve = (options: {
  readonly port: number
  readonly host?: string
  readonly routes: Readonly<Record<string, () => { contentType: string; body: string }>>
}): Effect.Effect<{ readonly port: number }, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ port: number; close: () => Promise<void> }, Error>((resume) => {
      const server = createServer((request, response) => {
        const route = options.routes[(request.url ?? "/").split("?")[0] ?? "/"]
        if (route === undefined || request.method !== "GET") {
          response.writeHead(404).end()
          return
        }
        const { contentType, body } = route()
        response.writeHead(200, { "content-type": contentType }).end(body)
      })
      server.keepAliveTimeout = 5000
      server.once("error", (error) => resume(Effect.fail(error)))
      server.listen(options.port, options.host ?? "0.0.0.0", () => {
        const address = server.address()
        resume(
          Effect.succeed({
            port: typeof address === "object" && address ? address.port : options.port,
            close: () => new Promise<void>((done) => server.close(() => done()))
          })
        )
      })
    }),
    (server) => Effect.promise(() => server.close())
  ).pipe(Effect.map(({ port }) => ({ port })))

/**
 * The route table of the probes server (`{"health":"OK"}`, as the Go handler) and the metrics server.
 *
 * @category constructors
 * @since 0.1.0
 */
export const routes = (options: {
  readonly probesPath?: string
  readonly metrics?: Registry
}): Record<string, () => { contentType: string; body: string }> => ({
  ...(options.probesPath
    ? { [options.probesPath]: () => ({ contentType: "application/json", body: '{"health":"OK"}' }) }
    : {}),
  ...(options.metrics
    ? { "/metrics": () => ({ contentType: "text/plain; version=0.0.4", body: options.metrics!.render() }) }
    : {})
})
