/**
 * A KWOK of a test's own that heartbeats its node's status, as a kubelet does.
 *
 * The test bed's KWOK makes its nodes Ready once and then leaves their status alone: it runs with KWOK's "fast"
 * node stage only (node-initialize, applied while a node is not Ready) and renews the nodes' Leases (every 10 s),
 * not their status. A kubelet, and KWOK with its heartbeat stage (every 20 to 25 s without Leases), rewrites the
 * node's conditions on every status update. For a test that must see those writes happen (that something else
 * written to the node's status survives them), {@link startHeartbeats} runs a second KWOK for one node, with the
 * same node-initialize stage and KWOK's own heartbeat stage at a short interval. The node must not carry the
 * test bed KWOK's annotation (`kwok.x-k8s.io/node: fake`), or two KWOKs would manage it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { kwokDir } from "./paths.ts"
import { logTail, startProcess } from "./processes.ts"

// KWOK's own node-heartbeat stage (kustomize/stage/node/heartbeat), with the delay left to the caller: the node's
// conditions written with a strategic merge patch of its status, as kwok does for every Node stage.
const heartbeatStage = (delayMs: number) => `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-heartbeat
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'In'
      values:
      - 'True'
  delay:
    durationMilliseconds: ${delayMs}
    jitterDurationMilliseconds: ${Math.round(delayMs * 1.5)}
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $lastTransitionTime := or .metadata.creationTimestamp $now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $lastTransitionTime | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
  immediateNextStage: true
`

/** The node-initialize stage of the test bed's KWOK (the first Stage of the stages file it runs with). */
const nodeInitializeStage = (): string => {
  const documents = readFileSync(join(kwokDir, "stages.yaml"), "utf8").split(/^---$/m)
  const stage = documents.find((document) => /^\s*name: node-initialize\s*$/m.test(document))
  if (stage === undefined) throw new Error(`no node-initialize stage in ${join(kwokDir, "stages.yaml")}`)
  return stage.trim()
}

export interface Heartbeats {
  /** KWOK's log (one line per status patch). */
  readonly logFile: string
  readonly stop: () => Promise<void>
}

/**
 * Starts a KWOK that manages `nodeName` alone: makes it Ready (as the test bed's KWOK does), then rewrites its
 * conditions every `heartbeatMs` to 1.5 × `heartbeatMs` (default 1 s; KWOK adds its own few hundred ms), with a
 * fresh `lastHeartbeatTime`. Stop it before deleting the node.
 */
export const startHeartbeats = async (options: {
  readonly kubeconfig: string
  readonly nodeName: string
  readonly heartbeatMs?: number
}): Promise<Heartbeats> => {
  const dir = mkdtempSync(join(tmpdir(), "nth-kwok-"))
  const stages = join(dir, "stages.yaml")
  writeFileSync(stages, `${nodeInitializeStage()}\n---\n${heartbeatStage(options.heartbeatMs ?? 1000)}`)
  const kwok = startProcess(
    "kwok",
    join(kwokDir, "kwok"),
    [
      `--kubeconfig=${options.kubeconfig}`,
      `--manage-single-node=${options.nodeName}`,
      `--config=${stages}`,
      // Pod IPs apart from the test bed KWOK's (10.244.0.0/16), should a pod land on the node.
      "--cidr=10.246.0.0/16"
    ],
    { logDir: dir }
  )
  await sleep(300)
  if (!kwok.alive()) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`kwok for ${options.nodeName} exited at start:\n${logTail(kwok.logFile)}`)
  }
  return {
    logFile: kwok.logFile,
    stop: async () => {
      await kwok.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
