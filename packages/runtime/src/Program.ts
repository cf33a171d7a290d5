/**
 * How an nth program starts and stops, the same for every program: `--help`, settings read once and checked up
 * front, logging as the settings say, the probes and metrics servers, SIGTERM and SIGINT, and the exit codes
 *
 *   0  stopped by SIGTERM or SIGINT (the kubelet stopping the pod), after in-flight work had its grace
 *   1  failed: one line saying why (a stack trace only for a defect, a bug of nth's)
 *   2  bad settings (a failure tagged `InvalidSettings` or `KubeConfigError`): the message, and a pointer to --help
 *
 * It runs on `@effect/platform-node`'s `NodeRuntime.runMain` (which interrupts the program on SIGTERM and SIGINT)
 * with a teardown of its own: the default one exits 130 on an interrupt, where a pod stopped by the kubelet must
 * exit 0. Measured in the DaemonSet's bundle: +1 kB, no change in resident memory or start-up against the
 * hand-written signal handling it replaced.
 *
 * @since 0.2.0
 */
import { runMain } from "@effect/platform-node/NodeRuntime"
import { Cause, ConfigProvider, Effect, Exit, Layer, Logger, References, type Scope } from "effect"
import * as HttpServer from "./HttpServer.ts"
import type * as Readiness from "./Readiness.ts"

/**
 * How logs are written.
 *
 * @category models
 * @since 0.2.0
 */
export interface Logging {
  /** JSON lines instead of logfmt text (`JSON_LOGGING`). */
  readonly json: boolean
  /** `LOG_LEVEL`. */
  readonly level: "debug" | "info" | "error"
}

/**
 * The logger and minimum level as a layer.
 *
 * @category layers
 * @since 0.2.0
 */
export const logging = (options: Logging): Layer.Layer<never> =>
  Layer.mergeAll(
    Logger.layer([options.json ? Logger.consoleJson : Logger.consoleLogFmt]),
    Layer.succeed(
      References.MinimumLogLevel,
      options.level === "debug" ? "Debug" : options.level === "error" ? "Error" : "Info"
    )
  )

/**
 * The Go handler's probes and metrics servers.
 *
 * @category models
 * @since 0.2.0
 */
export interface Servers {
  /** `ENABLE_PROBES_SERVER`, `PROBES_SERVER_PORT`, `PROBES_SERVER_ENDPOINT`. */
  readonly probes?: { readonly port: number; readonly path: string } | undefined
  /** The dependencies `/readyz` (on the probes server) reports on; without them, no readiness route. */
  readonly readiness?: Readiness.Checks | undefined
  /** `ENABLE_PROMETHEUS_SERVER`, `PROMETHEUS_SERVER_PORT`. */
  readonly metrics?:
    | { readonly port: number; readonly registry: { readonly render: () => string } }
    | undefined
}

/**
 * Serves `/healthz`-style probes and `/metrics` (on one port when both share it) on all interfaces, as the Go
 * handler does, until the scope closes. A port still in use is tried again for 60 s (see `HttpServer.serve`).
 *
 * @category constructors
 * @since 0.2.0
 */
export const serve = (servers: Servers): Effect.Effect<void, HttpServer.ServerBindFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const routes = HttpServer.routes({
      ...(servers.probes ? { probesPath: servers.probes.path } : {}),
      ...(servers.readiness ? { readiness: servers.readiness } : {}),
      ...(servers.metrics ? { metrics: servers.metrics.registry } : {})
    })
    if (servers.probes) yield* HttpServer.serve({ port: servers.probes.port, routes })
    if (servers.metrics && servers.metrics.port !== servers.probes?.port)
      yield* HttpServer.serve({ port: servers.metrics.port, routes })
  })

/**
 * A program.
 *
 * @category models
 * @since 0.2.0
 */
export interface Definition {
  /** The command's name (`nth-daemonset`). */
  readonly name: string
  /** What it is, in a few words, for `--help`. */
  readonly summary: string
  /** The settings' part of `--help`. */
  readonly help: () => string
  /** The program: reads its settings (from the environment, through `Config`) and runs until interrupted. */
  readonly main: Effect.Effect<void, unknown, Scope.Scope>
}

const isTagged = (error: unknown, ...tags: ReadonlyArray<string>): error is { readonly message: string } =>
  typeof error === "object" &&
  error !== null &&
  tags.includes(String((error as { _tag?: unknown })._tag)) &&
  typeof (error as { message?: unknown }).message === "string"

/**
 * The exit code and the message for how the program ended. Only a signal interrupts the program, so an ending
 * made of interruptions alone is a stop.
 *
 * @category getters
 * @since 0.2.0
 */
export const exitOf = (
  name: string,
  exit: Exit.Exit<unknown, unknown>
): { readonly code: 0 | 1 | 2; readonly message?: string } => {
  if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return { code: 0 }
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  const error = failure?._tag === "Fail" ? failure.error : undefined
  if (isTagged(error, "InvalidSettings"))
    return { code: 2, message: `${name}: ${error.message}\nRun with --help to list the settings.` }
  if (isTagged(error, "KubeConfigError"))
    return { code: 2, message: `${name}: invalid settings: KUBECONFIG: ${error.message}` }
  // A failure the program knows (a port that stayed busy, say) is one line; only a defect gets its stack trace.
  if (typeof error === "object" && error !== null && "message" in error)
    return { code: 1, message: `${name}: ${String(error.message)}` }
  return { code: 1, message: `${name}: ${Cause.pretty(exit.cause)}` }
}

/**
 * Runs the program as the process: `--help` / `-h` (in Go's forms) print the help and exit 0; otherwise the program runs with
 * the environment as its `ConfigProvider` until it ends or a SIGTERM/SIGINT interrupts it, and the process exits
 * with the code above.
 *
 * @category running
 * @since 0.2.0
 */
/** Whether the arguments ask for help in any form Go's flag package takes (`-h`, `--help`, `-help=true`, ...). */
const asksForHelp = (args: ReadonlyArray<string>): boolean => {
  const end = args.indexOf("--")
  return (end === -1 ? args : args.slice(0, end)).some((arg) => /^--?(h|help)(=.*)?$/.test(arg))
}

export const run = (definition: Definition): void => {
  if (asksForHelp(process.argv.slice(2))) {
    process.stdout.write(
      `${definition.name}: ${definition.summary}.\n\n` +
        "Settings (environment variables and command-line flags, as the Go handler's; a flag wins over its " +
        `variable):\n${definition.help()}\n\n` +
        "The probes and metrics servers listen on all interfaces (0.0.0.0), as the Go handler's do; a port still in use\n" +
        "(the previous pod of a rollout, with host networking) is tried again for 60 s before the program gives up.\n" +
        "Exit codes: 0 stopped by SIGTERM or SIGINT, 1 failure, 2 bad settings (KUBECONFIG included).\n"
    )
    process.exit(0)
  }
  runMain(
    Effect.scoped(definition.main).pipe(
      Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv())
    ),
    {
      disableErrorReporting: true,
      teardown: (exit, onExit) => {
        const { code, message } = exitOf(definition.name, exit)
        if (message !== undefined) process.stderr.write(`${message}\n`)
        onExit(code)
      }
    }
  )
}
