/**
 * InstanceInfo on a stub DescribeInstances: how lookups are batched, cached, retried and answered.
 */
import type { DescribeInstancesRequest, DescribeInstancesResult, Instance } from "@aws-sdk/client-ec2"
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { InstanceInfo } from "../src/index.ts"

const idOf = (n: number) => `i-${n.toString(16).padStart(17, "0")}`

const ec2Instance = (instanceId: string, extra: Partial<Instance> = {}): Instance => ({
  InstanceId: instanceId,
  PrivateDnsName: `ip-10-0-0-${Number.parseInt(instanceId.slice(2), 16) % 250}.ec2.internal`,
  State: { Name: "running", Code: 16 },
  Placement: { AvailabilityZone: "us-east-1b" },
  InstanceType: "m5.large",
  Tags: [{ Key: InstanceInfo.defaultManagedTag, Value: "" }],
  ...extra
})

const awsError = (name: string, status: number | undefined, message = name) =>
  Object.assign(new Error(message), {
    name,
    ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } })
  })

/**
 * A stub EC2: it knows the instances in `known` (ids not there are absent from its answers) and can be told to
 * fail the next calls.
 */
const makeStub = (known: ReadonlyArray<Instance> = []) => {
  const instances = new Map(known.map((instance) => [instance.InstanceId!, instance]))
  const calls: Array<ReadonlyArray<string>> = []
  const failures: Array<unknown> = []
  const describeInstances: InstanceInfo.DescribeInstances = (request: DescribeInstancesRequest) => {
    const ids = request.Filters?.find((filter) => filter.Name === "instance-id")?.Values ?? []
    calls.push(ids)
    const failure = failures.shift()
    if (failure !== undefined) return Promise.reject(failure)
    const found = ids.flatMap((id) => {
      const instance = instances.get(id)
      return instance ? [instance] : []
    })
    return Promise.resolve<DescribeInstancesResult>({ Reservations: [{ Instances: found }] })
  }
  return { describeInstances, calls, failures, instances }
}

const fastRetry = Schedule.spaced("1 millis").pipe(Schedule.upTo({ times: 3 }))

describe("InstanceInfo", () => {
  it.live("answers 50 concurrent lookups of distinct instances with one call", () =>
    Effect.gen(function* () {
      const ids = Array.from({ length: 50 }, (_, n) => idOf(n + 1))
      const stub = makeStub(ids.map((id) => ec2Instance(id)))
      const info = yield* InstanceInfo.makeWith(stub.describeInstances)
      const found = yield* Effect.forEach(ids, info.describe, { concurrency: "unbounded" })
      expect(stub.calls).toHaveLength(1)
      expect([...stub.calls[0]!].sort()).toEqual([...ids].sort())
      expect(found.map((instance) => instance?.instanceId)).toEqual(ids)
      expect(info.callCount()).toBe(1)
    })
  )

  it.live("splits a burst into calls of at most maxBatchSize instances", () =>
    Effect.gen(function* () {
      const ids = Array.from({ length: 250 }, (_, n) => idOf(n + 1))
      const stub = makeStub(ids.map((id) => ec2Instance(id)))
      const info = yield* InstanceInfo.makeWith(stub.describeInstances)
      const found = yield* Effect.forEach(ids, info.describe, { concurrency: "unbounded" })
      expect(stub.calls.map((call) => call.length)).toEqual([100, 100, 50])
      expect(found.every((instance) => instance !== undefined)).toBe(true)
    })
  )

  it.live(
    "keeps answers: a second lookup, and concurrent lookups of one instance, cost no further call",
    () =>
      Effect.gen(function* () {
        const stub = makeStub([ec2Instance(idOf(1)), ec2Instance(idOf(2))])
        const info = yield* InstanceInfo.makeWith(stub.describeInstances)
        yield* Effect.all([info.describe(idOf(1)), info.describe(idOf(1)), info.describe(idOf(2))], {
          concurrency: "unbounded"
        })
        expect(stub.calls).toEqual([[idOf(1), idOf(2)]])
        const again = yield* info.describe(idOf(1))
        expect(again?.instanceId).toBe(idOf(1))
        expect(stub.calls).toHaveLength(1)
        yield* info.invalidate(idOf(1))
        yield* info.describe(idOf(1))
        expect(stub.calls).toHaveLength(2)
      })
  )

  it.live("asks again once an answer is older than timeToLive (sooner for one not found)", () =>
    Effect.gen(function* () {
      const stub = makeStub([ec2Instance(idOf(1))])
      const info = yield* InstanceInfo.makeWith(stub.describeInstances, {
        timeToLive: "300 millis",
        notFoundTimeToLive: "50 millis"
      })
      yield* info.describe(idOf(1))
      yield* info.describe(idOf(2))
      yield* Effect.sleep("100 millis")
      yield* info.describe(idOf(1))
      yield* info.describe(idOf(2))
      expect(stub.calls).toEqual([[idOf(1)], [idOf(2)], [idOf(2)]])
      yield* Effect.sleep("300 millis")
      yield* info.describe(idOf(1))
      expect(stub.calls).toHaveLength(4)
    })
  )

  it.live("answers undefined for an instance EC2 does not know, and for a malformed id without a call", () =>
    Effect.gen(function* () {
      const stub = makeStub([ec2Instance(idOf(1))])
      const info = yield* InstanceInfo.makeWith(stub.describeInstances)
      const [known, unknown] = yield* Effect.all([info.describe(idOf(1)), info.describe(idOf(9))], {
        concurrency: "unbounded"
      })
      expect(known?.instanceId).toBe(idOf(1))
      expect(unknown).toBeUndefined()
      expect(yield* info.describe("not-an-instance")).toBeUndefined()
      expect(yield* info.describe("")).toBeUndefined()
      expect(stub.calls).toHaveLength(1)
    })
  )

  it.live("treats the ids an InvalidInstanceID error names as not found, and asks again for the others", () =>
    Effect.gen(function* () {
      const stub = makeStub([ec2Instance(idOf(1))])
      stub.failures.push(
        awsError("InvalidInstanceID.NotFound", 400, `The instance ID '${idOf(2)}' does not exist`)
      )
      const info = yield* InstanceInfo.makeWith(stub.describeInstances)
      const [one, two] = yield* Effect.all([info.describe(idOf(1)), info.describe(idOf(2))], {
        concurrency: "unbounded"
      })
      expect(one?.instanceId).toBe(idOf(1))
      expect(two).toBeUndefined()
      expect(stub.calls).toEqual([[idOf(1), idOf(2)], [idOf(1)]])
    })
  )

  it.live("retries throttling and server errors, then answers", () =>
    Effect.gen(function* () {
      const stub = makeStub([ec2Instance(idOf(1))])
      stub.failures.push(
        awsError("RequestLimitExceeded", 503, "Request limit exceeded."),
        awsError("InternalError", 500),
        Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })
      )
      const info = yield* InstanceInfo.makeWith(stub.describeInstances, { retry: fastRetry })
      const found = yield* info.describe(idOf(1))
      expect(found?.instanceId).toBe(idOf(1))
      expect(stub.calls).toHaveLength(4)
    })
  )

  it.live("fails with the last error once the retries are spent, and keeps no failure", () =>
    Effect.gen(function* () {
      const stub = makeStub([ec2Instance(idOf(1))])
      for (let n = 0; n < 4; n++) stub.failures.push(awsError("RequestLimitExceeded", 503))
      const info = yield* InstanceInfo.makeWith(stub.describeInstances, { retry: fastRetry })
      const error = yield* Effect.flip(info.describe(idOf(1)))
      assert.instanceOf(error, InstanceInfo.InstanceInfoError)
      expect(error.reason).toBe("Throttled")
      expect(error.code).toBe("RequestLimitExceeded")
      expect(stub.calls).toHaveLength(4)
      expect((yield* info.describe(idOf(1)))?.instanceId).toBe(idOf(1))
      expect(stub.calls).toHaveLength(5)
    })
  )

  it.live("fails every lookup of a batch at once on an error that is not retried", () =>
    Effect.gen(function* () {
      const stub = makeStub([ec2Instance(idOf(1)), ec2Instance(idOf(2))])
      stub.failures.push(
        awsError("UnauthorizedOperation", 403, "You are not authorized to perform this operation.")
      )
      const info = yield* InstanceInfo.makeWith(stub.describeInstances, { retry: fastRetry })
      const errors = yield* Effect.all(
        [Effect.flip(info.describe(idOf(1))), Effect.flip(info.describe(idOf(2)))],
        {
          concurrency: "unbounded"
        }
      )
      expect(errors.map((error) => error.reason)).toEqual(["Denied", "Denied"])
      expect(stub.calls).toHaveLength(1)
    })
  )

  it.live("gives up on a call after requestTimeout, aborting it, and counts that as Unreachable", () =>
    Effect.gen(function* () {
      let aborted = 0
      const info = yield* InstanceInfo.makeWith(
        (_request, signal) =>
          new Promise<never>(() => {
            signal.addEventListener("abort", () => {
              aborted += 1
            })
          }),
        { requestTimeout: "50 millis", retry: Schedule.recurs(1) }
      )
      const error = yield* Effect.flip(info.describe(idOf(1)))
      expect(error.reason).toBe("Unreachable")
      expect(info.callCount()).toBe(2)
      expect(aborted).toBe(2)
    })
  )

  it.live("reads the private DNS name, state, placement, group, tags, life cycle and addresses", () =>
    Effect.gen(function* () {
      const stub = makeStub([
        ec2Instance(idOf(1), {
          PrivateDnsName: "ip-10-1-2-3.ec2.internal",
          PrivateIpAddress: "10.1.2.3",
          PublicDnsName: "ec2-54-1-2-3.eu-west-1.compute.amazonaws.com",
          PublicIpAddress: "54.1.2.3",
          InstanceLifecycle: "spot",
          State: { Name: "shutting-down", Code: 32 },
          Placement: { AvailabilityZone: "eu-west-1c" },
          Tags: [
            { Key: "aws:autoscaling:groupName", Value: "workers" },
            { Key: "team", Value: "a" }
          ]
        }),
        ec2Instance(idOf(2), { PrivateDnsName: "", State: { Name: "terminated", Code: 48 }, Tags: undefined })
      ])
      const info = yield* InstanceInfo.makeWith(stub.describeInstances)
      const one = yield* info.describe(idOf(1))
      expect(one).toEqual({
        instanceId: idOf(1),
        privateDnsName: "ip-10-1-2-3.ec2.internal",
        state: "shutting-down",
        availabilityZone: "eu-west-1c",
        providerId: `aws:///eu-west-1c/${idOf(1)}`,
        instanceType: "m5.large",
        autoScalingGroupName: "workers",
        tags: { "aws:autoscaling:groupName": "workers", team: "a" },
        lifeCycle: "spot",
        privateIp: "10.1.2.3",
        publicDnsName: "ec2-54-1-2-3.eu-west-1.compute.amazonaws.com",
        publicIp: "54.1.2.3"
      })
      const two = yield* info.describe(idOf(2))
      expect(two?.privateDnsName).toBe("")
      expect(two?.lifeCycle).toBe("on-demand")
      expect(two?.publicIp).toBeUndefined()
      expect(two?.state).toBe("terminated")
      expect(two?.tags).toEqual({})
    })
  )
})

describe("InstanceInfo.isManaged", () => {
  const tagged = (tags: Record<string, string>) => ({ tags })

  it("needs the managed tag's key, whatever its value", () => {
    expect(InstanceInfo.isManaged(tagged({ [InstanceInfo.defaultManagedTag]: "" }))).toBe(true)
    expect(InstanceInfo.isManaged(tagged({ [InstanceInfo.defaultManagedTag]: "false" }))).toBe(true)
    expect(InstanceInfo.isManaged(tagged({ other: "x" }))).toBe(false)
    expect(InstanceInfo.isManaged(tagged({}))).toBe(false)
  })

  it("reads the tag named managedTag, and passes everything when checkTag is false", () => {
    expect(InstanceInfo.isManaged(tagged({ mine: "" }), { managedTag: "mine" })).toBe(true)
    expect(
      InstanceInfo.isManaged(tagged({ [InstanceInfo.defaultManagedTag]: "" }), { managedTag: "mine" })
    ).toBe(false)
    expect(InstanceInfo.isManaged(tagged({}), { checkTag: false })).toBe(true)
    expect(InstanceInfo.isManaged(tagged({ toString: "" }), { managedTag: "constructor" })).toBe(false)
  })
})

describe("InstanceInfo.fromUnknown", () => {
  it.each([
    [awsError("RequestLimitExceeded", 503), "Throttled"],
    [awsError("Throttling", 400), "Throttled"],
    [awsError("Whatever", 429), "Throttled"],
    [awsError("InternalError", 500), "ServerError"],
    [awsError("Unavailable", 503), "ServerError"],
    [awsError("UnknownError", 502), "ServerError"],
    [awsError("AuthFailure", 401), "Denied"],
    [awsError("UnauthorizedOperation", 403), "Denied"],
    [
      awsError("CredentialsProviderError", undefined, "Could not load credentials from any providers"),
      "Denied"
    ],
    [Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }), "Unreachable"],
    [awsError("TimeoutError", undefined), "Unreachable"],
    [awsError("InvalidParameterValue", 400), "Failed"],
    [new Error("Region is missing"), "Failed"],
    ["a string", "Failed"]
  ] as const)("%s is %s", (error, reason) => {
    expect(InstanceInfo.fromUnknown(error).reason).toBe(reason)
  })
})
