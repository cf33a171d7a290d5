/**
 * Queue-mode benchmark of the built Deployment program (dist/main.js) on the test bed: a burst of Spot
 * interruption warnings already waiting in the queue when nth starts.
 *
 * For each replica count (1, then 2: two processes with their own POD_NAME on one queue): `--nodes` (1000) KWOK
 * nodes backed by moto instances that carry this run's MANAGED_TAG, one Spot warning per instance (the
 * EventBridge envelope) loaded with SendMessageBatch into a fresh queue, then the program started with
 * TAINT_NODE=true. Measured from the spawn of the process(es):
 *
 * - until every node is cordoned and carries the `spot-itn` taint (one watch of the nodes, opened before the
 *   start; target ≤ 10 s for 1000);
 * - until the queue is empty (every message deleted), and messages/s over that time;
 * - Kubernetes requests per event: `apiserver_request_total` of the API server before the start and once the
 *   queue is empty, of the kinds nth's client makes (nodes, pods, evictions, events, budgets); the rest (KWOK's
 *   heartbeats and leases, the controllers, other clients of a shared test bed) is listed apart;
 * - AWS requests per event, counted by a forwarder in front of moto that the program's AWS_ENDPOINT points to,
 *   with each operation's latency and when the program had received half and all of the messages;
 * - CPU seconds of nth and of each test bed process over the run (and, before it, the idle test bed's load).
 *
 * Beside it, ceilings measured in the same run with the nodes in place, so that nth's times read as a multiple
 * of what the test bed allows: the emulator's (`SqsCeiling`: a bare loop of ReceiveMessage (10) +
 * DeleteMessageBatch over as many messages, 1 and 4 receivers, straight to moto and through the forwarder;
 * DescribeInstances of every instance, 100 ids a call) and the API server's (every node written once, 32 at a
 * time: one merge PATCH each, the least any handler needs to cordon and taint; and a GET + resourceVersion-
 * pinned JSON Patch each, as nth's TaintManager writes).
 *
 *   pnpm --filter @nth/deployment bench     (reuses `pnpm testbed up`, or starts a test bed for the run)
 *   node bench/queue.bench.ts --nodes 100 --workers 100 --replicas 1,2 --log-level info --logs /tmp/nth-bench
 *
 * (`NTH_BENCH_NODES` and `NTH_BENCH_WORKERS` set the first two through `pnpm bench`.)
 *
 * Exits non-zero only when a run does not finish within `--timeout` seconds, not when the target is missed.
 */
import { spawn } from "node:child_process"
import { randomBytes, randomUUID } from "node:crypto"
import { createWriteStream, existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { parseArgs } from "node:util"
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SendMessageBatchCommand
} from "@aws-sdk/client-sqs"
import { AwsEvents, Fixtures, Fleet, SqsCeiling, TestBed } from "@nth/testbed"
import { receiversFor } from "../src/Messages.ts"
import {
  apiServerRequests,
  cpuSeconds,
  difference,
  kubeWriteCeiling,
  startAwsCounter,
  watchNodes
} from "./instruments.ts"

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: process.env.NTH_BENCH_NODES ?? "1000" },
    // As many as the burst: every event is under way at once, so every node's cordon and taint (the first
    // writes of each event) come before the drains' writes. With 100, the events go in waves of 100 (the intake
    // holds WORKERS messages), each wave drained before the next is cordoned: ~1.5x slower to the last taint.
    workers: { type: "string", default: process.env.NTH_BENCH_WORKERS ?? "1000" },
    replicas: { type: "string", default: "1,2" },
    "log-level": { type: "string", default: "error" },
    /** A folder for each program's log (otherwise logs are dropped; the last lines are printed on a timeout). */
    logs: { type: "string" },
    timeout: { type: "string", default: "300" }
  }
})
const NODES = Number(values.nodes)
const WORKERS = Number(values.workers)
/** The long polls the program keeps in flight for WORKERS. */
const nthReceivers = receiversFor(WORKERS)
const REPLICAS = values.replicas.split(",").map(Number)
const TIMEOUT_MS = Number(values.timeout) * 1000
const TARGET_SECONDS = 10
const TAINT_KEY = "aws-node-termination-handler/spot-itn"

const appPath = join(import.meta.dirname, "..", "dist", "main.js")
if (!existsSync(appPath)) throw new Error(`${appPath} is missing: build first`)

const log = (line: string) => console.log(line)
const secondsSince = (from: number, to = Date.now()) => (to - from) / 1000

const { env, release } = await TestBed.acquire({ onProgress: (line) => log(`[testbed] ${line}`) })
const clients = Fixtures.makeClients(env)
const run = randomBytes(3).toString("hex")
const managedTag = `nth.dev/bench-queue-${run}`
const nodeLabels = { "bench.nth.dev/queue": run }
const labelSelector = `bench.nth.dev/queue=${run}`

/** The EventBridge envelope SQS receives from a rule, of an entry built by `AwsEvents`. */
const envelope = (entry: ReturnType<typeof AwsEvents.spotInterruptionWarning>) =>
  JSON.stringify({
    version: "0",
    id: randomUUID(),
    "detail-type": entry.DetailType,
    source: entry.Source,
    account: "123456789012",
    time: (entry.Time ?? new Date()).toISOString().replace(/\.\d+Z$/, "Z"),
    region: env.AWS_REGION,
    resources: entry.Resources ?? [],
    detail: JSON.parse(entry.Detail ?? "{}")
  })

/** A fresh queue holding one Spot warning per instance. */
const loadQueue = async (instances: ReadonlyArray<Fleet.Instance>) => {
  const { QueueUrl } = await clients.sqs.send(
    new CreateQueueCommand({ QueueName: `nth-bench-${run}-${randomBytes(2).toString("hex")}` })
  )
  if (!QueueUrl) throw new Error("CreateQueue returned no URL")
  const batches: Array<ReadonlyArray<Fleet.Instance>> = []
  for (let i = 0; i < instances.length; i += 10) batches.push(instances.slice(i, i + 10))
  let next = 0
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < batches.length) {
        const batch = batches[next++]!
        const sent = await clients.sqs.send(
          new SendMessageBatchCommand({
            QueueUrl,
            Entries: batch.map((instance, j) => ({
              Id: String(j),
              MessageBody: envelope(AwsEvents.spotInterruptionWarning(instance.instanceId))
            }))
          })
        )
        if (sent.Failed?.length) throw new Error(`SendMessageBatch failed: ${JSON.stringify(sent.Failed)}`)
      }
    })
  )
  return QueueUrl
}

const queueDepth = async (queueUrl: string) => {
  const { Attributes } = await clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    })
  )
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? Number.NaN) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? Number.NaN)
  )
}

const startProgram = (
  queueUrl: string,
  awsEndpoint: string,
  replica: number,
  replicas: number,
  tail: Array<string>
) => {
  const name = `nth-bench-${run}-replica-${replica}`
  const child = spawn(process.execPath, [appPath], {
    env: {
      PATH: process.env.PATH ?? "",
      KUBECONFIG: env.KUBECONFIG,
      AWS_REGION: env.AWS_REGION,
      AWS_ENDPOINT: `${awsEndpoint}/replica${replica}`,
      AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY,
      ENABLE_SQS_TERMINATION_DRAINING: "true",
      QUEUE_URL: queueUrl,
      NODE_NAME: name,
      POD_NAME: name,
      MANAGED_TAG: managedTag,
      TAINT_NODE: "true",
      WORKERS: String(WORKERS),
      JSON_LOGGING: "true",
      LOG_LEVEL: values["log-level"],
      // To profile the program: NTH_BENCH_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=/tmp/prof".
      ...(process.env.NTH_BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.NTH_BENCH_NODE_OPTIONS } : {})
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const file = values.logs
    ? createWriteStream(join(values.logs, `${run}-replicas${replicas}-${replica}.log`))
    : undefined
  const keep = (chunk: Buffer) => {
    file?.write(chunk)
    tail.push(...chunk.toString().split("\n").filter(Boolean))
    if (tail.length > 200) tail.splice(0, tail.length - 200)
  }
  child.stdout.on("data", keep)
  child.stderr.on("data", keep)
  const exited = new Promise<number | null>((resolve) =>
    child.on("close", (code) => {
      file?.end()
      resolve(code)
    })
  )
  return { child, exited }
}

interface Result {
  readonly replicas: number
  readonly tainted: number
  readonly empty: number
  readonly kube: Map<string, number>
  readonly aws: Map<string, number>
  /** When the program's receives had got half and all of the messages (seconds from the start). */
  readonly receivedHalf: number
  readonly receivedAll: number
  /** Messages each replica received (duplicates included). */
  readonly receivedBy: ReadonlyArray<number>
  /** Per AWS operation: calls, mean and max latency (ms). */
  readonly awsLatency: ReadonlyArray<readonly [string, number, number, number]>
  /** CPU seconds over the run (from the start to the empty queue), by process. */
  readonly cpu: ReadonlyArray<readonly [string, number]>
}

/** The test bed's processes (when `pnpm testbed up` started it), for their CPU time. */
const components = (TestBed.readState(env.NTH_TESTBED_DIR)?.components ?? []).filter(
  (component) => component.name !== "imds-mock"
)
const benchCpuSeconds = () => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

/**
 * The requests nth's Kubernetes client can make (`@nth/kube`): the rest of the API server's count over the run
 * is the test bed's (KWOK's node heartbeats and leases, the controllers) and other clients' (the scrapes).
 */
const programRequests = new Set([
  "GET nodes",
  "PATCH nodes",
  "LIST nodes",
  "WATCH nodes",
  "LIST pods",
  "WATCH pods",
  "DELETE pods",
  "POST pods/eviction",
  "POST events",
  "PATCH events",
  "LIST policy/poddisruptionbudgets",
  "GET apps/daemonsets"
])
const isProgramRequest = (key: string) => programRequests.has(key)

const sum = (counts: ReadonlyMap<string, number>, keep: (key: string) => boolean = () => true) =>
  [...counts].reduce((total, [key, value]) => (keep(key) ? total + value : total), 0)

const breakdown = (counts: ReadonlyMap<string, number>) =>
  [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([key, value]) => `${key} ${(value / NODES).toFixed(2)}`)
    .join(", ")

if (values.logs) mkdirSync(values.logs, { recursive: true })
const counter = await startAwsCounter(env.AWS_ENDPOINT_URL)
const watch = await watchNodes(clients.kubeConfig, labelSelector, TAINT_KEY)
let instances: Array<Fleet.Instance> = []
const results: Array<Result> = []
const ceilings: Array<{ label: string; result: SqsCeiling.Result }> = []
const kubeCeilings: Array<{ label: string; seconds: number }> = []
let ec2Ceiling = Number.NaN
const KUBE_CONCURRENCY = 32
const IDLE_MS = 5000
let failed = false

try {
  log(`launching ${NODES} instances tagged ${managedTag}`)
  let from = Date.now()
  instances = await Fleet.launch(clients, { count: NODES, tags: { [managedTag]: "" } })
  log(`  ${secondsSince(from).toFixed(1)} s`)

  for (const replicas of REPLICAS) {
    log(`registering ${NODES} KWOK nodes`)
    from = Date.now()
    // Names of the run's own: moto's random private addresses may repeat (the lookup by private DNS name tells
    // such nodes apart by their provider id).
    const names = await Fleet.registerNodes(clients, instances, {
      labels: nodeLabels,
      name: (_, i) => `nth-bench-${run}-${i}`
    })
    await watch.until(`${NODES} nodes Ready`, () => watch.ready() === NODES, 120_000)
    log(`  created and Ready in ${secondsSince(from).toFixed(1)} s`)

    if (ceilings.length === 0) {
      log(`the emulator's ceiling over ${NODES} messages, with the nodes in place`)
      for (const [label, endpoint, receivers] of [
        ["moto, 1 receiver", env.AWS_ENDPOINT_URL, 1],
        ["moto, 4 receivers", env.AWS_ENDPOINT_URL, 4],
        ["moto through the counter, 4 receivers", counter.url, 4],
        [`moto, ${nthReceivers} receivers (as many as nth's)`, env.AWS_ENDPOINT_URL, nthReceivers]
      ] as const) {
        const result = await SqsCeiling.measure({ endpoint, messages: NODES, receivers })
        ceilings.push({ label, result })
        log(`  ${label}: ${SqsCeiling.format(result)}`)
      }
      const describeFrom = Date.now()
      const described = await Fleet.describe(clients, instances, { batchSize: 100, concurrency: 4 })
      ec2Ceiling = secondsSince(describeFrom)
      log(
        `  moto DescribeInstances of ${described} instances, 100 ids a call, 4 calls at a time: ${ec2Ceiling.toFixed(2)} s`
      )
      log(`the API server's ceiling for node writes over the ${NODES} nodes, ${KUBE_CONCURRENCY} at a time`)
      for (const [label, readFirst] of [
        ["one merge PATCH per node", false],
        ["GET + JSON PATCH (resourceVersion pinned) per node", true]
      ] as const) {
        const seconds = await kubeWriteCeiling(clients.kubeConfig, names, {
          concurrency: KUBE_CONCURRENCY,
          readFirst,
          label: "bench.nth.dev/ceiling"
        })
        kubeCeilings.push({ label, seconds })
        log(`  ${label}: ${seconds.toFixed(2)} s (${(NODES / seconds).toFixed(0)} nodes/s)`)
      }
    }

    log(`loading ${NODES} Spot interruption warnings`)
    from = Date.now()
    const queueUrl = await loadQueue(instances)
    log(`  ${secondsSince(from).toFixed(1)} s; ${await queueDepth(queueUrl)} messages in the queue`)

    // The test bed's own load with the nodes in place (KWOK's heartbeats and leases): CPU over a few idle seconds.
    const idleFrom = Date.now()
    const idleBefore = components.map((component) => cpuSeconds(component.pid))
    await sleep(IDLE_MS)
    const idle = components.map(
      (component, i) => [component.name, cpuSeconds(component.pid) - idleBefore[i]!] as const
    )
    const idleSeconds = secondsSince(idleFrom)
    log(
      `  idle test bed over ${idleSeconds.toFixed(1)} s: ${idle.map(([name, cpu]) => `${name} ${(cpu / idleSeconds).toFixed(2)}`).join(", ")} cores`
    )
    const kubeBefore = await apiServerRequests(clients.kubeConfig)
    counter.reset()
    const cpuBefore = components.map((component) => cpuSeconds(component.pid))
    const benchCpuBefore = benchCpuSeconds()
    log(`starting ${replicas} replica(s), WORKERS=${WORKERS}`)
    const tail: Array<string> = []
    const startedAt = Date.now()
    const programs = Array.from({ length: replicas }, (_, i) =>
      startProgram(queueUrl, counter.url, i + 1, replicas, tail)
    )
    try {
      const tainted = watch.until(
        `${NODES} nodes cordoned and tainted`,
        () => watch.done() === NODES,
        TIMEOUT_MS
      )
      const emptied = (async () => {
        for (;;) {
          if ((await queueDepth(queueUrl)) === 0) return Date.now()
          if (Date.now() - startedAt > TIMEOUT_MS) throw new Error("timed out waiting for the queue to empty")
          for (const { child } of programs)
            if (child.exitCode !== null) throw new Error(`a program exited early with ${child.exitCode}`)
          await sleep(50)
        }
      })()
      const [taintedAt, emptyAt] = await Promise.all([tainted, emptied])
      const aws = new Map(counter.counts())
      const calls = [...counter.calls()]
      let got = 0
      let receivedHalf = Number.NaN
      let receivedAll = Number.NaN
      for (const call of calls
        .filter((c) => c.operation === "sqs:ReceiveMessage" && c.messages > 0)
        .sort((a, b) => a.endedAt - b.endedAt)) {
        got += call.messages
        if (got >= NODES / 2 && Number.isNaN(receivedHalf))
          receivedHalf = secondsSince(startedAt, call.endedAt)
        if (got >= NODES && Number.isNaN(receivedAll)) receivedAll = secondsSince(startedAt, call.endedAt)
      }
      const receivedBy = programs.map((_, i) =>
        calls
          .filter((c) => c.operation === "sqs:ReceiveMessage" && c.client === `replica${i + 1}`)
          .reduce((total, c) => total + c.messages, 0)
      )
      const awsLatency = [...new Set(calls.map((c) => c.operation))].map((operation) => {
        const answered = calls.filter((c) => c.operation === operation && !Number.isNaN(c.endedAt))
        const latencies = answered.map((c) => c.endedAt - c.startedAt)
        return [
          operation,
          answered.length,
          latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length),
          Math.max(0, ...latencies)
        ] as const
      })
      const cpu: Array<readonly [string, number]> = [
        ["nth", programs.reduce((total, { child }) => total + cpuSeconds(child.pid!), 0)],
        ...components.map(
          (component, i) => [component.name, cpuSeconds(component.pid) - cpuBefore[i]!] as const
        ),
        ["this benchmark", benchCpuSeconds() - benchCpuBefore]
      ]
      const kube = difference(kubeBefore, await apiServerRequests(clients.kubeConfig))
      const result = {
        replicas,
        tainted: secondsSince(startedAt, taintedAt),
        empty: secondsSince(startedAt, emptyAt),
        kube,
        aws,
        receivedHalf,
        receivedAll,
        receivedBy,
        awsLatency,
        cpu
      }
      results.push(result)
      log(
        `  cordoned+tainted ${result.tainted.toFixed(2)} s, queue empty ${result.empty.toFixed(2)} s; per event: ` +
          `kube ${(sum(kube, isProgramRequest) / NODES).toFixed(2)}, AWS ${(sum(aws) / NODES).toFixed(2)} requests`
      )
    } catch (error) {
      failed = true
      log(`  FAILED: ${(error as Error).message}; ${watch.done()}/${NODES} done, last log lines:`)
      for (const line of tail.slice(-10)) log(`    ${line.slice(0, 300)}`)
    } finally {
      for (const { child } of programs) child.kill("SIGTERM")
      const codes = await Promise.all(programs.map((p) => p.exited))
      if (codes.some((code) => code !== 0)) log(`  exit codes: ${codes.join(", ")}`)
      await clients.sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => {})
      await Fleet.deleteNodes(clients, nodeLabels)
      await watch.until("the nodes deleted", () => watch.count() === 0, 120_000)
    }
    if (failed) break
  }
} finally {
  watch.close()
  await Fleet.deleteNodes(clients, nodeLabels).catch(() => {})
  if (instances.length > 0) await Fleet.terminate(clients, instances).catch(() => {})
  await counter.close()
  await release()
}

// ---------------------------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------------------------

const best = Math.min(
  ...ceilings.filter((c) => !c.label.includes("through")).map((c) => c.result.drainSeconds)
)
// The fastest any handler could cordon and taint every node here: one merge PATCH per node.
const kubeFloor = kubeCeilings[0]?.seconds ?? Number.NaN
log("")
log(
  `Queue mode, ${NODES} Spot interruption warnings waiting for ${NODES} KWOK nodes at the start; TAINT_NODE=true, WORKERS=${WORKERS}; times from the spawn of the process(es)`
)
for (const { label, result } of ceilings)
  log(
    `emulator ceiling (${label}): receive+delete ${result.messages} in ${result.drainSeconds.toFixed(2)} s (${(result.messages / result.drainSeconds).toFixed(0)} msg/s)`
  )
log(
  `emulator ceiling (moto DescribeInstances of the ${NODES} instances, 100 ids a call, 4 at a time): ${ec2Ceiling.toFixed(2)} s`
)
for (const { label, seconds } of kubeCeilings)
  log(
    `API server ceiling (${label}, ${KUBE_CONCURRENCY} at a time): ${NODES} nodes in ${seconds.toFixed(2)} s (${(NODES / seconds).toFixed(0)} nodes/s)`
  )
const header = [
  "replicas",
  "WORKERS",
  "cordoned+tainted s",
  "vs target 10 s",
  "queue empty s",
  "msg/s",
  "x SQS ceiling",
  "tainted x kube ceiling",
  "kube req/event",
  "AWS req/event"
]
const rows = results.map((r) => [
  String(r.replicas),
  String(WORKERS),
  r.tainted.toFixed(2),
  `${((r.tainted / TARGET_SECONDS) * (1000 / NODES)).toFixed(2)} ${r.tainted * (1000 / NODES) <= TARGET_SECONDS ? "PASS" : "FAIL"}`,
  r.empty.toFixed(2),
  (NODES / r.empty).toFixed(0),
  (r.empty / best).toFixed(1),
  (r.tainted / kubeFloor).toFixed(1),
  (sum(r.kube, (key) => isProgramRequest(key)) / NODES).toFixed(2),
  (sum(r.aws) / NODES).toFixed(2)
])
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
const format = (cells: ReadonlyArray<string>) => cells.map((cell, i) => cell.padStart(widths[i]!)).join("  ")
log(format(header))
for (const row of rows) log(format(row))
log(
  `vs target: cordoned+tainted time / 10 s${NODES === 1000 ? "" : ` (scaled to 1000 nodes from ${NODES})`}; x SQS ceiling: queue empty / the best bare receive+delete of ${NODES} (${best.toFixed(2)} s); tainted x kube ceiling: cordoned+tainted / one merge PATCH per node (${kubeFloor.toFixed(2)} s)`
)
log(
  "kube req/event: apiserver_request_total over the run, of the kinds nth makes (the rest, KWOK's heartbeats and leases, controllers, is listed apart); AWS req/event: the program's calls through the counter"
)
for (const r of results) {
  log(
    `  ${r.replicas} replica(s) kube: ${breakdown(new Map([...r.kube].filter(([key]) => isProgramRequest(key))))}`
  )
  log(
    `  ${r.replicas} replica(s) kube, not the program's: ${breakdown(new Map([...r.kube].filter(([key]) => !isProgramRequest(key))))}`
  )
  log(`  ${r.replicas} replica(s) AWS: ${breakdown(r.aws)}`)
  log(
    `  ${r.replicas} replica(s) AWS latency (calls, mean, max): ${r.awsLatency.map(([op, n, mean, max]) => `${op} ${n} ${mean.toFixed(0)}/${max.toFixed(0)} ms`).join(", ")}; half the messages received by ${r.receivedHalf.toFixed(2)} s, all by ${r.receivedAll.toFixed(2)} s; messages received by each replica: ${r.receivedBy.join(" / ")}`
  )
  log(
    `  ${r.replicas} replica(s) CPU seconds over the ${r.empty.toFixed(1)} s to the empty queue (2 cores: ${(2 * r.empty).toFixed(1)} s at most): ${r.cpu.map(([name, seconds]) => `${name} ${seconds.toFixed(1)}`).join(", ")}`
  )
}
if (failed) process.exitCode = 1
