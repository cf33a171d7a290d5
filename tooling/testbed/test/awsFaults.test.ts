/**
 * The AWS emulator's fault proxy does what it says: calls reach moto through it, and an injected error comes back
 * as the AWS SDK reads AWS's own (its code, its status), in each protocol the programs speak.
 */
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from "@aws-sdk/client-auto-scaling"
import { DescribeInstancesCommand, EC2Client } from "@aws-sdk/client-ec2"
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { AwsFaults, Fixtures, useTestBed } from "../src/index.ts"

const bed = useTestBed()
let proxy: AwsFaults.AwsFaultProxy

beforeAll(async () => {
  proxy = await AwsFaults.start(bed.clients.env.AWS_ENDPOINT_URL)
})
afterAll(() => proxy.close())

const config = () => ({
  endpoint: proxy.endpoint,
  region: bed.clients.env.AWS_REGION,
  credentials: {
    accessKeyId: bed.clients.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: bed.clients.env.AWS_SECRET_ACCESS_KEY
  },
  maxAttempts: 1
})

const failure = async (promise: Promise<unknown>) => {
  try {
    await promise
    return undefined
  } catch (error) {
    const e = error as { name: string; $metadata?: { httpStatusCode?: number }; code?: string }
    return { name: e.name, status: e.$metadata?.httpStatusCode, code: e.code }
  }
}

describe("the AWS emulator's fault proxy", () => {
  it("forwards calls, and injects errors the SDK reads as AWS's, per operation and count", async () => {
    const queue = await Fixtures.createEventQueue(bed.clients, "nth-aws-faults")
    bed.defer(() => Fixtures.deleteEventQueue(bed.clients, queue))
    const sqs = new SQSClient({ ...config(), useQueueUrlAsEndpoint: false })
    const attributes = () =>
      sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: proxy.queueUrl(queue.queueUrl), AttributeNames: ["All"] })
      )
    expect((await attributes()).Attributes?.QueueArn).toContain("nth-aws-faults")

    proxy.inject({
      operation: "GetQueueAttributes",
      fault: { _tag: "error", status: 400, code: "ThrottlingException" },
      times: 1
    })
    expect(await failure(attributes())).toMatchObject({ name: "ThrottlingException", status: 400 })
    proxy.inject({
      operation: "GetQueueAttributes",
      fault: { _tag: "error", status: 503, code: "ServiceUnavailable" },
      times: 1
    })
    expect(await failure(attributes())).toMatchObject({ status: 503 })
    expect(await failure(attributes())).toBeUndefined()

    const ec2 = new EC2Client(config())
    proxy.inject({
      operation: "DescribeInstances",
      fault: { _tag: "error", status: 503, code: "RequestLimitExceeded" },
      times: 1
    })
    expect(await failure(ec2.send(new DescribeInstancesCommand({})))).toMatchObject({
      name: "RequestLimitExceeded"
    })
    expect(await failure(ec2.send(new DescribeInstancesCommand({})))).toBeUndefined()

    const autoScaling = new AutoScalingClient(config())
    proxy.inject({
      operation: "DescribeAutoScalingGroups",
      fault: { _tag: "error", status: 400, code: "Throttling" },
      times: 1
    })
    expect(await failure(autoScaling.send(new DescribeAutoScalingGroupsCommand({})))).toMatchObject({
      name: "Throttling"
    })

    expect(proxy.log.filter((entry) => entry.action === "error").map((entry) => entry.operation)).toEqual([
      "GetQueueAttributes",
      "GetQueueAttributes",
      "DescribeInstances",
      "DescribeAutoScalingGroups"
    ])
  })

  it("delays, resets, and refuses connections during an outage", async () => {
    const ec2 = new EC2Client(config())
    proxy.inject({ operation: "DescribeInstances", fault: { _tag: "delay", ms: 500 }, times: 1 })
    const started = Date.now()
    await ec2.send(new DescribeInstancesCommand({}))
    expect(Date.now() - started).toBeGreaterThanOrEqual(500)
    proxy.inject({ operation: "DescribeInstances", fault: { _tag: "reset" }, times: 1 })
    expect(await failure(ec2.send(new DescribeInstancesCommand({})))).toBeDefined()
    const outage = proxy.outage(800)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect((await failure(ec2.send(new DescribeInstancesCommand({}))))?.code).toBe("ECONNREFUSED")
    await outage
    expect(await failure(ec2.send(new DescribeInstancesCommand({})))).toBeUndefined()
  })
})
