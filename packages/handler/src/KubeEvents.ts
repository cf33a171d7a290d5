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
 * The object an Event is about: the Node for node actions, a Pod for `PodEviction`.
 *
 * @category models
 * @since 0.1.0
 */
export interface InvolvedObject {
  readonly kind: "Node" | "Pod"
  readonly name: string
  /** Namespaced objects only: the Event is created in that namespace (the API server requires it). */
  readonly namespace?: string | undefined
  readonly uid?: string | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface KubeEvents {
  /** An Event on a Node. */
  readonly emit: (
    nodeName: string,
    type: "Normal" | "Warning",
    reason: string,
    message: string
  ) => Effect.Effect<void>
  /** An Event on any object, with annotations added to the configured extra ones. */
  readonly emitFor: (
    object: InvolvedObject,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
    annotations?: Readonly<Record<string, string>>
  ) => Effect.Effect<void>
}

const component = "aws-node-termination-handler"

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = (kube: KubeClient.Service, settings: Settings): KubeEvents => {
  const emitFor: KubeEvents["emitFor"] = (object, type, reason, message, annotations = {}) =>
    !settings.emitKubernetesEvents || settings.dryRun
      ? Effect.void
      : Effect.gen(function* () {
          const now = new Date()
          // Node events go to `default`, as the Go handler's; an Event about a pod lives in the pod's namespace.
          const namespace = object.namespace ?? "default"
          yield* kube.call(`emit event ${reason}`, (o) =>
            kube.core.createNamespacedEvent(
              {
                namespace,
                body: {
                  metadata: {
                    generateName: `${object.name}.`,
                    namespace,
                    annotations: { ...settings.kubernetesEventsExtraAnnotations, ...annotations }
                  },
                  involvedObject: {
                    kind: object.kind,
                    name: object.name,
                    apiVersion: "v1",
                    ...(object.namespace === undefined ? {} : { namespace: object.namespace }),
                    ...(object.uid === undefined ? {} : { uid: object.uid })
                  },
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
  return {
    emit: (nodeName, type, reason, message) =>
      emitFor({ kind: "Node", name: nodeName }, type, reason, message),
    emitFor
  }
}
