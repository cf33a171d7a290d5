/**
 * nth in queue mode: one Deployment reads the EC2, Auto Scaling and AWS Health events an SQS queue receives and
 * cordons, taints and drains the nodes they name, completing Auto Scaling lifecycle actions. Settings are the Go
 * handler's environment variables.
 *
 * Wiring only: settings → layers → servers → intake → messages (src/Messages.ts) → handler, on the shared runtime.
 */
import { Drainer } from "@nth/drainer"
import { Handler, Metrics, Notifications, Settings } from "@nth/handler"
import { KubeClient } from "@nth/kube"
import { InstanceInfo, Intake, NodeIndex } from "@nth/queue-monitor"
import { Program, type Readiness, Runner } from "@nth/runtime"
import { NodeRecord, TaintManager } from "@nth/taint-manager"
import { Duration, Effect, Layer, Stream } from "effect"
import * as Aws from "./Aws.ts"
import * as Messages from "./Messages.ts"

const main = Effect.gen(function* () {
  // This program is queue mode only: ENABLE_SQS_TERMINATION_DRAINING must be true.
  const { settings, warnings, given } = yield* Settings.loadFor({
    program: "queue",
    argv: process.argv.slice(2)
  })
  const metrics = Metrics.make()
  const aws = yield* Aws.awsOptions(settings)
  const lifecycle = yield* Aws.makeLifecycle(aws)
  const options = {
    ...Settings.toHandlerOptions(settings, given),
    steps: Messages.steps({ lifecycle, ...settings }),
    // Replicas share the nodes: each node is claimed in its own record by the replica acting on it.
    coordination: { holder: Messages.replicaName(settings.podName) }
  }
  const handler = Layer.unwrap(
    Effect.gen(function* () {
      const instances = yield* InstanceInfo.InstanceInfo
      // Webhook templates see the instance as DescribeInstances and the queue describe it.
      const notify = yield* Notifications.make(settings, metrics, (event) =>
        Effect.map(
          event.instanceId === undefined ? Effect.undefined : instances.describe(event.instanceId),
          (instance) => Messages.webhookInstance(instance, { ...settings, region: aws.region })
        )
      )
      // A rebalance recommendation's node label is read from the index's copy of the node, not the API server.
      const nodes = yield* NodeIndex.NodeIndex
      return Handler.layer({ ...options, notify, knownNode: nodes.byName }, metrics)
    })
  )
  const services = handler.pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        // A node's first write starts from the index's copy of it, not a read: one request fewer per event.
        Layer.effect(
          TaintManager.TaintManager,
          Effect.gen(function* () {
            const nodes = yield* NodeIndex.NodeIndex
            return yield* TaintManager.make({ dryRun: settings.dryRun, knownNode: nodes.byName })
          })
        ),
        Drainer.layer
      ).pipe(Layer.provideMerge(NodeIndex.layer({ useProviderId: settings.useProviderId })))
    ),
    Layer.provideMerge(KubeClient.layer()), // in a pod: the service account; outside: KUBECONFIG
    Layer.provideMerge(InstanceInfo.layer(aws))
  )
  yield* Effect.gen(function* () {
    for (const warning of warnings) yield* Effect.logWarning(warning)
    const proxies = Aws.describeProxies(aws)
    if (proxies !== undefined) yield* Effect.logInfo(proxies)
    const nodes = yield* NodeIndex.NodeIndex
    // The intake is made below (it may take a while against an SQS that does not answer): the probes answer
    // before it, /readyz "not ready" until it has heard from SQS.
    let sqs: () => Readiness.Health = () => ({ ready: false, reason: "SQS has not answered yet" })
    yield* Program.serve({
      probes: settings.enableProbesServer
        ? { port: settings.probesServerPort, path: settings.probesServerEndpoint }
        : undefined,
      readiness: { sqs: () => sqs(), kubernetes: nodes.health },
      metrics: settings.enablePrometheusServer
        ? { port: settings.prometheusServerPort, registry: metrics }
        : undefined
    })
    // Rebalance cordons a replica was waiting to lift (before a restart) are lifted when their time is up.
    const handler = yield* Handler.Handler
    yield* Effect.forkScoped(
      nodes.synced.pipe(
        Effect.andThen(
          Effect.suspend(() =>
            Effect.forEach(nodes.all(), (node) =>
              handler.resumeRebalanceLift(node.metadata?.name ?? "", NodeRecord.read(node).record)
            )
          )
        ),
        Effect.ignore
      )
    )
    const processMessage = yield* Messages.make({ lifecycle, metrics, ...settings })
    // The intake outlives the runner (finalizers run in reverse): at a stop, work in flight can still settle.
    const intake = yield* Intake.make({
      queueUrl: settings.queueUrl,
      ...aws,
      visibilityTimeoutSeconds: settings.sqsMsgVisibilityTimeoutSec,
      maxReceivesBeforeDrop: Messages.maxReceivesBeforeDrop,
      // Every worker holds a message for its whole drain, which may last until the heartbeats stop.
      maxInFlight: Math.max(100, settings.workers),
      receivers: Messages.receiversFor(settings.workers),
      maxHold: Duration.seconds(
        Math.max(3600, settings.nodeTerminationGracePeriod + 600, settings.heartbeatUntil + 600)
      )
    })
    sqs = intake.health
    const runner = yield* Runner.make({ workers: settings.workers })
    yield* Effect.logInfo("nth started in queue mode").pipe(
      Effect.annotateLogs({ queue: settings.queueUrl, dryRun: settings.dryRun })
    )
    yield* intake.messages.pipe(
      Stream.runForEach((message) => runner.submit(processMessage(message))),
      Effect.ensuring(intake.stop)
    )
  }).pipe(
    Effect.scoped,
    Effect.provide(services),
    Effect.provide(Program.logging({ json: settings.jsonLogging, level: settings.logLevel }))
  )
})

Program.run({
  name: "nth-deployment",
  summary: "the node termination handler in queue mode",
  help: Settings.help,
  main
})
