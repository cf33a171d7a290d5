/**
 * A chaos run of queue mode: many interruptions across nodes (Spot warnings and Auto Scaling lifecycle hooks)
 * handled by two replicas on one queue, while replicas are killed (SIGKILL) and stopped (SIGTERM) at random
 * moments and restarted, and the test bed's fault proxies make the API server and AWS throttle, fail, reset and
 * cut watches. The invariants are checked from the cluster, the proxies' logs and the emulator, not from nth's
 * own logs:
 *
 * - every node is drained (its pods gone, the node cordoned) before its deadline (a Spot warning's two minutes);
 * - no pod gets a second eviction accepted after one was (counted on the wire, by the API fault proxy);
 * - every lifecycle action is completed exactly once (successful `CompleteLifecycleAction` calls on the wire, and
 *   the emulator's record);
 * - no node is left cordoned by nth without a record saying why;
 * - every SQS message received is deleted (counted per message id on the wire, by the AWS fault proxy; the queue
 *   has no redrive policy, so none may be left to it), no receipt handle is deleted again after its replica heard
 *   the delete succeed, and the queue ends empty. (A delete whose answer an outage cut off is rightly sent again,
 *   and a message whose visibility ran out during an outage is received again and deleted by each receiver.)
 *
 * The figures are printed at the end. Size: NTH_CHAOS_INTERRUPTIONS (default 20) and NTH_CHAOS_KILLS (default 5);
 * `pnpm chaos` runs it at 200 and 20.
 */
import { randomBytes } from "node:crypto"
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ApiFaults, AwsEvents, AwsFaults, Chaos, Fixtures, Programs, useTestBed } from "@nth/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const bed = useTestBed()
const appPath = join(import.meta.dirname, "..", "dist", "main.js")
const managedTag = `nth.dev/e2e-chaos-${randomBytes(3).toString("hex")}`
const interruptions = Number(process.env.NTH_CHAOS_INTERRUPTIONS ?? 20)
const kills = Number(process.env.NTH_CHAOS_KILLS ?? 5)
const spotDeadlineMs = 120_000

let api: ApiFaults.ApiFaultProxy
let aws: AwsFaults.AwsFaultProxy
beforeAll(async () => {
  api = await ApiFaults.start(bed.clients.env.KUBECONFIG)
  aws = await AwsFaults.start(bed.clients.env.AWS_ENDPOINT_URL)
})
afterAll(async () => {
  await api.close()
  await aws.close()
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe("chaos (queue mode)", () => {
  it(`${interruptions} interruptions, ${kills} kills, faults of every kind: nothing lost, nothing done twice`, async () => {
    const group = Fixtures.uniqueName("nth-asg-chaos")
    const nodes = await Promise.all(
      Array.from({ length: interruptions }, (_, i) =>
        bed.registerNode({
          tags: { [managedTag]: "" },
          // Every third node is in an Auto Scaling group, interrupted by a termination lifecycle hook.
          ...(i % 3 === 0 ? { autoScalingGroup: { name: group } } : {})
        })
      )
    )
    await Promise.all(Array.from({ length: Math.ceil(interruptions / 4) }, () => bed.registerNode()))
    const namespace = bed.namespace()
    // One pod on each node.
    await Promise.all(
      nodes.map(async (node) => {
        const labels = await Fixtures.createDeployment(bed.clients, namespace, {
          name: Fixtures.uniqueName("chaos"),
          replicas: 1,
          preferNode: node.name,
          terminationGracePeriodSeconds: 1
        })
        await Fixtures.waitForReadyPods(bed.clients, namespace, labels, 1, 120_000)
      })
    )
    const podsBefore = new Map<string, ReadonlyArray<string>>()
    for (const node of nodes)
      podsBefore.set(
        node.name,
        (await Fixtures.livePodsOn(bed.clients, node.name)).map(
          (p) => `${p.metadata?.namespace}/${p.metadata?.name}`
        )
      )
    const queue = await Fixtures.createEventQueue(bed.clients, "nth-chaos")
    bed.defer(() => Fixtures.deleteEventQueue(bed.clients, queue))

    // Faults of every kind, on both sides, spread over the run.
    Chaos.injectApiFaults(api, { throttledEvictions: Math.ceil(interruptions / 2), cutNodeWatches: 2 })
    aws.inject({
      operation: "ReceiveMessage",
      fault: { _tag: "error", status: 400, code: "ThrottlingException" },
      times: 3
    })
    aws.inject({ operation: "ReceiveMessage", fault: { _tag: "delay", ms: 2000 }, times: 3 })
    aws.inject({
      operation: "DeleteMessageBatch",
      fault: { _tag: "error", status: 503, code: "ServiceUnavailable" },
      times: 2
    })
    aws.inject({
      operation: "DescribeInstances",
      fault: { _tag: "error", status: 503, code: "RequestLimitExceeded" },
      times: 2
    })
    aws.inject({
      operation: "CompleteLifecycleAction",
      fault: { _tag: "error", status: 503, code: "ServiceUnavailable" },
      times: 2
    })
    aws.inject({ operation: "CompleteLifecycleAction", fault: { _tag: "reset" }, times: 1 })

    const replicas = new Map<string, Programs.Program>()
    // Every replica started (the killed ones too), for the report of a failed run.
    const history: Array<{ readonly podName: string; readonly app: Programs.Program }> = []
    const start = (podName: string) => {
      const app = Programs.startProgram(appPath, {
        env: {
          ...Programs.testBedEnv(bed.clients.env),
          KUBECONFIG: api.kubeconfig,
          AWS_ENDPOINT: aws.endpoint,
          ENABLE_SQS_TERMINATION_DRAINING: "true",
          QUEUE_URL: aws.queueUrl(queue.queueUrl),
          NODE_NAME: "nth-chaos-e2e",
          POD_NAME: podName,
          MANAGED_TAG: managedTag,
          SQS_MSG_VISIBILITY_TIMEOUT_SEC: "5",
          JSON_LOGGING: "true"
        },
        cleanup: bed.defer
      })
      replicas.set(podName, app)
      history.push({ podName, app })
      return app
    }
    await Promise.all(
      ["replica-a", "replica-b"].map((name) => Programs.waitForLog(start(name), "nth started in queue mode"))
    )

    // The interruptions, in batches a second apart; a node in the group by its lifecycle hook, the others by Spot.
    const published = new Map<string, number>()
    const actions = new Map<string, string>()
    const interrupt = (async () => {
      for (let i = 0; i < nodes.length; i += 5) {
        const batch = nodes.slice(i, i + 5)
        await Promise.all(
          batch.map(async (node, j) => {
            published.set(node.name, Date.now())
            if ((i + j) % 3 === 0) {
              const action = await Fixtures.fireLifecycleHook(bed.clients, {
                autoScalingGroupName: group,
                lifecycleHookName: "nth-drain",
                instanceId: node.instanceId
              })
              actions.set(node.name, action.lifecycleActionToken)
            }
          })
        )
        const spot = batch.filter((_, j) => (i + j) % 3 !== 0)
        if (spot.length > 0)
          await Fixtures.publishEvents(
            bed.clients,
            spot.map((node) => AwsEvents.spotInterruptionWarning(node.instanceId))
          )
        await sleep(1000)
      }
    })()

    // Full outages (connections refused), one of each side, in the thick of it.
    const outages = (async () => {
      await sleep(2500)
      await api.outage(2000)
      await sleep(1500)
      await aws.outage(2000)
    })()
    // The kills: a random replica, restarted a second later under its own name (as its Deployment would).
    const chaos = Chaos.killAtRandom({
      programs: replicas,
      restart: start,
      kills,
      pause: { minMs: 1000, spreadMs: 3000 }
    })
    const [, { killed, stopped }] = await Promise.all([interrupt, chaos, outages])

    // What was left in the queue, what the AWS side saw and what the replicas said: a chaos failure is rare and
    // must be explainable from one run.
    const explain = async (error: unknown): Promise<never> => {
      const ledger = AwsFaults.sqsLedger(aws.log)
      const report = [
        `queue: ${JSON.stringify(await Fixtures.queueDepth(bed.clients, queue.queueUrl).catch(String))}`,
        ...[...ledger.received.keys()]
          .filter((id) => !ledger.deleted.has(id))
          .map(
            (id) =>
              `not deleted: ${id} received ${ledger.received.get(id)}x: ${ledger.bodies.get(id)?.slice(0, 600)}`
          ),
        ...[...ledger.deletedAgain.keys()].map(
          (id) =>
            `deleted again after a known success: ${id} received ${ledger.received.get(id)}x, deleted ${ledger.deleted.get(id)}x: ${ledger.bodies.get(id)?.slice(0, 600)}`
        )
      ]
      for (const { podName, app } of history)
        report.push(`-- ${podName} (exit ${app.process.exitCode ?? "running or killed"})`, ...app.logs)
      const file = join(tmpdir(), `nth-chaos-queue-${Date.now()}.log`)
      writeFileSync(file, report.join("\n"))
      writeFileSync(`${file}.aws.json`, aws.log.map((entry) => JSON.stringify(entry)).join("\n"))
      console.log(
        `chaos (queue mode): failed; the messages not deleted (or deleted again) and the replicas' logs are in ${file}, the AWS calls in ${file}.aws.json`
      )
      console.log(
        report
          .filter((line) => !line.startsWith("{"))
          .join("\n")
          .slice(0, 20_000)
      )
      throw error
    }
    try {
      // Every node drained and cordoned, each before its deadline.
      const drainedAt = new Map<string, number>()
      await Chaos.waitForDrained(
        bed.clients,
        nodes.map((node) => node.name),
        drainedAt,
        spotDeadlineMs + 60_000
      )
      const late = nodes.filter(
        (node) => (drainedAt.get(node.name) ?? Infinity) - (published.get(node.name) ?? 0) > spotDeadlineMs
      )
      for (const node of nodes) {
        const current = await bed.clients.core.readNode({ name: node.name })
        expect(current.spec?.unschedulable, `${node.name} cordoned`).toBe(true)
        // Cordoned by nth: its record says why.
        expect(current.metadata?.annotations?.["nth.dev/record"], `${node.name}'s record`).toBeDefined()
      }

      // Every lifecycle action completed exactly once: the emulator's record, and the successful calls on the wire.
      for (const [node, token] of actions) {
        const completed = await Fixtures.waitForCompletedAction(bed.clients, token, 90_000)
        expect(completed.result, node).toBe("CONTINUE")
      }
      const completions = aws
        .succeeded("CompleteLifecycleAction")
        .map((entry) => /LifecycleActionToken=([^&]+)/.exec(entry.body)?.[1] ?? "")
      for (const token of actions.values())
        expect(
          completions.filter((t) => decodeURIComponent(t) === token),
          token
        ).toHaveLength(1)

      // No pod evicted twice: accepted evictions on the wire, by pod.
      const accepted = api.acceptedEvictions()
      const ours = new Set([...podsBefore.values()].flat())
      const counts = new Map<string, number>()
      for (const pod of accepted) if (ours.has(pod)) counts.set(pod, (counts.get(pod) ?? 0) + 1)
      const duplicates = [...counts.values()].filter((n) => n > 1).length
      expect(duplicates).toBe(0)
      expect(counts.size).toBe(ours.size)

      await Fixtures.waitForEmptyQueue(bed.clients, queue.queueUrl, 60_000)
      for (const app of replicas.values()) expect([0, null]).toContain(await app.stop())
      // Every message received was deleted, and no receipt handle again after its replica heard it succeed.
      const ledger = AwsFaults.sqsLedger(aws.log)
      const undeleted = [...ledger.received.keys()].filter((id) => !ledger.deleted.has(id))
      // Deleted again though the replica had heard the first delete succeed (a lost answer's retry, and each
      // receiver of a message redelivered in an outage, delete rightly).
      const deletedTwice = [...ledger.deletedAgain.keys()]
      const moreDeletes = [...ledger.deleted.values()].reduce((sum, n) => sum + n, 0) - ledger.deleted.size
      const redelivered = [...ledger.received.values()].filter((n) => n > 1).length
      expect(ledger.received.size).toBeGreaterThanOrEqual(nodes.length)
      expect(undeleted).toEqual([])
      expect(deletedTwice).toEqual([])

      const faults = Chaos.faultCounts({ api: api.log, aws: aws.log })
      const lost = nodes.length - drainedAt.size
      console.log(
        [
          `chaos: ${nodes.length} interruptions (${actions.size} lifecycle hooks, ${nodes.length - actions.size} Spot warnings),`,
          `${killed} SIGKILLs and ${stopped} SIGTERMs of 2 replicas;`,
          `faults injected: ${Chaos.describeCounts(faults)};`,
          `drains in time ${nodes.length - late.length}/${nodes.length}, events lost ${lost},`,
          `duplicate evictions ${duplicates}, lifecycle actions completed once ${actions.size}/${actions.size},`,
          `SQS messages ${ledger.received.size} (${redelivered} received again after a kill or fault) deleted ${ledger.received.size - undeleted.length}/${ledger.received.size}, deleted again after a known success ${deletedTwice.length} (deletes beyond one a message, resent after a lost answer or by each receiver: ${moreDeletes})`
        ].join(" ")
      )
      expect(late).toEqual([])
      expect(lost).toBe(0)
    } catch (error) {
      await explain(error)
    }
  }, 600_000)
})
