/**
 * Helpers for the unit tests: node literals, and a small RFC 6902 applier so a plan can be applied and planned
 * again (the idempotence check) without a cluster.
 */
import type { V1Node, V1Taint } from "@kubernetes/client-node"
import type { NodePlan } from "../src/index.ts"

export const node = (
  options: {
    readonly labels?: Record<string, string>
    readonly annotations?: Record<string, string>
    readonly taints?: ReadonlyArray<V1Taint>
    readonly unschedulable?: boolean
  } = {}
): V1Node => ({
  metadata: {
    name: "ip-10-0-0-1.ec2.internal",
    resourceVersion: "1",
    ...(options.labels ? { labels: { ...options.labels } } : {}),
    ...(options.annotations ? { annotations: { ...options.annotations } } : {})
  },
  spec: {
    ...(options.taints ? { taints: options.taints.map((taint) => ({ ...taint })) } : {}),
    ...(options.unschedulable === undefined ? {} : { unschedulable: options.unschedulable })
  }
})

const unescapeSegment = (segment: string) => segment.replaceAll("~1", "/").replaceAll("~0", "~")

/** Applies a JSON Patch to a copy of `target`, throwing where the API server would refuse it. */
export const applyPatch = (target: V1Node, patch: NodePlan.JsonPatch | undefined): V1Node => {
  const copy = structuredClone(target) as unknown as Record<string, unknown>
  for (const operation of patch ?? []) {
    const segments = operation.path.split("/").slice(1).map(unescapeSegment)
    const last = segments.pop()
    if (last === undefined) throw new Error(`bad path ${operation.path}`)
    let parent: unknown = copy
    for (const segment of segments) {
      parent = (parent as Record<string, unknown>)[segment]
      if (parent === undefined || parent === null) throw new Error(`missing parent in ${operation.path}`)
    }
    if (Array.isArray(parent)) {
      if (operation.op === "remove") {
        const index = Number(last)
        if (!(index >= 0 && index < parent.length)) throw new Error(`no element at ${operation.path}`)
        parent.splice(index, 1)
      } else if (last === "-") parent.push(operation.value)
      else parent.splice(Number(last), operation.op === "replace" ? 1 : 0, operation.value)
    } else {
      const object = parent as Record<string, unknown>
      if (operation.op === "remove") {
        if (!Object.hasOwn(object, last)) throw new Error(`nothing to remove at ${operation.path}`)
        delete object[last]
      } else object[last] = structuredClone(operation.value)
    }
  }
  return copy as unknown as V1Node
}

export const taintsOf = (target: V1Node) =>
  (target.spec?.taints ?? []).map((taint) => `${taint.key}=${taint.value ?? ""}:${taint.effect}`)
