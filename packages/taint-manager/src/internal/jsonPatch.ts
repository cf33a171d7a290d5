/**
 * Turns a desired change of a node's labels, annotations, taints and cordon into the JSON Patch operations that
 * make it, computed against the node as read. Only differences produce operations, so an empty list means the
 * node already looks as wanted.
 *
 * The operations are exact for the node they were computed from (indices into `spec.taints`, `add` of a whole
 * map when it is missing): the apply step pins them to that node's resourceVersion, and the server refuses them
 * with 409 if anything changed in between.
 */
import type { V1Node, V1Taint } from "@kubernetes/client-node"

export type JsonPatchOperation =
  | { readonly op: "add" | "replace"; readonly path: string; readonly value: unknown }
  | { readonly op: "remove"; readonly path: string }

/** A JSON Patch (RFC 6902) document. */
export type JsonPatch = ReadonlyArray<JsonPatchOperation>

export interface Change {
  /** Keys to set (a string) or delete (`null`). */
  readonly labels?: Readonly<Record<string, string | null>>
  /** Keys to set (a string) or delete (`null`). */
  readonly annotations?: Readonly<Record<string, string | null>>
  /** Indices into the node's `spec.taints` to remove. */
  readonly removeTaintsAt?: ReadonlyArray<number>
  readonly addTaints?: ReadonlyArray<V1Taint>
  readonly unschedulable?: boolean
}

/** RFC 6901: `~` and `/` in a key are escaped so that `node.kubernetes.io/x` stays one path segment. */
export const escapeKey = (key: string): string => key.replaceAll("~", "~0").replaceAll("/", "~1")

const mapOperations = (
  path: string,
  current: Readonly<Record<string, string>> | undefined,
  wanted: Readonly<Record<string, string | null>> | undefined
): Array<JsonPatchOperation> => {
  if (wanted === undefined) return []
  const entries = Object.entries(wanted)
  const present = (key: string) => current !== undefined && Object.hasOwn(current, key)
  const sets = entries.filter(
    (entry): entry is [string, string] => entry[1] !== null && current?.[entry[0]] !== entry[1]
  )
  const removes = entries.filter(([key, value]) => value === null && present(key))
  // `add` into a missing map fails; the whole map is added instead.
  if (current === undefined)
    return sets.length === 0 ? [] : [{ op: "add", path, value: Object.fromEntries(sets) }]
  return [
    ...sets.map(
      ([key, value]): JsonPatchOperation => ({ op: "add", path: `${path}/${escapeKey(key)}`, value })
    ),
    ...removes.map(([key]): JsonPatchOperation => ({ op: "remove", path: `${path}/${escapeKey(key)}` }))
  ]
}

const taintOperations = (node: V1Node, change: Change): Array<JsonPatchOperation> => {
  const current = node.spec?.taints
  const removeAt = [...new Set(change.removeTaintsAt ?? [])]
    .filter((index) => current !== undefined && index >= 0 && index < current.length)
    // From the end, so that each removal leaves the indices of the next ones intact.
    .sort((a, b) => b - a)
  const adds = change.addTaints ?? []
  if (current === undefined)
    return adds.length === 0 ? [] : [{ op: "add", path: "/spec/taints", value: adds }]
  return [
    ...removeAt.map((index): JsonPatchOperation => ({ op: "remove", path: `/spec/taints/${index}` })),
    ...adds.map((taint): JsonPatchOperation => ({ op: "add", path: "/spec/taints/-", value: taint }))
  ]
}

/** The operations that turn `node` into what `change` asks for; empty when it already is. */
export const operations = (node: V1Node, change: Change): JsonPatch => {
  const specOperations: Array<JsonPatchOperation> = [...taintOperations(node, change)]
  if (change.unschedulable !== undefined && (node.spec?.unschedulable === true) !== change.unschedulable) {
    specOperations.push({ op: "add", path: "/spec/unschedulable", value: change.unschedulable })
  }
  const metadataOperations = [
    ...mapOperations("/metadata/labels", node.metadata?.labels, change.labels),
    ...mapOperations("/metadata/annotations", node.metadata?.annotations, change.annotations)
  ]
  return [
    ...metadataOperations,
    ...(specOperations.length > 0 && node.spec === undefined
      ? [{ op: "add", path: "/spec", value: {} } as const]
      : []),
    ...specOperations
  ]
}

const applyToMap = (
  current: Readonly<Record<string, string>> | undefined,
  wanted: Readonly<Record<string, string | null>> | undefined
): Record<string, string> | undefined => {
  if (wanted === undefined) return current
  const next: Record<string, string> = { ...current }
  for (const [key, value] of Object.entries(wanted)) {
    if (value === null) delete next[key]
    else next[key] = value
  }
  // A map that was missing stays missing when nothing was set in it (`operations` adds none then).
  return current === undefined && Object.keys(next).length === 0 ? undefined : next
}

/**
 * The node as the operations of `operations(node, change)` leave it: what the next of several writes sent as one
 * patch is computed on. Only the parts a change touches are copied; the rest is shared with `node`.
 */
export const applyChange = (node: V1Node, change: Change): V1Node => {
  const taints = node.spec?.taints
  const removeAt = new Set(change.removeTaintsAt ?? [])
  const adds = change.addTaints ?? []
  const nextTaints =
    removeAt.size === 0 && adds.length === 0
      ? taints
      : [...(taints ?? []).filter((_, index) => !removeAt.has(index)), ...adds]
  const labels = applyToMap(node.metadata?.labels, change.labels)
  const annotations = applyToMap(node.metadata?.annotations, change.annotations)
  const spec =
    nextTaints === taints && change.unschedulable === undefined
      ? node.spec
      : {
          ...node.spec,
          ...(nextTaints === undefined ? {} : { taints: nextTaints }),
          ...(change.unschedulable === undefined ? {} : { unschedulable: change.unschedulable })
        }
  return {
    ...node,
    metadata: {
      ...node.metadata,
      ...(labels === undefined ? {} : { labels }),
      ...(annotations === undefined ? {} : { annotations })
    },
    ...(spec === undefined ? {} : { spec })
  }
}
