/**
 * nth in IMDS mode: one pod per node (a DaemonSet) polls its node's instance metadata and, when EC2 announces an
 * interruption, cordons, taints and drains the node. Wiring only, on the shared runtime (@nth/runtime).
 */
import { Drainer } from "@nth/drainer"
import { Handler, Metrics, Notifications, Settings } from "@nth/handler"
import { ImdsClient, ImdsMonitor } from "@nth/imds-monitor"
import { KubeClient } from "@nth/kube"
import { Program, Readiness, Runner } from "@nth/runtime"
import { TaintManager } from "@nth/taint-manager"
import { Effect, Layer, Stream } from "effect"
import * as OwnNode from "./OwnNode.ts"
import * as Uptime from "./Uptime.ts"

const main = Effect.gen(function* () {
  // This program is IMDS mode only: ENABLE_SQS_TERMINATION_DRAINING=true is refused, not half-honoured.
  const { settings, warnings } = yield* Settings.loadFor({ program: "imds", argv: process.argv.slice(2) })
  const metrics = Metrics.make()
  const kube = KubeClient.layer() // in a pod: the service account; outside: KUBECONFIG, as kubectl reads it
  const imds = ImdsClient.layer({
    endpoint: settings.metadataUrl,
    tries: settings.metadataTries,
    allowImdsV1Fallback: settings.allowImdsV1Fallback
  })
  const handler = Layer.unwrap(
    Effect.gen(function* () {
      const client = yield* ImdsClient.ImdsClient
      // Webhook templates see the instance as IMDS describes it, read when a notification is sent.
      const notify = yield* Notifications.make(settings, metrics, () =>
        Effect.map(client.identity, OwnNode.webhookInstance)
      )
      return Handler.layer({ ...Settings.toHandlerOptions(settings), notify }, metrics)
    })
  )
  const services = handler.pipe(
    Layer.provideMerge(Layer.mergeAll(TaintManager.layer({ dryRun: settings.dryRun }), Drainer.layer)),
    Layer.provideMerge(kube),
    Layer.provideMerge(imds)
  )
  const { nodeName } = settings
  yield* Effect.gen(function* () {
    for (const warning of warnings) yield* Effect.logWarning(warning)
    yield* Effect.logInfo("nth started in IMDS mode").pipe(
      Effect.annotateLogs({ node: nodeName, dryRun: settings.dryRun })
    )
    yield* Effect.forkScoped(OwnNode.logIdentity)
    const handler = yield* Handler.Handler
    const imdsClient = yield* ImdsClient.ImdsClient
    // The API server is reached at start (the recovery reads the node); later failures are the drain's to retry.
    const kubernetes = Readiness.tracker("the API server has not answered yet")
    // Made in this scope, which closes before the services' own: a stop waits for drains with the connections up.
    const runner = yield* Runner.make({ workers: settings.workers })
    // The servers may wait up to 60 s for a port the previous pod still holds: polling does not wait for them.
    const servers = Program.serve({
      probes: settings.enableProbesServer
        ? { port: settings.probesServerPort, path: settings.probesServerEndpoint }
        : undefined,
      readiness: { imds: imdsClient.health, kubernetes: kubernetes.health },
      metrics: settings.enablePrometheusServer
        ? { port: settings.prometheusServerPort, registry: metrics }
        : undefined
    }).pipe(Effect.andThen(Effect.never))
    const polling = Effect.gen(function* () {
      const recovery = {
        nodeName,
        uptimeSeconds: () => Uptime.read(settings.uptimeFromFile),
        enableScheduledEventDraining: settings.enableScheduledEventDraining,
        dryRun: settings.dryRun
      }
      if (yield* OwnNode.recover(recovery)) kubernetes.up()
      else
        yield* Effect.forkScoped(
          OwnNode.recoverInBackground(recovery, (message) =>
            kubernetes.down(`the API server: ${message}`)
          ).pipe(Effect.andThen(Effect.sync(kubernetes.up)))
        )
      const monitors = { ...settings, instanceId: undefined }
      // Polling starts at once; rebalance recommendations join when the node's label asks for them (read alongside:
      // waiting for it first put a node read before the first poll, 163 → 246 ms median start-up in the bench).
      const byLabel =
        settings.enableRebalanceMonitoring || settings.enableRebalanceDraining
          ? Stream.empty
          : Stream.unwrap(
              Effect.map(OwnNode.labelAsksForRebalance(nodeName), (asks) =>
                asks ? ImdsMonitor.rebalanceRecommendation(monitors) : Stream.empty
              )
            )
      yield* Stream.merge(ImdsMonitor.all(monitors), byLabel).pipe(
        Stream.runForEach((signal) =>
          signal._tag === "PollFailed"
            ? OwnNode.reportMonitorFailure(nodeName, signal.monitor, signal.error)
            : runner.submit(handler.handle(signal.event))
        )
      )
    })
    yield* Effect.all([servers, polling], { concurrency: "unbounded", discard: true })
  }).pipe(
    Effect.scoped,
    Effect.provide(services),
    Effect.provide(Program.logging({ json: settings.jsonLogging, level: settings.logLevel }))
  )
})

Program.run({
  name: "nth-daemonset",
  summary: "the node termination handler in IMDS mode",
  help: Settings.help,
  main
})
