import { describe, expect, it } from "@effect/vitest"
import { ImdsMock } from "../src/index.ts"
import { get, read, token, useMock } from "./support.ts"

const options = {
  instanceId: "i-0123456789abcdef0",
  instanceType: "c6i.xlarge",
  amiId: "ami-0fedcba9876543210",
  availabilityZone: "eu-west-1b",
  localIpv4: "10.1.2.3",
  publicIpv4: "198.51.100.7",
  mac: "02:00:00:00:00:01",
  instanceLifeCycle: "spot",
  accountId: "210987654321",
  architecture: "arm64",
  pendingTime: "2026-11-25T09:00:00Z"
} as const

describe("identity", () => {
  const mock = useMock(options)

  it.each([
    ["instance-id", "i-0123456789abcdef0"],
    ["instance-type", "c6i.xlarge"],
    ["ami-id", "ami-0fedcba9876543210"],
    ["hostname", "ip-10-1-2-3.eu-west-1.compute.internal"],
    ["local-hostname", "ip-10-1-2-3.eu-west-1.compute.internal"],
    ["local-ipv4", "10.1.2.3"],
    ["public-hostname", "ec2-198-51-100-7.eu-west-1.compute.amazonaws.com"],
    ["public-ipv4", "198.51.100.7"],
    ["mac", "02:00:00:00:00:01"],
    ["instance-life-cycle", "spot"],
    ["placement/availability-zone", "eu-west-1b"],
    ["placement/region", "eu-west-1"]
  ])("serves meta-data/%s", async (path, expected) => {
    const answer = await read(mock().url, `/latest/meta-data/${path}`)
    expect(answer.status).toBe(200)
    expect(answer.body).toBe(expected)
  })

  it("serves the instance identity document", async () => {
    const answer = await read(mock().url, "/latest/dynamic/instance-identity/document")
    expect(answer.status).toBe(200)
    expect(JSON.parse(answer.body)).toEqual({
      accountId: "210987654321",
      architecture: "arm64",
      availabilityZone: "eu-west-1b",
      billingProducts: null,
      devpayProductCodes: null,
      marketplaceProductCodes: null,
      imageId: "ami-0fedcba9876543210",
      instanceId: "i-0123456789abcdef0",
      instanceType: "c6i.xlarge",
      kernelId: null,
      pendingTime: "2026-11-25T09:00:00Z",
      privateIp: "10.1.2.3",
      ramdiskId: null,
      region: "eu-west-1",
      version: "2017-09-30"
    })
  })

  it("lists meta-data like IMDS: one name a line, folders with a trailing slash", async () => {
    const answer = await read(mock().url, "/latest/meta-data/")
    expect(answer.body.split("\n")).toEqual([
      "ami-id",
      "ami-launch-index",
      "events/",
      "hostname",
      "instance-id",
      "instance-life-cycle",
      "instance-type",
      "local-hostname",
      "local-ipv4",
      "mac",
      "placement/",
      "public-hostname",
      "public-ipv4",
      "services/"
    ])
  })

  it.each([
    ["/latest/meta-data/placement/", "availability-zone\nregion"],
    ["/latest/meta-data/placement", "availability-zone\nregion"],
    ["/latest/meta-data/events/", "maintenance/"],
    ["/latest/meta-data/events/maintenance/", "history\nscheduled"],
    ["/latest/dynamic/", "instance-identity/"],
    ["/latest/dynamic/instance-identity/", "document"],
    ["/latest/", "dynamic\nmeta-data"],
    ["/", "latest"]
  ])("lists %s", async (path, expected) => {
    const answer = await read(mock().url, path)
    expect(answer.status).toBe(200)
    expect(answer.body).toBe(expected)
  })

  it("lists the folders of notices only while a notice is there", async () => {
    const url = mock().url
    const listing = async (path: string) => (await read(url, path)).body.split("\n")
    expect(await listing("/latest/meta-data/")).not.toContain("spot/")
    expect((await read(url, "/latest/meta-data/spot/")).status).toBe(404)
    mock().setSpotInterruption({ action: "stop" })
    mock().setRebalanceRecommendation()
    mock().setTargetLifecycleState("InService")
    expect(await listing("/latest/meta-data/")).toEqual(expect.arrayContaining(["spot/", "autoscaling/"]))
    expect(await listing("/latest/meta-data/spot/")).toEqual(["instance-action"])
    expect(await listing("/latest/meta-data/events/")).toEqual(["maintenance/", "recommendations/"])
    expect(await listing("/latest/meta-data/autoscaling/")).toEqual(["target-lifecycle-state"])
  })

  it("answers 404 for unknown paths and 405 for methods other than GET and HEAD", async () => {
    const issued = await token(mock().url)
    expect((await get(mock().url, "/latest/meta-data/no-such-thing", issued)).status).toBe(404)
    expect((await get(mock().url, "/latest/user-data", issued)).status).toBe(404)
    expect((await get(mock().url, "/elsewhere", issued)).status).toBe(404)
    expect((await get(mock().url, "/latest/meta-data/instance-id", issued, "POST")).status).toBe(405)
    const head = await get(mock().url, "/latest/meta-data/instance-id", issued, "HEAD")
    expect([head.status, head.body]).toEqual([200, ""])
  })
})

describe("identity defaults", () => {
  const mock = useMock()

  it("describes an on-demand instance in us-east-1a with a fresh instance id", async () => {
    const { identity } = mock()
    expect(identity.instanceId).toMatch(/^i-[0-9a-f]{17}$/)
    expect((await read(mock().url, "/latest/meta-data/instance-id")).body).toBe(identity.instanceId)
    expect((await read(mock().url, "/latest/meta-data/placement/region")).body).toBe("us-east-1")
    expect((await read(mock().url, "/latest/meta-data/local-hostname")).body).toBe(
      "ip-10-0-0-10.ec2.internal"
    )
    expect((await read(mock().url, "/latest/meta-data/instance-life-cycle")).body).toBe("on-demand")
    expect(identity.pendingTime).toBe("2026-11-25T10:00:00Z")
  })

  it("gives mocks started side by side different instance ids", async () => {
    const other = await ImdsMock.start()
    try {
      expect(other.identity.instanceId).not.toBe(mock().identity.instanceId)
    } finally {
      await other.close()
    }
  })
})
