/**
 * Cordon and uncordon: `spec.unschedulable`, and nothing else, as kubectl sets it.
 */
import { KubeClient, type KubeError } from "@nth/kube"
import { Effect, Schedule } from "effect"

/** False when the node already was in the asked state (nothing was sent). */
export interface Changed {
  readonly changed: boolean
}

export const setUnschedulable = (
  kube: KubeClient.Service,
  nodeName: string,
  unschedulable: boolean,
  dryRun: boolean
): Effect.Effect<Changed, KubeError.KubeError> =>
  Effect.gen(function* () {
    const node = yield* kube.call(`read node ${nodeName}`, (o) => kube.core.readNode({ name: nodeName }, o))
    if ((node.spec?.unschedulable ?? false) === unschedulable) return { changed: false }
    // A strategic merge patch of this one field: it cannot clobber what other writers change meanwhile.
    yield* kube
      .call(
        `${unschedulable ? "cordon" : "uncordon"} node ${nodeName}`,
        (o) =>
          kube.core.patchNode(
            {
              name: nodeName,
              body: { spec: { unschedulable: unschedulable ? true : null } },
              ...(dryRun ? { dryRun: "All" } : {})
            },
            o
          ),
        { patch: KubeClient.PatchStrategy.StrategicMergePatch }
      )
      .pipe(
        Effect.retry({
          while: (error) =>
            error.reason === "Conflict" ||
            error.reason === "TooManyRequests" ||
            error.reason === "Unavailable",
          schedule: Schedule.exponential("50 millis").pipe(Schedule.jittered),
          times: 8
        })
      )
    return { changed: true }
  })
