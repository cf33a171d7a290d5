/**
 * What nth did to a node, read back from the node alone: after a restart of nth, after a reboot of the node, or
 * by an operator with `kubectl get node -o yaml`.
 *
 * nth keeps one annotation, {@link recordAnnotation} (`nth.dev/record`), holding a small JSON document: the
 * events it acted on, whether the node was already unschedulable before nth touched it, and what nth did and
 * when (cordoned, tainted, excluded from load balancers, drain started and finished, uncordon after reboot).
 * Everything nth later undoes is undone from this record, so nth never removes a cordon, taint or label that
 * someone else put there.
 *
 * It also writes the Go handler's labels (`aws-node-termination-handler/event-id`, `…/action`,
 * `…/action-time`) so that tooling built around them keeps working, and reads them back: a node marked by the Go
 * handler (no annotation yet) is read as a record too, so switching from the Go handler to nth in the middle of
 * a maintenance still uncordons the node when it comes back.
 *
 * @since 0.1.0
 */
import type { V1Node } from "@kubernetes/client-node"
import { NodeAction } from "@nth/events"
import { Result, Schema } from "effect"

// ---------------------------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------------------------

/**
 * The annotation holding nth's record (JSON, see {@link NodeRecord}).
 *
 * @category keys
 * @since 0.1.0
 */
export const recordAnnotation = "nth.dev/record"

/**
 * The labels nth writes, with the Go handler's keys.
 *
 * - `eventId`: the scheduled event a reboot-and-return was marked for (value cut to 63 characters).
 * - `action`: `UncordonAfterReboot`, only when the node was not cordoned by someone else.
 * - `actionTime`: Unix seconds when `action` was written.
 * - `excludeFromLoadBalancers`: `node.kubernetes.io/exclude-from-external-load-balancers`, set to
 *   {@link excludeFromLoadBalancersValue} before draining.
 *
 * @category keys
 * @since 0.1.0
 */
export const labels = {
  eventId: "aws-node-termination-handler/event-id",
  action: "aws-node-termination-handler/action",
  actionTime: "aws-node-termination-handler/action-time",
  excludeFromLoadBalancers: "node.kubernetes.io/exclude-from-external-load-balancers"
} as const

/**
 * The value of the `action` label.
 *
 * @category keys
 * @since 0.1.0
 */
export const uncordonAfterRebootAction = "UncordonAfterReboot"

/**
 * The value nth (like the Go handler) gives the exclude-from-load-balancers label; a label with another value
 * belongs to someone else.
 *
 * @category keys
 * @since 0.1.0
 */
export const excludeFromLoadBalancersValue = "aws-node-termination-handler"

/**
 * The Go handler's taint keys, one per event kind (`aws-node-termination-handler/spot-itn`, …).
 *
 * @category keys
 * @since 0.1.0
 */
export const handlerTaintKeys: ReadonlySet<string> = new Set(
  Object.values(NodeAction.taintKeys).filter((key): key is string => key !== undefined)
)

/**
 * The taint that tells Kubernetes a node is shut down (force-deletes its pods, detaches volumes).
 *
 * @category keys
 * @since 0.1.0
 */
export const outOfServiceTaint: NodeAction.Taint = {
  key: "node.kubernetes.io/out-of-service",
  value: "nodeshutdown",
  effect: "NoExecute"
}

// ---------------------------------------------------------------------------------------------------------------
// The record
// ---------------------------------------------------------------------------------------------------------------

const Timestamp = Schema.DateFromString

/**
 * @category schemas
 * @since 0.1.0
 */
export const TaintEffect = Schema.Literals(["NoSchedule", "PreferNoSchedule", "NoExecute"])

const isTaintEffect = Schema.is(TaintEffect)

/**
 * A taint nth added (or took over from the Go handler). `at` is absent for what was read from the Go handler's
 * marks, which carry no time.
 *
 * @category schemas
 * @since 0.1.0
 */
export const RecordedTaint = Schema.Struct({
  key: Schema.String,
  value: Schema.String,
  effect: TaintEffect,
  at: Schema.optionalKey(Timestamp)
})

/**
 * @category models
 * @since 0.1.0
 */
export type RecordedTaint = typeof RecordedTaint.Type

/**
 * An event nth acted on for this node. `kind` is an `InterruptionEvent` kind, kept as a string so that a record
 * written by a newer nth still reads.
 *
 * @category schemas
 * @since 0.1.0
 */
export const RecordedEvent = Schema.Struct({
  id: Schema.String,
  kind: Schema.optionalKey(Schema.String),
  at: Schema.optionalKey(Timestamp)
})

/**
 * @category models
 * @since 0.1.0
 */
export type RecordedEvent = typeof RecordedEvent.Type

/**
 * nth's record of a node (version 1), stored as JSON in {@link recordAnnotation}:
 *
 * - `events`: the events nth acted on, oldest first (at most 16).
 * - `unschedulableBefore`: whether the node was already unschedulable when nth first wrote the record.
 * - `uncordonAfterReboot`: nth will undo its work when the node comes back from a reboot begun after `at`.
 * - `cordoned`: nth saw the node cordoned at `at`; `byNth` is false when the cordon was someone else's (nth then
 *   never removes it).
 * - `taints`: the taints nth added; only these are ever removed.
 * - `excludedFromLoadBalancers`: nth set the exclude-from-load-balancers label (and so may remove it).
 * - `drain`: when the drain started and finished.
 * - `claim`: which handler is acting on the node now, for which event, and until when unless it renews the claim
 *   (several handlers share the nodes in queue mode: its replicas). An expired claim is free to take.
 * - `rebalanceLiftAt`: nth cordoned the node for the rebalance recommendation `eventId` and lifts that cordon at
 *   `at` if nothing else is recorded by then (since 0.5.0; see `NodePlan.liftRebalanceCordon`). Any nth that lifts
 *   rebalance cordons takes it over after a restart; cordons without it are never lifted.
 * - `rebalanceCordonLifted`: the rebalance recommendation whose cordon nth lifted because nothing followed it in
 *   time (since 0.5.0): IMDS keeps listing a recommendation until the instance ends, and a restarted nth must not
 *   cordon the node for it again. The only field left once nth's work is undone.
 *
 * Unknown fields are ignored when read, so an older nth reads a newer nth's record.
 *
 * @category schemas
 * @since 0.1.0
 */
export const NodeRecord = Schema.Struct({
  version: Schema.Literal(1),
  events: Schema.Array(RecordedEvent),
  unschedulableBefore: Schema.Boolean,
  uncordonAfterReboot: Schema.optionalKey(Schema.Struct({ eventId: Schema.String, at: Timestamp })),
  cordoned: Schema.optionalKey(Schema.Struct({ byNth: Schema.Boolean, at: Schema.optionalKey(Timestamp) })),
  taints: Schema.Array(RecordedTaint),
  excludedFromLoadBalancers: Schema.optionalKey(Schema.Struct({ at: Schema.optionalKey(Timestamp) })),
  drain: Schema.optionalKey(
    Schema.Struct({ startedAt: Timestamp, finishedAt: Schema.optionalKey(Timestamp) })
  ),
  claim: Schema.optionalKey(
    Schema.Struct({ holder: Schema.String, eventId: Schema.optionalKey(Schema.String), until: Timestamp })
  ),
  rebalanceLiftAt: Schema.optionalKey(Schema.Struct({ eventId: Schema.String, at: Timestamp })),
  rebalanceCordonLifted: Schema.optionalKey(Schema.Struct({ eventId: Schema.String, at: Timestamp }))
})

/**
 * @category models
 * @since 0.1.0
 */
export type NodeRecord = typeof NodeRecord.Type

/**
 * The annotation held something nth cannot read (hand-edited, truncated, or from an incompatible version). It is
 * reported, never thrown: nth then goes by the Go handler's labels, or acts as if there were no record (and
 * overwrites or removes the annotation on its next write).
 *
 * @category errors
 * @since 0.1.0
 */
export class MalformedRecord extends Schema.TaggedError<MalformedRecord>()("MalformedRecord", {
  nodeName: Schema.String,
  /** What is wrong, with the path of the offending field. */
  message: Schema.String,
  /** The annotation's value as found. */
  raw: Schema.String
}) {}

/**
 * What {@link read} found.
 *
 * - `record`: nth's record, `undefined` when the node carries no mark of nth or of the Go handler.
 * - `source`: `annotation` (nth's own) or `handlerMarks` (derived from the Go handler's labels and taints).
 * - `malformed`: set when the annotation was present but unreadable.
 *
 * @category models
 * @since 0.1.0
 */
export interface Read {
  readonly record: NodeRecord | undefined
  readonly source: "annotation" | "handlerMarks" | undefined
  readonly malformed?: MalformedRecord
}

const decodeJson = Schema.decodeUnknownResult(Schema.fromJsonString(NodeRecord), { errors: "all" })
const encodeJson = Schema.encodeSync(Schema.fromJsonString(NodeRecord))

/**
 * The annotation value for a record.
 *
 * @category encoding
 * @since 0.1.0
 */
export const encode = (record: NodeRecord): string => {
  const known = encoded.get(record)
  if (known !== undefined) return known
  const raw = encodeJson(record)
  encoded.set(record, raw)
  remember(raw, record)
  return raw
}

// Records are immutable and a node's handling reads and writes the same few again and again (each write of a
// claim, taint, cordon and drain decodes the record and encodes the next): the last ones are kept both ways.
// Measured with 1000 Spot notices in queue mode, decoding and encoding records through Schema took 2.2 s of
// nth's 13 CPU seconds. Bounded (oldest out first); a record's encoding is kept as long as the record is.
const encoded = new WeakMap<NodeRecord, string>()
const decoded = new Map<string, NodeRecord>()
const remember = (raw: string, record: NodeRecord) => {
  decoded.delete(raw)
  decoded.set(raw, record)
  if (decoded.size > 2_000) {
    const oldest = decoded.keys().next()
    if (!oldest.done) decoded.delete(oldest.value)
  }
}

/**
 * A record from an annotation value.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decode = (nodeName: string, raw: string): Result.Result<NodeRecord, MalformedRecord> => {
  const known = decoded.get(raw)
  if (known !== undefined) return Result.succeed(known)
  const result = Result.mapError(
    decodeJson(raw),
    (error) => new MalformedRecord({ nodeName, message: error.message, raw })
  )
  // Not kept as the record's encoding: an annotation written otherwise (another version of nth) is rewritten as
  // this version encodes it only when the record changes, as before.
  if (Result.isSuccess(result)) remember(raw, result.success)
  return result
}

/**
 * The record the Go handler's marks amount to, for a node it handled (or that nth handled before its record was
 * lost): the `event-id` label names the event; `action=UncordonAfterReboot` with `action-time` asks for the
 * uncordon after reboot, and since the Go handler writes it only on a schedulable node, the cordon that followed
 * was its own; taints with its keys and the load-balancer label with its value are its own.
 *
 * @category decoding
 * @since 0.1.0
 */
export const fromHandlerMarks = (node: V1Node): NodeRecord | undefined => {
  const nodeLabels = node.metadata?.labels ?? {}
  const eventId = nodeLabels[labels.eventId]
  const marked = eventId !== undefined && nodeLabels[labels.action] === uncordonAfterRebootAction
  const actionTime = Number(nodeLabels[labels.actionTime])
  const at = marked && Number.isSafeInteger(actionTime) ? new Date(actionTime * 1000) : undefined
  const taints = (node.spec?.taints ?? [])
    .filter((taint) => handlerTaintKeys.has(taint.key))
    .flatMap(
      (taint): Array<RecordedTaint> =>
        isTaintEffect(taint.effect)
          ? [{ key: taint.key, value: taint.value ?? "", effect: taint.effect }]
          : []
    )
  const excluded = nodeLabels[labels.excludeFromLoadBalancers] === excludeFromLoadBalancersValue
  if (eventId === undefined && taints.length === 0 && !excluded) return undefined
  return {
    version: 1,
    events: eventId === undefined ? [] : [{ id: eventId, ...(at === undefined ? {} : { at }) }],
    unschedulableBefore: !marked && node.spec?.unschedulable === true,
    ...(eventId !== undefined && at !== undefined ? { uncordonAfterReboot: { eventId, at } } : {}),
    ...(marked ? { cordoned: { byNth: true, ...(at === undefined ? {} : { at }) } } : {}),
    taints,
    ...(excluded ? { excludedFromLoadBalancers: {} } : {})
  }
}

/**
 * Reads nth's record from a node: the annotation when it is readable, else the Go handler's marks.
 *
 * @category decoding
 * @since 0.1.0
 */
export const read = (node: V1Node): Read => {
  const nodeName = node.metadata?.name ?? ""
  const raw = node.metadata?.annotations?.[recordAnnotation]
  const decoded = raw === undefined ? undefined : decode(nodeName, raw)
  if (decoded !== undefined && Result.isSuccess(decoded)) {
    return { record: decoded.success, source: "annotation" }
  }
  const fromMarks = fromHandlerMarks(node)
  return {
    record: fromMarks,
    source: fromMarks === undefined ? undefined : "handlerMarks",
    ...(decoded === undefined ? {} : { malformed: decoded.failure })
  }
}

/**
 * Whether the record says nth took a node out of service in a way it still has to undo.
 *
 * @category predicates
 * @since 0.1.0
 */
export const hasWorkToUndo = (record: NodeRecord): boolean =>
  record.taints.length > 0 ||
  record.cordoned?.byNth === true ||
  record.excludedFromLoadBalancers !== undefined ||
  record.uncordonAfterReboot !== undefined

/**
 * Whether the record shows `eventId`'s work done: the event is listed, and nth's drain finished (`"drain"`), or its
 * cordon was seen (`"cordon"`), after the event was listed. An older drain does not count: a node drained for an
 * earlier event, uncordoned since, then cordoned for this event before a restart must be drained again.
 *
 * @category predicates
 * @since 0.5.0
 */
export const isDoneFor = (record: NodeRecord, eventId: string, step: "cordon" | "drain"): boolean => {
  const listed = record.events.find((recorded) => recorded.id === eventId)
  if (listed === undefined) return false
  const done = step === "cordon" ? record.cordoned?.at : record.drain?.finishedAt
  return done !== undefined && (listed.at === undefined || done.getTime() >= listed.at.getTime())
}
