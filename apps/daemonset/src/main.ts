/**
 * nth in IMDS mode: one pod per node (a DaemonSet) polls its node's instance metadata and, when EC2 announces an
 * interruption, cordons, taints and drains the node. Settings are the Go handler's environment variables.
 *
 * This file only wires packages together: settings → layers → start-up recovery → monitors → handler.
 */
import { Drainer } from "@nth/drainer"
import { Handler, HttpServer, Metrics, Settings } from "@nth/handler"
import { ImdsClient, ImdsMonitor } from "@nth/imds-monitor"
import { KubeClient, KubeError } from "@nth/kube"
import { TaintManager } from "@nth/taint-manager"
import {
  Cause,
  ConfigProvider,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  References,
  Schedule,
  Stream
} from "effect"
import * as Uptime from "./Uptime.ts"

if (process.argv.includes("--help") || process.argv.includes("-h")) {
  process.stdout.write(
    `nth-daemonset: the node termination handler in IMDS mode.\n\nSettings (environment variables, as the Go handler's):\n${Settings.help()}\n\n` +
      "The probes and metrics servers listen on all interfaces (0.0.0.0), as the Go handler's do; a port still in use\n" +
      "(the previous pod of a rollout, with host networking) is tried again for 60 s before nth gives up.\n" +
      "Exit codes: 0 stopped by SIGTERM or SIGINT, 1 failure, 2 bad settings (KUBECONFIG included).\n"
  )
  process.exit(0)
}

const program = (parsed: Settings.Parsed) =>
  Effect.gen(function* () {
    const { settings } = parsed
    for (const warning of parsed.warnings) yield* Effect.logWarning(warning)
    const handler = yield* Handler.Handler
    const routes = HttpServer.routes({
      ...(settings.enableProbesServer ? { probesPath: settings.probesServerEndpoint } : {}),
      ...(settings.enablePrometheusServer ? { metrics: handler.metrics } : {})
    })
    if (settings.enableProbesServer) yield* HttpServer.serve({ port: settings.probesServerPort, routes })
    if (settings.enablePrometheusServer && settings.prometheusServerPort !== settings.probesServerPort) {
      yield* HttpServer.serve({ port: settings.prometheusServerPort, routes })
    }

    yield* Effect.logInfo("nth started in IMDS mode").pipe(
      Effect.annotateLogs({ node: settings.nodeName, dryRun: settings.dryRun })
    )
    // The identity is for the logs: polling does not wait for it (slow IMDS answers delayed the first poll by
    // ~20 s), and notices are acted on without it; it is read in the background until IMDS gives it.
    const imds = yield* ImdsClient.ImdsClient
    yield* imds.identity.pipe(
      Effect.tapError((error) =>
        Effect.logWarning(`instance identity unavailable, retrying: ${error.message}`)
      ),
      Effect.retry(Schedule.min([Schedule.exponential("1 second"), Schedule.spaced("1 minute")])),
      Effect.tap((identity) =>
        Effect.logInfo("instance identity read").pipe(Effect.annotateLogs({ instance: identity.instanceId }))
      ),
      Effect.ignore,
      Effect.forkScoped
    )
    yield* handler.recover({ uptimeSeconds: Uptime.read(settings.uptimeFromFile) })

    // Each event is handled in its own fiber (the handler bounds them with WORKERS), so polling never waits on a
    // drain; on shutdown the in-flight ones get time to finish.
    const inFlight = new Set<Fiber.Fiber<unknown>>()
    const poller = ImdsMonitor.all({
      nodeName: settings.nodeName,
      enableSpotInterruptionDraining: settings.enableSpotInterruptionDraining,
      enableScheduledEventDraining: settings.enableScheduledEventDraining,
      enableRebalanceMonitoring: settings.enableRebalanceMonitoring,
      enableRebalanceDraining: settings.enableRebalanceDraining,
      enableAsgLifecycleDraining: settings.enableAsgLifecycleDraining
    }).pipe(
      Stream.runForEach((signal) =>
        signal._tag === "PollFailed"
          ? handler.monitorFailed(signal.monitor, signal.error)
          : Effect.gen(function* () {
              const fiber = yield* Effect.forkDetach(handler.handle(signal.event))
              inFlight.add(fiber)
              fiber.addObserver(() => inFlight.delete(fiber))
            })
      )
    )
    yield* poller.pipe(
      Effect.onInterrupt(() =>
        Effect.gen(function* () {
          if (inFlight.size === 0) return
          yield* Effect.logInfo(`stopping: waiting for ${inFlight.size} event(s) in progress`)
          // Each drain records its start and end on the node, so one cut short here is resumed at the next start.
          const finished = yield* Fiber.joinAll([...inFlight]).pipe(
            Effect.timeoutOption(Duration.seconds(25)),
            Effect.map((joined) => joined._tag === "Some"),
            Effect.orElseSucceed(() => true)
          )
          if (!finished)
            yield* Effect.logWarning(
              `stopping with ${inFlight.size} event(s) still in progress: handed over to the next start, which resumes them from the node's record`
            )
        })
      )
    )
  })

const main = Effect.gen(function* () {
  // This program is IMDS mode only: ENABLE_SQS_TERMINATION_DRAINING=true is refused, not half-honoured.
  const parsed = yield* Settings.loadFor({ program: "imds" })
  const { settings } = parsed
  const metrics = Metrics.make()
  // In a pod: the service account; outside: KUBECONFIG, as kubectl reads it.
  const kube = KubeClient.layer()
  const services = Handler.layer(settings, metrics).pipe(
    Layer.provide(Layer.mergeAll(TaintManager.layer({ dryRun: settings.dryRun }), Drainer.layer)),
    Layer.provideMerge(kube),
    Layer.merge(
      ImdsClient.layer({
        endpoint: settings.metadataUrl,
        tries: settings.metadataTries,
        allowImdsV1Fallback: settings.allowImdsV1Fallback
      })
    )
  )
  const logger = settings.jsonLogging ? Logger.consoleJson : Logger.consoleLogFmt
  yield* program(parsed).pipe(
    Effect.scoped,
    Effect.provide(services),
    Effect.provide(Logger.layer([logger])),
    Effect.provideService(
      References.MinimumLogLevel,
      settings.logLevel === "debug" ? "Debug" : settings.logLevel === "error" ? "Error" : "Info"
    )
  )
})

// SIGTERM (the kubelet stopping the pod) and SIGINT interrupt the program, which then stops polling and gives
// in-flight events time to finish; exit 0 on such a stop, 1 on failure, 2 on bad settings.
const fiber = Effect.runFork(
  main.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv()))
)
let stopping = false
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (stopping) return
    stopping = true
    Effect.runFork(Fiber.interrupt(fiber))
  })
}
fiber.addObserver((exit) => {
  if (Exit.isSuccess(exit) || (stopping && Cause.hasInterruptsOnly(exit.cause))) process.exit(0)
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  if (failure?._tag === "Fail" && failure.error instanceof Settings.InvalidSettings) {
    process.stderr.write(`nth: ${failure.error.message}\nRun with --help to list the settings.\n`)
    process.exit(2)
  }
  if (failure?._tag === "Fail" && failure.error instanceof KubeError.KubeConfigError) {
    process.stderr.write(`nth: invalid settings: KUBECONFIG: ${failure.error.message}\n`)
    process.exit(2)
  }
  // A failure the program knows (a port that stayed busy, say) is one line; only a defect gets its stack trace.
  if (failure?._tag === "Fail" && typeof failure.error === "object" && failure.error !== null) {
    process.stderr.write(
      `nth: ${String((failure.error as { message?: unknown }).message ?? failure.error)}\n`
    )
    process.exit(1)
  }
  process.stderr.write(`nth: ${Cause.pretty(exit.cause)}\n`)
  process.exit(1)
})
