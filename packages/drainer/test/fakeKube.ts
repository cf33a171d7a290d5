/**
 * An API server in memory, for the unit tests: a node, its pods and budgets, evictions that delete pods, watches
 * that replay from a resourceVersion, and faults injected per kind of call.
 */
import type { V1Eviction, V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node"
import { type KubeClient, KubeError } from "@nth/kube"
import { Effect, Queue, Stream } from "effect"

/** The kinds of call a fault can be injected into. */
export type CallKind =
  | "readNode"
  | "patchNode"
  | "listPods"
  | "readPod"
  | "evict"
  | "delete"
  | "listBudgets"
  | "watchPods"
  | "watchBudgets"

export interface Call {
  readonly kind: CallKind
  readonly pod?: string | undefined
  readonly params?: unknown
}

interface Logged {
  readonly resourceVersion: number
  readonly type: "ADDED" | "MODIFIED" | "DELETED"
  readonly object: unknown
}

export const httpError = (
  status: number,
  message: string,
  extra: { readonly causes?: ReadonlyArray<{ reason?: string; message?: string }> } = {}
) =>
  KubeError.fromUnknown("fake", {
    code: status,
    body: JSON.stringify({ message, details: { causes: extra.causes } }),
    headers: {}
  })

export const budgetRefusal = (budget: string) =>
  httpError(429, "Cannot evict pod as it would violate the pod's disruption budget.", {
    causes: [
      {
        reason: "DisruptionBudget",
        message: `The disruption budget ${budget} needs 2 healthy pods and has 2`
      }
    ]
  })

const clone = <A>(value: A): A => JSON.parse(JSON.stringify(value)) as A

export const makePod = (
  name: string,
  options: {
    readonly namespace?: string
    readonly uid?: string
    readonly node?: string
    readonly labels?: Record<string, string>
    readonly priorityClassName?: string
    readonly deletionTimestamp?: Date
    readonly terminationGracePeriodSeconds?: number
  } = {}
): V1Pod => ({
  metadata: {
    name,
    namespace: options.namespace ?? "default",
    uid: options.uid ?? `${name}-uid`,
    labels: options.labels ?? { app: name },
    ownerReferences: [
      { apiVersion: "apps/v1", kind: "ReplicaSet", name: "rs", uid: "rs-uid", controller: true }
    ],
    ...(options.deletionTimestamp ? { deletionTimestamp: options.deletionTimestamp } : {})
  },
  spec: {
    nodeName: options.node ?? "node-1",
    containers: [{ name: "app" }],
    terminationGracePeriodSeconds: options.terminationGracePeriodSeconds ?? 30,
    ...(options.priorityClassName ? { priorityClassName: options.priorityClassName } : {})
  },
  status: { phase: "Running" }
})

export const makeFakeKube = (
  options: {
    readonly pods?: ReadonlyArray<V1Pod>
    readonly budgets?: ReadonlyArray<V1PodDisruptionBudget>
    readonly unschedulable?: boolean
    /** How long an evicted pod takes to go (ms); `undefined`: it never goes by itself. */
    readonly terminateAfterMs?: number | undefined
  } = {}
) => {
  let resourceVersion = 1
  const pods = new Map<string, V1Pod>()
  for (const pod of options.pods ?? []) pods.set(pod.metadata!.uid!, clone(pod))
  const budgets = new Map<string, V1PodDisruptionBudget>()
  for (const budget of options.budgets ?? []) budgets.set(budget.metadata!.name!, clone(budget))
  const node = { unschedulable: options.unschedulable ?? false }
  const podLog: Array<Logged> = []
  const budgetLog: Array<Logged> = []
  const listeners = { pods: new Set<(event: Logged) => void>(), budgets: new Set<(event: Logged) => void>() }
  const calls: Array<Call> = []
  let requests = 0
  const terminateAfterMs = "terminateAfterMs" in options ? options.terminateAfterMs : 10
  /** Return an error to fail the call. */
  let fault: (call: Call) => KubeError.KubeError | undefined = () => undefined

  const record = (kind: "pods" | "budgets", type: Logged["type"], object: unknown) => {
    resourceVersion += 1
    const withVersion = clone(object) as { metadata?: { resourceVersion?: string } }
    withVersion.metadata = { ...withVersion.metadata, resourceVersion: String(resourceVersion) }
    const event = { resourceVersion, type, object: withVersion }
    ;(kind === "pods" ? podLog : budgetLog).push(event)
    for (const listener of listeners[kind]) listener(event)
  }

  const findPod = (namespace: string, name: string) =>
    [...pods.values()].find((p) => p.metadata?.namespace === namespace && p.metadata?.name === name)

  const removePod = (uid: string) => {
    const pod = pods.get(uid)
    if (pod === undefined) return
    pods.delete(uid)
    record("pods", "DELETED", pod)
  }

  const updatePod = (pod: V1Pod) => {
    const existed = pods.has(pod.metadata!.uid!)
    pods.set(pod.metadata!.uid!, clone(pod))
    record("pods", existed ? "MODIFIED" : "ADDED", pod)
  }

  const startDeletion = (pod: V1Pod, graceSeconds: number | undefined) => {
    if (pod.metadata?.deletionTimestamp !== undefined) return
    const grace = graceSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30
    updatePod({
      ...pod,
      metadata: { ...pod.metadata, deletionTimestamp: new Date(Date.now() + grace * 1000) }
    })
    if (terminateAfterMs !== undefined) setTimeout(() => removePod(pod.metadata!.uid!), terminateAfterMs)
  }

  const fieldsOf = (selector: string | undefined) =>
    Object.fromEntries(
      (selector ?? "")
        .split(",")
        .filter(Boolean)
        .map((term) => term.split("=")) as [string, string][]
    )

  const attempt = <A>(call: Call, answer: () => A): Promise<A> => {
    calls.push(call)
    const error = fault(call)
    if (error) return Promise.reject(error)
    try {
      return Promise.resolve(answer())
    } catch (thrown) {
      return Promise.reject(thrown)
    }
  }

  const evictOrDelete = (
    kind: "evict" | "delete",
    namespace: string,
    name: string,
    deleteOptions: {
      gracePeriodSeconds?: number
      preconditions?: { uid?: string }
      dryRun?: Array<string>
    } = {},
    params: unknown
  ) =>
    attempt({ kind, pod: name, params }, () => {
      const pod = findPod(namespace, name)
      if (pod === undefined) throw httpError(404, `pods "${name}" not found`)
      const uid = deleteOptions.preconditions?.uid
      if (uid !== undefined && uid !== pod.metadata?.uid) throw httpError(409, "Precondition failed: UID")
      if (!deleteOptions.dryRun?.includes("All")) startDeletion(pod, deleteOptions.gracePeriodSeconds)
      return { kind: "Status", status: "Success" }
    })

  const watchLog = <A>(kind: "pods" | "budgets", params: Readonly<Record<string, unknown>>) => {
    const log = kind === "pods" ? podLog : budgetLog
    const from = Number(params.resourceVersion ?? resourceVersion)
    return Stream.callback<KubeClient.WatchEvent<A>, KubeError.KubeError>((queue) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const offer = (event: Logged) => {
            if (event.resourceVersion > from)
              Queue.offerUnsafe(queue, { type: event.type, object: event.object as A })
          }
          for (const event of log) offer(event)
          listeners[kind].add(offer)
          return offer
        }),
        (offer) => Effect.sync(() => listeners[kind].delete(offer))
      )
    )
  }

  const client: KubeClient.Service = {
    core: {
      readNode: ({ name }) =>
        attempt({ kind: "readNode" }, () => ({
          metadata: { name },
          spec: { unschedulable: node.unschedulable }
        })),
      patchNode: (params) =>
        attempt({ kind: "patchNode", params }, () => {
          const body = params.body as { spec: { unschedulable: boolean | null } }
          if (params.dryRun !== "All") node.unschedulable = body.spec.unschedulable === true
          return { metadata: { name: params.name }, spec: { unschedulable: node.unschedulable } }
        }),
      // The drainer never patches a node's status (nor should it): a call fails loudly.
      patchNodeStatus: ({ name }) =>
        Promise.reject(httpError(405, `the fake API server does not patch node ${name}'s status`)),
      // The drainer never lists nodes: the fake's one node, unrecorded.
      listNode: () =>
        Promise.resolve({
          metadata: { resourceVersion: String(resourceVersion) },
          items: [{ metadata: { name: "node-1" }, spec: { unschedulable: node.unschedulable } }]
        }),
      listPodForAllNamespaces: (params) => {
        const fields = fieldsOf(params.fieldSelector)
        const byName = fields["metadata.name"] !== undefined
        return attempt(
          { kind: byName ? "readPod" : "listPods", params, pod: fields["metadata.name"] },
          () => ({
            metadata: { resourceVersion: String(resourceVersion) },
            items: [...pods.values()]
              .filter(
                (pod) =>
                  (fields["spec.nodeName"] === undefined || pod.spec?.nodeName === fields["spec.nodeName"]) &&
                  (fields["metadata.name"] === undefined || pod.metadata?.name === fields["metadata.name"]) &&
                  (fields["metadata.namespace"] === undefined ||
                    pod.metadata?.namespace === fields["metadata.namespace"]) &&
                  Object.entries(fieldsOf(params.labelSelector)).every(
                    ([key, value]) => pod.metadata?.labels?.[key] === value
                  )
              )
              .map(clone)
          })
        )
      },
      createNamespacedPodEviction: (params) =>
        evictOrDelete(
          "evict",
          params.namespace,
          params.name,
          (params.body as V1Eviction).deleteOptions as never,
          params
        ),
      deleteNamespacedPod: (params) =>
        evictOrDelete("delete", params.namespace, params.name, params.body as never, params) as never,
      createNamespacedEvent: (params) => Promise.resolve(params.body),
      patchNamespacedEvent: (params) => Promise.resolve(params.body as never)
    },
    policy: {
      listPodDisruptionBudgetForAllNamespaces: (params) =>
        attempt({ kind: "listBudgets", params }, () => ({
          metadata: { resourceVersion: String(resourceVersion) },
          items: [...budgets.values()].map(clone)
        }))
    },
    apps: {
      readNamespacedDaemonSet: ({ name }) =>
        Promise.reject(httpError(404, `daemonsets.apps "${name}" not found`))
    },
    call: (operation, run) =>
      Effect.tryPromise({
        try: (signal) => {
          requests += 1
          return run({ signal })
        },
        catch: (error) => KubeError.fromUnknown(operation, error)
      }),
    watch: <A>(path: string, params: Readonly<Record<string, string | number | boolean | undefined>>) => {
      requests += 1
      const kind = path.includes("poddisruptionbudgets") ? "budgets" : "pods"
      const call: Call = { kind: kind === "pods" ? "watchPods" : "watchBudgets", params }
      calls.push(call)
      const error = fault(call)
      return error ? Stream.fail(error) : watchLog<A>(kind, params)
    },
    requestCount: () => requests
  }

  return {
    client,
    node,
    pods,
    calls,
    /** The calls of one kind, in order. */
    callsOf: (kind: CallKind) => calls.filter((call) => call.kind === kind),
    setFault: (injected: (call: Call) => KubeError.KubeError | undefined) => {
      fault = injected
    },
    findPod,
    removePod,
    updatePod,
    /** A budget event (and the budget's new state). */
    updateBudget: (budget: V1PodDisruptionBudget) => {
      budgets.set(budget.metadata!.name!, clone(budget))
      record("budgets", "MODIFIED", budget)
    }
  }
}

export type FakeKube = ReturnType<typeof makeFakeKube>

export const makeBudget = (
  name: string,
  disruptionsAllowed: number,
  namespace = "default"
): V1PodDisruptionBudget => ({
  metadata: { name, namespace },
  spec: { selector: { matchLabels: { app: name } } },
  status: { disruptionsAllowed, currentHealthy: 2, desiredHealthy: 2, expectedPods: 2 }
})
