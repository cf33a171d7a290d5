/**
 * The "compute" half of every node write: pure functions that, given a node as read and the change wanted,
 * return what nth does (or finds already done) and the JSON Patch that does it, `patch: undefined` when there is
 * nothing to write. They need no cluster, so every rule is table-tested; {@link TaintManager} reads the node,
 * calls one of these, and sends the patch pinned to the node's resourceVersion.
 *
 * Rules, shared by all functions:
 * - nth's own marks and the record that lists them change in one patch, so the record never disagrees with the
 *   node (a crash cannot fall between the two);
 * - only what the record lists as nth's is ever removed: taints of others (even with nth's keys but another
 *   value), a load-balancer label set by someone else and a cordon that was there before nth stay;
 * - re-running a function on the node it produced plans nothing (idempotent).
 *
 * @since 0.1.0
 */
import type { V1Node, V1Taint } from "@kubernetes/client-node"
import { EventId, type InterruptionEvent, NodeAction } from "@nth/events"
import {
  applyChange,
  type Change,
  type JsonPatch,
  type JsonPatchOperation,
  operations
} from "./internal/jsonPatch.ts"
import { markReadsManagedFields, readsManagedFields } from "./internal/wholeNode.ts"
import {
  encode,
  excludeFromLoadBalancersValue,
  hasWorkToUndo,
  labels,
  type MalformedRecord,
  type NodeRecord,
  type Read,
  type RecordedTaint,
  read,
  recordAnnotation,
  uncordonAfterRebootAction
} from "./NodeRecord.ts"

export type { JsonPatch, JsonPatchOperation } from "./internal/jsonPatch.ts"

// ---------------------------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------------------------

/**
 * What a write does and the patch that does it.
 *
 * - `result`: what nth did (or, with nothing to write, found already done).
 * - `patch`: the JSON Patch to send, `undefined` when the node already is as wanted.
 * - `malformedRecord`: the record annotation could not be read; it was treated as absent.
 *
 * @category models
 * @since 0.1.0
 */
export interface Plan<A> {
  readonly result: A
  readonly patch: JsonPatch | undefined
  readonly malformedRecord?: MalformedRecord
}

/**
 * The event a write is done for; recorded on the node. `id` is the full event id (taint and label values are
 * cut to 63 characters, the record keeps it whole).
 *
 * @category models
 * @since 0.1.0
 */
export interface EventRef {
  readonly id: string
  readonly kind?: InterruptionEvent.Kind
}

/**
 * A taint as found on a node.
 *
 * @category models
 * @since 0.1.0
 */
export interface NodeTaint {
  readonly key: string
  readonly value: string
  readonly effect: string
}

/**
 * - `Added`: nth added the taint.
 * - `AlreadyPresent`: nth's taint is there (added before, or the same key and value found, e.g. from the Go
 *   handler, and taken over).
 * - `KeyTaken`: a taint with that key but another value (another event's, or someone else's) is there; as in
 *   the Go handler it is left unchanged.
 *
 * @category models
 * @since 0.1.0
 */
export type TaintAdded =
  | { readonly _tag: "Added"; readonly taint: NodeAction.Taint }
  | { readonly _tag: "AlreadyPresent"; readonly taint: NodeTaint }
  | { readonly _tag: "KeyTaken"; readonly existing: NodeTaint }

/**
 * @category models
 * @since 0.1.0
 */
export interface TaintsRemoved {
  readonly removed: ReadonlyArray<NodeTaint>
}

/**
 * - `Marked`: recorded; `actionLabels` says whether the Go handler's `action`/`action-time` labels were written
 *   (not when the node was already cordoned by someone else, exactly as the Go handler does).
 * - `AlreadyMarked`: the record already asks for it for this event (its time is kept, or the reboot would be
 *   missed).
 *
 * @category models
 * @since 0.1.0
 */
export type RebootMarked =
  | { readonly _tag: "Marked"; readonly actionLabels: boolean }
  | { readonly _tag: "AlreadyMarked" }

/**
 * - `Excluded`: nth set the label.
 * - `AlreadyExcluded`: nth had set it.
 * - `HeldByOther`: the label was there already (any value); nth will not remove it.
 *
 * @category models
 * @since 0.1.0
 */
export type LoadBalancersExcluded =
  | { readonly _tag: "Excluded" }
  | { readonly _tag: "AlreadyExcluded" }
  | { readonly _tag: "HeldByOther"; readonly value: string }

/**
 * - `Cordoned`: nth set `spec.unschedulable`.
 * - `AlreadyCordoned`: the record already says who cordoned it (`byNth`).
 * - `CordonedByOther`: the node was already unschedulable; recorded as someone else's cordon.
 *
 * @category models
 * @since 0.1.0
 */
export type Cordoned =
  | { readonly _tag: "Cordoned" }
  | { readonly _tag: "AlreadyCordoned"; readonly byNth: boolean }
  | { readonly _tag: "CordonedByOther" }

/**
 * @category models
 * @since 0.1.0
 */
export interface CordonRecorded {
  /** Whether the record says the cordon is nth's (and so may be undone by nth). */
  readonly byNth: boolean
}

/**
 * @category models
 * @since 0.1.0
 */
export interface DrainRecorded {
  readonly startedAt: Date
  readonly finishedAt: Date | undefined
}

/**
 * What happened to the cordon when clearing:
 * - `Uncordoned`: nth had cordoned the node and removed its cordon;
 * - `NthCordonKept`: nth's cordon is there but `uncordon: false` was asked (the caller uncordons);
 * - `OtherCordonKept`: the node is unschedulable but not by nth's doing: left as it is;
 * - `NotCordoned`: the node is schedulable.
 *
 * @category models
 * @since 0.1.0
 */
export type CordonAfterClear = "Uncordoned" | "NthCordonKept" | "OtherCordonKept" | "NotCordoned"

/**
 * @category models
 * @since 0.1.0
 */
export interface Cleared {
  /** The events the record named (put them on the event store's ignore list). */
  readonly eventIds: ReadonlyArray<string>
  readonly removedTaints: ReadonlyArray<NodeTaint>
  readonly removedLabels: ReadonlyArray<string>
  readonly cordon: CordonAfterClear
  /** Whether the record annotation was removed. */
  readonly recordRemoved: boolean
}

/**
 * - `NotMarked`: no uncordon after reboot was asked for: nothing to do.
 * - `NotRebooted`: asked for, but the node has not rebooted since: nothing done. The reboot is still to come:
 *   whether `eventId`'s drain is done is the record's to say (`drain.finishedAt`); a drain cut short by a restart
 *   must be resumed, not ignored.
 * - `Rebooted`: the node rebooted since it was marked: nth's work was undone (`cleared`); ignore `eventId`.
 *
 * @category models
 * @since 0.1.0
 */
export type RebootChecked =
  | { readonly _tag: "NotMarked" }
  | { readonly _tag: "NotRebooted"; readonly eventId: string }
  | { readonly _tag: "Rebooted"; readonly eventId: string; readonly cleared: Cleared }

// ---------------------------------------------------------------------------------------------------------------
// Shared steps
// ---------------------------------------------------------------------------------------------------------------

interface Current {
  readonly node: V1Node
  readonly read: Read
  /** The record as read, or a fresh one that says how the node was found. */
  readonly record: NodeRecord
  readonly now: Date
}

interface Step<A> {
  readonly result: A
  readonly change?: Change
  /** The record after the write: `null` removes the annotation; `undefined` leaves it. */
  readonly record?: NodeRecord | null
}

const maxEvents = 16

const fresh = (node: V1Node): NodeRecord => ({
  version: 1,
  events: [],
  unschedulableBefore: node.spec?.unschedulable === true,
  taints: []
})

const isEmpty = (record: NodeRecord): boolean =>
  record.events.length === 0 &&
  record.rebalanceCordonLifted === undefined &&
  record.rebalanceLiftAt === undefined &&
  record.claim === undefined &&
  record.drain === undefined &&
  record.cordoned === undefined &&
  !hasWorkToUndo(record)

const withEvent = (record: NodeRecord, event: EventRef | undefined, now: Date): NodeRecord =>
  event === undefined || record.events.some((recorded) => recorded.id === event.id)
    ? record
    : {
        ...record,
        events: [
          ...record.events,
          { id: event.id, ...(event.kind === undefined ? {} : { kind: event.kind }), at: now }
        ].slice(-maxEvents)
      }

const plan = <A>(node: V1Node, now: Date, step: (current: Current) => Step<A>): Plan<A> => {
  const found = read(node)
  const {
    result,
    change = {},
    record
  } = step({ node, read: found, record: found.record ?? fresh(node), now })
  const before = found.record === undefined ? undefined : encode(found.record)
  const after = record === undefined || record === null || isEmpty(record) ? null : encode(record)
  // A record that says nothing new is not rewritten: re-running a write must plan nothing.
  const annotation =
    record === undefined || (after !== null && after === before) ? {} : { [recordAnnotation]: after }
  const whole = { ...change, annotations: { ...change.annotations, ...annotation } }
  const patch = operations(node, whole)
  const planned: Plan<A> = {
    result,
    patch: patch.length === 0 ? undefined : patch,
    ...(found.malformed === undefined ? {} : { malformedRecord: found.malformed })
  }
  nodeAfter.set(planned, patch.length === 0 ? node : applyChange(node, whole))
  return planned
}

// The node as each plan's patch leaves it, for `sequence` to compute the next write on. Kept beside the plans
// rather than in them so that a plan stays what it was (a result and a patch) for every caller and test.
const nodeAfter = new WeakMap<Plan<unknown>, V1Node>()

// ---------------------------------------------------------------------------------------------------------------
// Several writes as one
// ---------------------------------------------------------------------------------------------------------------

/**
 * One write computed on a node: any of this module's functions with its input given, e.g.
 * `(node, now) => NodePlan.cordon(node, { event }, now)`.
 *
 * @category models
 * @since 0.3.0
 */
export type Compute<A> = (node: V1Node, now: Date) => Plan<A>

/**
 * Several writes as one: each is computed on the node as the writes before it leave it, and their patches are
 * sent together (JSON Patch operations apply in order), so that a node's claim, taint and cordon cost one
 * request and land together or not at all. The result lists each write's result in order.
 *
 * `accept` can end the list early: a write whose result it refuses is left out (its patch too) with every
 * write after it, and its result is the last one listed (e.g. a claim another handler holds: nothing is
 * written).
 *
 * Only this module's own writes can be sequenced (a hand-made plan does not say how it leaves the node).
 *
 * @category combinators
 * @since 0.3.0
 */
export const sequence =
  (
    writes: ReadonlyArray<Compute<unknown>>,
    options: { readonly accept?: (result: unknown, index: number) => boolean } = {}
  ): Compute<ReadonlyArray<unknown>> =>
  (node, now) => {
    const results: Array<unknown> = []
    const patch: Array<JsonPatchOperation> = []
    let current = node
    let malformedRecord: MalformedRecord | undefined
    let wholeNode = false
    for (const [index, write] of writes.entries()) {
      const planned = write(current, now)
      results.push(planned.result)
      wholeNode ||= readsManagedFields(planned)
      malformedRecord ??= planned.malformedRecord
      if (options.accept !== undefined && !options.accept(planned.result, index)) break
      const after = nodeAfter.get(planned)
      if (after === undefined) throw new Error("NodePlan.sequence: a write not made by NodePlan")
      patch.push(...(planned.patch ?? []))
      current = after
    }
    const sequenced: Plan<ReadonlyArray<unknown>> = {
      result: results,
      patch: patch.length === 0 ? undefined : patch,
      ...(malformedRecord === undefined ? {} : { malformedRecord })
    }
    nodeAfter.set(sequenced, current)
    return wholeNode ? markReadsManagedFields(sequenced) : sequenced
  }

const toNodeTaint = (taint: V1Taint): NodeTaint => ({
  key: taint.key,
  value: taint.value ?? "",
  effect: taint.effect
})

const isRecorded = (recorded: RecordedTaint, taint: V1Taint): boolean =>
  recorded.key === taint.key && recorded.value === (taint.value ?? "") && recorded.effect === taint.effect

// ---------------------------------------------------------------------------------------------------------------
// Taints
// ---------------------------------------------------------------------------------------------------------------

/**
 * The taint nth puts on a node for an event: the Go handler's key for the kind (so existing tolerations keep
 * working), the event id cut to a label value, the given effect (default `NoSchedule`). `undefined` for kinds
 * that are never tainted.
 *
 * @category taints
 * @since 0.1.0
 */
export const taintFor = (
  kind: InterruptionEvent.Kind,
  eventId: string,
  effect: NodeAction.TaintEffect = "NoSchedule"
): NodeAction.Taint | undefined => {
  const key = NodeAction.taintKeys[kind]
  return key === undefined ? undefined : { key, value: EventId.toLabelValue(eventId), effect }
}

/**
 * Adds a taint unless a taint with the same key is there (the Go handler's rule: an existing taint's value and
 * effect are never changed). The taint is recorded as nth's, so that only it is removed later.
 *
 * @category taints
 * @since 0.1.0
 */
export const addTaint = (
  node: V1Node,
  input: { readonly taint: NodeAction.Taint; readonly event?: EventRef },
  now: Date
): Plan<TaintAdded> =>
  plan<TaintAdded>(node, now, ({ record }) => {
    const { taint, event } = input
    const existing = node.spec?.taints?.find((candidate) => candidate.key === taint.key)
    if (existing === undefined) {
      return {
        result: { _tag: "Added", taint },
        change: { addTaints: [{ key: taint.key, value: taint.value, effect: taint.effect }] },
        record: {
          ...withEvent(record, event, now),
          taints: [...record.taints.filter((recorded) => recorded.key !== taint.key), { ...taint, at: now }]
        }
      }
    }
    if ((existing.value ?? "") !== taint.value) {
      return { result: { _tag: "KeyTaken", existing: toNodeTaint(existing) } }
    }
    if (record.taints.some((recorded) => isRecorded(recorded, existing))) {
      return { result: { _tag: "AlreadyPresent", taint: toNodeTaint(existing) } }
    }
    const effect = existing.effect
    // Same key and value: the taint of this very event, put there by the Go handler or by an nth whose record
    // was lost. It is taken over, so that it is removed with nth's other marks.
    if (isTaintEffect(effect)) {
      return {
        result: { _tag: "AlreadyPresent", taint: toNodeTaint(existing) },
        record: {
          ...withEvent(record, event, now),
          taints: [
            ...record.taints.filter((recorded) => recorded.key !== taint.key),
            { key: existing.key, value: taint.value, effect, at: now }
          ]
        }
      }
    }
    return { result: { _tag: "KeyTaken", existing: toNodeTaint(existing) } }
  })

const isTaintEffect = (effect: string): effect is NodeAction.TaintEffect =>
  effect === "NoSchedule" || effect === "PreferNoSchedule" || effect === "NoExecute"

/**
 * Removes the taints nth added (all of them, or those with the given keys). A taint is nth's when the record
 * lists it with the same key, value and effect; without a record, the Go handler's four keys are (its own rule).
 * Removing what is not there plans nothing.
 *
 * @category taints
 * @since 0.1.0
 */
export const removeTaints = (
  node: V1Node,
  input: { readonly keys?: ReadonlyArray<string> },
  now: Date
): Plan<TaintsRemoved> =>
  plan<TaintsRemoved>(node, now, ({ record }) => {
    const selected = (recorded: RecordedTaint) =>
      input.keys === undefined || input.keys.includes(recorded.key)
    const candidates = record.taints.filter(selected)
    const taints = node.spec?.taints ?? []
    const indices = taints.flatMap((taint, index) =>
      candidates.some((recorded) => isRecorded(recorded, taint)) ? [index] : []
    )
    return {
      result: { removed: indices.flatMap((index) => (taints[index] ? [toNodeTaint(taints[index])] : [])) },
      change: { removeTaintsAt: indices },
      record: { ...record, taints: record.taints.filter((recorded) => !selected(recorded)) }
    }
  })

// ---------------------------------------------------------------------------------------------------------------
// Labels
// ---------------------------------------------------------------------------------------------------------------

/**
 * Marks the node to be uncordoned when it comes back from the reboot (or stop) it is drained for. Writes the
 * Go handler's `event-id` label, and its `action=UncordonAfterReboot` and `action-time` labels unless the node is
 * cordoned by someone else (an operator's cordon must outlive the reboot). The record asks for the uncordon
 * after reboot either way: its cordon entry decides whether the cordon is undone.
 *
 * @category labels
 * @since 0.1.0
 */
export const markUncordonAfterReboot = (
  node: V1Node,
  input: { readonly event: EventRef },
  now: Date
): Plan<RebootMarked> =>
  plan<RebootMarked>(node, now, ({ record }) => {
    const { event } = input
    if (record.uncordonAfterReboot?.eventId === event.id) return { result: { _tag: "AlreadyMarked" } }
    const actionLabels = node.spec?.unschedulable !== true || record.cordoned?.byNth === true
    return {
      result: { _tag: "Marked", actionLabels },
      change: {
        labels: {
          [labels.eventId]: EventId.toLabelValue(event.id),
          ...(actionLabels
            ? {
                [labels.action]: uncordonAfterRebootAction,
                [labels.actionTime]: String(Math.floor(now.getTime() / 1000))
              }
            : {})
        }
      },
      record: { ...withEvent(record, event, now), uncordonAfterReboot: { eventId: event.id, at: now } }
    }
  })

/**
 * Labels the node `node.kubernetes.io/exclude-from-external-load-balancers=aws-node-termination-handler`
 * before it is drained, unless the label is there already (any value: then it is someone else's and stays).
 *
 * @category labels
 * @since 0.1.0
 */
export const excludeFromLoadBalancers = (
  node: V1Node,
  input: { readonly event?: EventRef },
  now: Date
): Plan<LoadBalancersExcluded> =>
  plan<LoadBalancersExcluded>(node, now, ({ record }) => {
    const value = node.metadata?.labels?.[labels.excludeFromLoadBalancers]
    if (value === undefined) {
      return {
        result: { _tag: "Excluded" },
        change: { labels: { [labels.excludeFromLoadBalancers]: excludeFromLoadBalancersValue } },
        record: { ...withEvent(record, input.event, now), excludedFromLoadBalancers: { at: now } }
      }
    }
    return record.excludedFromLoadBalancers !== undefined && value === excludeFromLoadBalancersValue
      ? { result: { _tag: "AlreadyExcluded" } }
      : { result: { _tag: "HeldByOther", value } }
  })

// ---------------------------------------------------------------------------------------------------------------
// Cordon and drain, as recorded
// ---------------------------------------------------------------------------------------------------------------

/**
 * Cordons the node and records the cordon as nth's in the same write, so that nth can later tell its own cordon
 * from an operator's even if it crashed right after cordoning. A node found unschedulable is recorded as
 * cordoned by someone else.
 *
 * @category cordon
 * @since 0.1.0
 */
export const cordon = (node: V1Node, input: { readonly event?: EventRef }, now: Date): Plan<Cordoned> =>
  plan<Cordoned>(node, now, ({ record }) => {
    if (node.spec?.unschedulable !== true) {
      return {
        result: { _tag: "Cordoned" },
        change: { unschedulable: true },
        record: { ...withEvent(record, input.event, now), cordoned: { byNth: true, at: now } }
      }
    }
    if (record.cordoned !== undefined) {
      // The event is listed all the same: what nth later undoes for another event (a cancelled scheduled event,
      // a rebalance cordon lifted) must see that this one holds the node too.
      return {
        result: { _tag: "AlreadyCordoned", byNth: record.cordoned.byNth },
        record: withEvent(record, input.event, now)
      }
    }
    return {
      result: { _tag: "CordonedByOther" },
      record: { ...withEvent(record, input.event, now), cordoned: { byNth: false, at: now } }
    }
  })

/**
 * Records a cordon made by someone else's code (e.g. the drainer). `alreadyCordoned` says whether the node was
 * unschedulable before that cordon; when not given, the record's `unschedulableBefore` decides, and without a
 * record the cordon is taken to be someone else's (so nth never undoes a cordon it cannot prove is its own).
 * A cordon already recorded is kept as recorded.
 *
 * @category cordon
 * @since 0.1.0
 */
export const markCordoned = (
  node: V1Node,
  input: { readonly alreadyCordoned?: boolean; readonly event?: EventRef },
  now: Date
): Plan<CordonRecorded> =>
  plan<CordonRecorded>(node, now, ({ record }) => {
    if (record.cordoned !== undefined && node.spec?.unschedulable === true) {
      return { result: { byNth: record.cordoned.byNth } }
    }
    const byNth = !(input.alreadyCordoned ?? record.unschedulableBefore)
    return {
      result: { byNth },
      record: { ...withEvent(record, input.event, now), cordoned: { byNth, at: now } }
    }
  })

/**
 * Records that the drain started (kept if a drain is already under way).
 *
 * @category drain
 * @since 0.1.0
 */
export const recordDrainStarted = (
  node: V1Node,
  input: { readonly event?: EventRef },
  now: Date
): Plan<DrainRecorded> =>
  plan<DrainRecorded>(node, now, ({ record }) => {
    if (record.drain !== undefined && record.drain.finishedAt === undefined) {
      // A drain is under way: an event that joins it is recorded beside the one that started it.
      return {
        result: { startedAt: record.drain.startedAt, finishedAt: undefined },
        record: withEvent(record, input.event, now)
      }
    }
    return {
      result: { startedAt: now, finishedAt: undefined },
      record: { ...withEvent(record, input.event, now), drain: { startedAt: now } }
    }
  })

/**
 * Records that the drain finished (kept if already recorded as finished).
 *
 * @category drain
 * @since 0.1.0
 */
export const recordDrained = (
  node: V1Node,
  input: { readonly event?: EventRef },
  now: Date
): Plan<DrainRecorded> =>
  plan<DrainRecorded>(node, now, ({ record }) => {
    if (record.drain?.finishedAt !== undefined) {
      return {
        result: { startedAt: record.drain.startedAt, finishedAt: record.drain.finishedAt },
        record: withEvent(record, input.event, now)
      }
    }
    const startedAt = record.drain?.startedAt ?? now
    return {
      result: { startedAt, finishedAt: now },
      record: { ...withEvent(record, input.event, now), drain: { startedAt, finishedAt: now } }
    }
  })

// ---------------------------------------------------------------------------------------------------------------
// Claims: one handler at a time on a node
// ---------------------------------------------------------------------------------------------------------------

/**
 * - `Claimed`: the caller holds the node until `until` (taken, renewed, or taken over from an expired claim).
 *   `record` is the record as it was before the claim (`undefined`: nth had no record of the node): what earlier
 *   handlers did for the caller to resume from.
 * - `HeldElsewhere`: another handler holds the node, for `eventId`, until `until` unless it renews.
 *
 * @category claims
 * @since 0.3.0
 */
export type Claimed =
  | { readonly _tag: "Claimed"; readonly until: Date; readonly record: NodeRecord | undefined }
  | {
      readonly _tag: "HeldElsewhere"
      readonly holder: string
      readonly eventId: string | undefined
      readonly until: Date
    }

/**
 * Claims the node for `holder` for `leaseMs` from `now`, unless another holder's claim has not expired yet;
 * claiming again renews. Sent pinned to the node's resourceVersion like every write, so of two handlers
 * claiming at once one wins and the other reads the winner's claim. Expiry is judged by the caller's clock: the
 * lease must be long against the clock skew between handlers (nodes and pods are kept in sync by NTP).
 *
 * @category claims
 * @since 0.3.0
 */
export const claim = (
  node: V1Node,
  input: { readonly holder: string; readonly event?: EventRef; readonly leaseMs: number },
  now: Date
): Plan<Claimed> =>
  plan<Claimed>(node, now, ({ read: found, record }) => {
    const held = record.claim
    if (held !== undefined && held.holder !== input.holder && held.until.getTime() > now.getTime()) {
      return {
        result: { _tag: "HeldElsewhere", holder: held.holder, eventId: held.eventId, until: held.until }
      }
    }
    const until = new Date(now.getTime() + input.leaseMs)
    const eventId = input.event?.id ?? (held?.holder === input.holder ? held.eventId : undefined)
    return {
      result: { _tag: "Claimed", until, record: found.record },
      record: {
        ...record,
        claim: { holder: input.holder, ...(eventId === undefined ? {} : { eventId }), until }
      }
    }
  })

/**
 * Gives up `holder`'s claim (nothing to do when the node is not held by it). True when a claim was removed.
 *
 * @category claims
 * @since 0.3.0
 */
export const releaseClaim = (node: V1Node, input: { readonly holder: string }, now: Date): Plan<boolean> =>
  plan<boolean>(node, now, ({ record }) => {
    if (record.claim?.holder !== input.holder) return { result: false }
    const { claim: _released, ...rest } = record
    return { result: true, record: rest }
  })

// ---------------------------------------------------------------------------------------------------------------
// Undoing
// ---------------------------------------------------------------------------------------------------------------

/** The field manager nth writes with, unless the caller names another. */
export const defaultFieldManager = "nth"

/**
 * Who last set `spec.unschedulable`, as the API server's managedFields tell it (empty when it does not say). An
 * operator who uncordons nth's cordon and cordons again owns the cordon from then on, though nth's record still
 * says it was nth's.
 */
const cordonOwners = (node: V1Node): ReadonlyArray<string> =>
  (node.metadata?.managedFields ?? []).flatMap((entry) => {
    const spec = (entry.fieldsV1 as { "f:spec"?: Record<string, unknown> } | undefined)?.["f:spec"]
    return spec !== undefined && Object.hasOwn(spec, "f:unschedulable") && entry.manager
      ? [entry.manager]
      : []
  })

/**
 * The field managers the Go handler writes as (client-go names it after its binary): its cordon, met at a swap
 * mid-handling, is nth's to undo as its own would be.
 */
const goHandlerManagers: ReadonlyArray<string> = ["node-termination-handler", "aws-node-termination-handler"]

const clearStep = (current: Current, uncordon: boolean, fieldManager: string): Step<Cleared> => {
  const { node, read: found } = current
  const record = found.record
  const taints = node.spec?.taints ?? []
  const taintIndices = taints.flatMap((taint, index) =>
    record?.taints.some((recorded) => isRecorded(recorded, taint)) ? [index] : []
  )
  const nodeLabels = node.metadata?.labels ?? {}
  const loadBalancerLabel =
    record?.excludedFromLoadBalancers !== undefined &&
    nodeLabels[labels.excludeFromLoadBalancers] === excludeFromLoadBalancersValue
      ? [labels.excludeFromLoadBalancers]
      : []
  const labelsToRemove = [labels.eventId, labels.action, labels.actionTime, ...loadBalancerLabel].filter(
    (key) => Object.hasOwn(nodeLabels, key)
  )
  const owners = cordonOwners(node)
  const cordoned: CordonAfterClear =
    node.spec?.unschedulable !== true
      ? "NotCordoned"
      : record?.cordoned?.byNth !== true ||
          (owners.length > 0 &&
            !owners.some((owner) => owner === fieldManager || goHandlerManagers.includes(owner)))
        ? "OtherCordonKept"
        : uncordon
          ? "Uncordoned"
          : "NthCordonKept"
  return {
    result: {
      eventIds: record?.events.map((event) => event.id) ?? [],
      removedTaints: taintIndices.flatMap((index) => (taints[index] ? [toNodeTaint(taints[index])] : [])),
      removedLabels: labelsToRemove,
      cordon: cordoned,
      recordRemoved: node.metadata?.annotations?.[recordAnnotation] !== undefined
    },
    change: {
      removeTaintsAt: taintIndices,
      labels: Object.fromEntries(labelsToRemove.map((key) => [key, null])),
      ...(cordoned === "Uncordoned" ? { unschedulable: false } : {})
    },
    record: null
  }
}

/**
 * Undoes everything nth did to the node (what a cancelled or completed scheduled event needs): removes nth's
 * taints, the Go handler's labels, the load-balancer label if nth set it, and the record; uncordons the node if
 * nth cordoned it (`uncordon: false` leaves that to the caller and reports `NthCordonKept`). A cordon that was
 * not nth's is never removed, nor one someone else set again after nth's (the node's managedFields name another
 * manager than `fieldManager`, default `nth`, as the last to set `spec.unschedulable`).
 *
 * @category undoing
 * @since 0.1.0
 */
export const clear = (
  node: V1Node,
  input: { readonly uncordon?: boolean; readonly fieldManager?: string },
  now: Date
): Plan<Cleared> =>
  markReadsManagedFields(
    plan<Cleared>(node, now, (current) =>
      clearStep(current, input.uncordon ?? true, input.fieldManager ?? defaultFieldManager)
    )
  )

/**
 * - `Lifted`: nth's rebalance cordon (and taint, and the rest of its marks) was undone: `cleared` says what went.
 *   The node's cordon stays when it was not nth's (`cleared.cordon`).
 * - `NotYet`: the record shows the rebalance cordon alone, but its time is not up: look again at `at`.
 * - `Kept`: the node is not nth's rebalance cordon alone, or no lift is due (another event is recorded, the node
 *   was drained, another handler holds it, no lift was planned): nothing is done, and `reason` says why.
 *
 * @category undoing
 * @since 0.5.0
 */
export type RebalanceLift =
  | { readonly _tag: "Lifted"; readonly eventIds: ReadonlyArray<string>; readonly cleared: Cleared }
  | { readonly _tag: "NotYet"; readonly at: Date }
  | { readonly _tag: "Kept"; readonly reason: string }

/** The record's kind of a rebalance recommendation (`InterruptionEvent` kind names). */
const rebalanceKind: InterruptionEvent.Kind = "RebalanceRecommendation"

/**
 * Plans the lift of a rebalance recommendation's cordon `afterMs` from `now` (`rebalanceLiftAt` in the record):
 * written with the cordon, so that the record says what nth intends and whoever reads it after a restart (or
 * another replica) knows. A newer recommendation moves it.
 *
 * @category undoing
 * @since 0.5.0
 */
export const planRebalanceLift = (
  node: V1Node,
  input: { readonly event: EventRef; readonly afterMs: number },
  now: Date
): Plan<Date> =>
  plan<Date>(node, now, ({ record }) => {
    const at = new Date(now.getTime() + input.afterMs)
    return {
      result: at,
      record: { ...withEvent(record, input.event, now), rebalanceLiftAt: { eventId: input.event.id, at } }
    }
  })

/**
 * Lifts a rebalance recommendation's cordon that nothing followed, as {@link planRebalanceLift} planned it: when
 * its time is up and the record lists rebalance recommendations alone (no interruption, scheduled event or
 * lifecycle action since), shows no drain and no other handler's live claim, undoes nth's work as {@link clear}
 * does and remembers the lifted recommendation (`rebalanceCordonLifted`) so that it is not acted on again. Pinned
 * to the node's resourceVersion like every write: an interruption recorded in between makes the write fail with
 * a conflict and be computed again, which then keeps the cordon. A cordon without a planned lift is never lifted.
 *
 * @category undoing
 * @since 0.5.0
 */
export const liftRebalanceCordon = (
  node: V1Node,
  input: { readonly holder?: string | undefined; readonly fieldManager?: string },
  now: Date
): Plan<RebalanceLift> =>
  markReadsManagedFields(
    plan<RebalanceLift>(node, now, (current): Step<RebalanceLift> => {
      const record = current.read.record
      const kept = (reason: string): Step<RebalanceLift> => ({ result: { _tag: "Kept", reason } })
      const due = record?.rebalanceLiftAt
      if (record === undefined || due === undefined) return kept("no lift of a rebalance cordon is planned")
      const others = record.events.filter((event) => event.kind !== rebalanceKind)
      if (others.length > 0) {
        return kept(
          `the record holds another event (${others.map((event) => event.kind ?? event.id).join(", ")})`
        )
      }
      if (record.drain !== undefined) return kept("the node was drained")
      const held = record.claim
      if (held !== undefined && held.holder !== input.holder && held.until.getTime() > now.getTime()) {
        return kept(`${held.holder} is handling the node`)
      }
      if (due.at.getTime() > now.getTime()) return { result: { _tag: "NotYet", at: due.at } }
      const cleared = clearStep(current, true, input.fieldManager ?? defaultFieldManager)
      return {
        result: { _tag: "Lifted", eventIds: record.events.map((event) => event.id), cleared: cleared.result },
        change: cleared.change ?? {},
        record: {
          ...fresh(node),
          // The node as the lift leaves it: still unschedulable only under someone else's cordon.
          unschedulableBefore: cleared.result.cordon === "OtherCordonKept",
          rebalanceCordonLifted: { eventId: due.eventId, at: now }
        }
      }
    })
  )

/**
 * At start-up: if the record asks for an uncordon after reboot and the node has booted since it was marked
 * (`now − marked ≥ uptime`, the Go handler's test), undoes nth's work as {@link clear} does. Reading the uptime
 * (`/proc/uptime`) is the caller's job.
 *
 * @category undoing
 * @since 0.1.0
 */
export const uncordonAfterReboot = (
  node: V1Node,
  input: { readonly uptimeSeconds: number; readonly fieldManager?: string },
  now: Date
): Plan<RebootChecked> => markReadsManagedFields(uncordonAfterRebootPlan(node, input, now))

const uncordonAfterRebootPlan = (
  node: V1Node,
  input: { readonly uptimeSeconds: number; readonly fieldManager?: string },
  now: Date
): Plan<RebootChecked> =>
  plan<RebootChecked>(node, now, (current): Step<RebootChecked> => {
    const mark = current.read.record?.uncordonAfterReboot
    if (mark === undefined) return { result: { _tag: "NotMarked" } }
    const secondsSinceMarked = (now.getTime() - mark.at.getTime()) / 1000
    if (secondsSinceMarked < input.uptimeSeconds) {
      return { result: { _tag: "NotRebooted", eventId: mark.eventId } }
    }
    const cleared = clearStep(current, true, input.fieldManager ?? defaultFieldManager)
    return { ...cleared, result: { _tag: "Rebooted", eventId: mark.eventId, cleared: cleared.result } }
  })
