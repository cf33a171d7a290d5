/**
 * Start-up and running with its dependencies failing: the queue-mode program started while the API server
 * refuses connections (the test bed's API fault proxy in an outage) and SQS answers 503 and throttles
 * (`ReceiveMessage`, through the AWS fault proxy) keeps running and handles the first interruption once they are
 * back; its AWS calls are counted on the wire.
 */
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { ApiFaults, AwsEvents, AwsFaults, Fixtures, Programs, useTestBed } from "@nth/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const bed = useTestBed()
const appPath = join(import.meta.dirname, "..", "dist", "main.js")
const managedTag = `nth.dev/e2e-deps-down-${randomBytes(3).toString("hex")}`
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

describe("nth-deployment with its dependencies failing", () => {
  it("keeps running through an API server outage and SQS errors at start, then drains and deletes the message", async () => {
    const node = await bed.registerNode({ tags: { [managedTag]: "" } })
    await bed.registerNode()
    const namespace = bed.namespace()
    const labels = await Fixtures.createDeployment(bed.clients, namespace, {
      name: Fixtures.uniqueName("app"),
      replicas: 2,
      preferNode: node.name,
      terminationGracePeriodSeconds: 1
    })
    await Fixtures.waitForReadyPods(bed.clients, namespace, labels, 2)
    const queue = await Fixtures.createEventQueue(bed.clients, "nth-deps-down")
    bed.defer(() => Fixtures.deleteEventQueue(bed.clients, queue))

    aws.inject({
      operation: "ReceiveMessage",
      fault: { _tag: "error", status: 503, code: "ServiceUnavailable" },
      times: 3
    })
    aws.inject({
      operation: "ReceiveMessage",
      fault: { _tag: "error", status: 400, code: "ThrottlingException" },
      times: 3
    })
    const outage = api.outage(6000)
    const probesPort = await Programs.freePort()
    const app = Programs.startProgram(appPath, {
      env: {
        ENABLE_PROBES_SERVER: "true",
        PROBES_SERVER_PORT: String(probesPort),
        ...Programs.testBedEnv(bed.clients.env),
        KUBECONFIG: api.kubeconfig,
        AWS_ENDPOINT: aws.endpoint,
        ENABLE_SQS_TERMINATION_DRAINING: "true",
        QUEUE_URL: aws.queueUrl(queue.queueUrl),
        NODE_NAME: "nth-deps-down-e2e",
        MANAGED_TAG: managedTag,
        JSON_LOGGING: "true"
      },
      cleanup: bed.defer
    })
    // Not ready while the API server is out, naming it; live all along.
    const down = await Fixtures.waitFor("a readiness answer", () =>
      Programs.readiness(probesPort).catch(() => undefined)
    )
    expect(down.status).toBe(503)
    expect(down.body.dependencies.kubernetes?.ready).toBe(false)
    expect((await fetch(`http://127.0.0.1:${probesPort}/healthz`)).status).toBe(200)
    // Not ready while SQS answers errors, naming the failed receive.
    const sqsDown = await Fixtures.waitFor("SQS's errors in the readiness answer", async () => {
      const answer = await Programs.readiness(probesPort)
      return answer.body.dependencies.sqs?.reason?.includes("ReceiveMessage") ? answer : undefined
    })
    expect(sqsDown.status).toBe(503)
    await outage
    await Fixtures.waitFor("the injected receive errors", async () =>
      aws.log.filter((entry) => entry.operation === "ReceiveMessage" && entry.action === "error").length >= 6
        ? true
        : undefined
    )
    expect(app.process.exitCode).toBeNull()
    await Fixtures.waitFor(
      "ready",
      async () => ((await Programs.readiness(probesPort)).status === 200 ? true : undefined),
      { timeoutMs: 40_000 }
    )
    await Fixtures.publishEvents(bed.clients, [AwsEvents.spotInterruptionWarning(node.instanceId)])
    await Fixtures.waitFor(
      `node ${node.name} drained`,
      async () => ((await Fixtures.livePodsOn(bed.clients, node.name)).length === 0 ? true : undefined),
      { timeoutMs: 40_000 }
    )
    await Fixtures.waitForEmptyQueue(bed.clients, queue.queueUrl, 20_000)
    // Deleted once, through the proxy (in a batch call of its own or with others).
    expect(aws.succeeded("DeleteMessageBatch").length).toBeGreaterThanOrEqual(1)
    expect(app.process.exitCode).toBeNull()
    expect(await app.stop()).toBe(0)
  }, 120_000)
})
