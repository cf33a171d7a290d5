/**
 * The probes and metrics servers (`/healthz` as the Go handler answers it, `/metrics` in Prometheus text), on
 * `node:http`, as scoped resources: they stop listening when the program ends.
 *
 * @since 0.2.0
 */
import { createServer } from "node:http"
import { Duration, Effect, Schedule, Schema, type Scope } from "effect"
import * as Readiness from "./Readiness.ts"

/**
 * The server could not listen: its port stayed in use past the retries, or the address was refused.
 *
 * @category errors
 * @since 0.2.0
 */
export class ServerBindFailed extends Schema.TaggedError<ServerBindFailed>()("ServerBindFailed", {
  port: Schema.Number,
  message: Schema.String
}) {}

/**
 * What a route answers: a body and its type, with a status (200 unless said).
 *
 * @category models
 * @since 0.3.0
 */
export interface Answer {
  readonly contentType: string
  readonly body: string
  readonly status?: number | undefined
}

type Routes = Readonly<Record<string, () => Answer>>

const listen = (port: number, host: string, routes: Routes) =>
  Effect.callback<{ port: number; close: () => Promise<void> }, NodeJS.ErrnoException>((resume) => {
    const server = createServer((request, response) => {
      const route = routes[(request.url ?? "/").split("?")[0] ?? "/"]
      if (route === undefined || request.method !== "GET") {
        response.writeHead(404).end()
        return
      }
      const { contentType, body, status } = route()
      response.writeHead(status ?? 200, { "content-type": contentType }).end(body)
    })
    server.keepAliveTimeout = 5000
    server.once("error", (error) => resume(Effect.fail(error)))
    server.listen(port, host, () => {
      const address = server.address()
      resume(
        Effect.succeed({
          port: typeof address === "object" && address ? address.port : port,
          close: () => new Promise<void>((done) => server.close(() => done()))
        })
      )
    })
  })

/**
 * Listens on `port` (all interfaces by default, as the Go handler's servers) until the scope ends. A port in use
 * is tried again with a growing delay (250 ms up to 5 s) for `bindTimeout` (default 60 s): with host networking,
 * the pod being replaced in a rollout holds the port for a while. Then, or at once for any other error, it fails
 * with a {@link ServerBindFailed} whose message names the port.
 *
 * @category constructors
 * @since 0.2.0
 */
export const serve = (options: {
  readonly port: number
  readonly host?: string
  readonly routes: Routes
  readonly bindTimeout?: Duration.Input
}): Effect.Effect<{ readonly port: number }, ServerBindFailed, Scope.Scope> => {
  const host = options.host ?? "0.0.0.0"
  const bindTimeout = options.bindTimeout ?? "60 seconds"
  return Effect.acquireRelease(
    listen(options.port, host, options.routes).pipe(
      Effect.tapError((error) =>
        error.code === "EADDRINUSE"
          ? Effect.logWarning(`port ${options.port} is in use; trying again`)
          : Effect.void
      ),
      Effect.retry({
        schedule: Schedule.min([Schedule.exponential("250 millis"), Schedule.spaced("5 seconds")]).pipe(
          Schedule.upTo({ duration: bindTimeout })
        ),
        while: (error) => error.code === "EADDRINUSE"
      }),
      Effect.mapError(
        (error) =>
          new ServerBindFailed({
            port: options.port,
            message:
              error.code === "EADDRINUSE"
                ? `port ${options.port} is still in use after ${Duration.format(Duration.fromInputUnsafe(bindTimeout))} of retries`
                : `cannot listen on ${host}:${options.port}: ${error.message}`
          })
      )
    ),
    (server) => Effect.promise(() => server.close())
  ).pipe(Effect.map(({ port }) => ({ port })))
}

/**
 * The path of the readiness probe, beside the liveness path the Go handler's `PROBES_SERVER_ENDPOINT` names.
 *
 * @category constants
 * @since 0.3.0
 */
export const readinessPath = "/readyz"

/**
 * The route table of the probes server (liveness: `{"health":"OK"}`, as the Go handler; readiness at
 * {@link readinessPath}: 200 when every dependency is ready, else 503, with each dependency's health in JSON) and
 * of the metrics server.
 *
 * @category constructors
 * @since 0.2.0
 */
export const routes = (options: {
  readonly probesPath?: string
  readonly readiness?: Readiness.Checks
  readonly metrics?: { readonly render: () => string }
}): Record<string, () => Answer> => ({
  ...(options.probesPath
    ? { [options.probesPath]: () => ({ contentType: "application/json", body: '{"health":"OK"}' }) }
    : {}),
  ...(options.probesPath && options.readiness && options.probesPath !== readinessPath
    ? {
        [readinessPath]: () => {
          const report = Readiness.report(options.readiness!)
          return {
            contentType: "application/json",
            status: report.ready ? 200 : 503,
            body: JSON.stringify(report)
          }
        }
      }
    : {}),
  ...(options.metrics
    ? { "/metrics": () => ({ contentType: "text/plain; version=0.0.4", body: options.metrics!.render() }) }
    : {})
})
