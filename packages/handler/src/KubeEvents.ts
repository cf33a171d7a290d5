/**
 * Kubernetes Events on the Node for each step, with the Go handler's reasons, source and namespace, so that
 * `kubectl describe node` and event-based alerting read the same after a migration. Emitting is best effort: a
 * failed Event is a log line, never a failed action.
 *
 * @since 0.1.0
 */
import type { KubeClient } from "@nth/kube"
import { Effect } from "effect"
import type { Settings } from "./Settings.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface KubeEvents {
  readonly emit: (
    nodeName: string,
    type: "Normal" | "Warning",
    reason: string,
    message: string
  ) => Effect.Effect<void>
}

const component = "aws-node-termination-handler"

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = (kube: KubeClient.Service, settings: Settings): KubeEvents => ({
  emit: (nodeName, type, reason, message) =>
    !settings.emitKubernetesEvents || settings.dryRun
      ? Effect.void
      : Effect.gen(function* () {
          const now = new Date()
          yield* kube.call(`emit event ${reason}`, (o) =>
            kube.core.createNamespacedEvent(
              {
                namespace: "default",
                body: {
                  metadata: {
                    generateName: `${nodeName}.`,
                    namespace: "default",
                    annotations: { ...settings.kubernetesEventsExtraAnnotations }
                  },
                  involvedObject: { kind: "Node", name: nodeName, apiVersion: "v1" },
                  reason,
                  message: message.trim(),
                  type,
                  source: { component, host: settings.nodeName },
                  firstTimestamp: now,
                  lastTimestamp: now,
                  count: 1,
                  reportingComponent: component,
                  reportingInstance: settings.nodeName
                }
              },
              o
            )
          )
        }).pipe(
          Effect.catch((error) => Effect.logWarning(`could not emit the ${reason} event: ${error.message}`))
        )
})
