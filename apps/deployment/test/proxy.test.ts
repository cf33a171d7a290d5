/**
 * End to end: the built queue-mode program (dist/main.js) reaches AWS through `HTTP_PROXY`, as the Go handler's
 * calls do, with IRSA-style web-identity credentials (no keys: `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`,
 * moto's STS), and goes straight to the hosts `NO_PROXY` names.
 *
 * moto listens on 127.0.0.1, which is never proxied (Go's rule, kept): the program is told to reach it as
 * `moto.nth-proxy.test`, a host only the test's proxy knows (it forwards there to moto). A call that reaches moto
 * has come through the proxy; a call that goes straight fails to resolve the name.
 */
import { randomBytes } from "node:crypto"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Fixtures, ForwardProxy, Programs, useTestBed } from "@nth/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const bed = useTestBed()
const appPath = join(import.meta.dirname, "..", "dist", "main.js")
const managedTag = `nth.dev/e2e-proxy-${randomBytes(3).toString("hex")}`
const motoPort = new URL(bed.clients.env.AWS_ENDPOINT_URL).port
const motoHost = `moto.nth-proxy.test:${motoPort}`
const motoByName = `http://${motoHost}`

let proxy: ForwardProxy.ForwardProxy
beforeAll(async () => {
  proxy = await ForwardProxy.start({ [motoHost]: `127.0.0.1:${motoPort}` })
})
afterAll(() => proxy.close())

const freshQueue = async () => {
  const queue = await Fixtures.createEventQueue(bed.clients, "nth-proxy")
  bed.defer(() => Fixtures.deleteEventQueue(bed.clients, queue))
  return queue.queueUrl
}

/** A web-identity token file, as EKS mounts one for IRSA (moto's STS takes any token). */
const tokenFile = () => {
  const path = join(mkdtempSync(join(tmpdir(), "nth-irsa-")), "token")
  writeFileSync(path, "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl")
  return path
}

/** The program with web-identity credentials only, reaching moto (SQS, EC2, Auto Scaling, STS) by name. */
const startApp = (queueUrl: string, env: Record<string, string>) => {
  const { env: bedEnv } = bed.clients
  return Programs.startProgram(appPath, {
    env: {
      KUBECONFIG: bedEnv.KUBECONFIG,
      AWS_REGION: bedEnv.AWS_REGION,
      AWS_ENDPOINT: motoByName,
      AWS_ENDPOINT_URL_STS: motoByName,
      AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile(),
      AWS_ROLE_ARN: "arn:aws:iam::123456789012:role/nth-irsa",
      AWS_ROLE_SESSION_NAME: "nth-proxy-test",
      ENABLE_SQS_TERMINATION_DRAINING: "true",
      QUEUE_URL: queueUrl,
      NODE_NAME: "nth-proxy-e2e",
      MANAGED_TAG: managedTag,
      JSON_LOGGING: "true",
      ...env
    },
    cleanup: bed.defer
  })
}

const count = (operation: string) => proxy.operations().filter((o) => o === operation).length

describe("nth-deployment behind a proxy", () => {
  it("sends its SQS, EC2, Auto Scaling and STS calls through HTTP_PROXY, with the proxy's credentials", async () => {
    const group = Fixtures.uniqueName("nth-proxy-asg")
    const node = await bed.registerNode({ tags: { [managedTag]: "" }, autoScalingGroup: { name: group } })
    const queue = await freshQueue()
    const before = proxy.requests.length
    const app = startApp(queue, {
      HTTP_PROXY: `http://nth:s3cret@127.0.0.1:${proxy.port}`,
      NO_PROXY: "169.254.169.254,.svc,.cluster.local"
    })
    await Programs.waitForLog(app, "AWS calls go through proxies")
    await Programs.waitForLog(app, "nth started in queue mode")
    await Fixtures.waitFor("long polls through the proxy", async () =>
      count("ReceiveMessage") > 0 ? true : undefined
    )

    const action = await Fixtures.fireLifecycleHook(bed.clients, {
      autoScalingGroupName: group,
      lifecycleHookName: "nth-drain",
      instanceId: node.instanceId
    })
    const completed = await Fixtures.waitForCompletedAction(bed.clients, action.lifecycleActionToken, 40_000)
    expect(completed.result).toBe("CONTINUE")
    await Fixtures.waitFor("the message deleted through the proxy", async () =>
      count("DeleteMessageBatch") > 0 ? true : undefined
    )

    // Every client's calls, and the web-identity credentials of each (STS, through the caller's handler).
    for (const operation of [
      "AssumeRoleWithWebIdentity",
      "GetQueueAttributes",
      "ReceiveMessage",
      "DeleteMessageBatch",
      "DescribeInstances",
      "CompleteLifecycleAction"
    ])
      expect(count(operation), operation).toBeGreaterThan(0)
    const seen = proxy.requests.slice(before)
    expect(new Set(seen.map((r) => r.target))).toEqual(new Set([motoHost]))
    expect(new Set(seen.map((r) => r.proxyAuthorization))).toEqual(
      new Set([`Basic ${Buffer.from("nth:s3cret").toString("base64")}`])
    )
    // Keep-alive through the proxy: far fewer connections than calls.
    expect(proxy.connections()).toBeLessThan(proxy.requests.length)
    expect(app.logs.join("\n")).not.toMatch(/Cannot find module|CredentialsProviderError/)
    expect(await app.stop()).toBe(0)
  }, 60_000)

  it("goes straight to a host NO_PROXY names (`nth-proxy.test` covers its subdomains, as in Go)", async () => {
    const queue = await freshQueue()
    const before = proxy.requests.length
    const app = startApp(queue, {
      http_proxy: `http://127.0.0.1:${proxy.port}`,
      no_proxy: "example.com, nth-proxy.test"
    })
    // Straight to moto.nth-proxy.test, which only the proxy knows: the name does not resolve.
    await Programs.waitForLog(
      app,
      (line) => /ENOTFOUND|EAI_AGAIN/.test(line) && line.includes("moto.nth-proxy.test")
    )
    expect(proxy.requests.slice(before)).toEqual([])
    expect(await app.stop()).toBe(0)
    expect(proxy.requests.slice(before)).toEqual([])
  }, 60_000)
})
