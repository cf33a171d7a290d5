/**
 * The API server's fault proxy does what it says, against the test bed's real API server: it forwards with the
 * caller's credentials, injects each kind of fault on the requests a rule matches, and logs what it did, with
 * the evictions by pod.
 */
import { readFileSync } from "node:fs"
import * as https from "node:https"
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ApiFaults, Fixtures, useTestBed } from "../src/index.ts"

const bed = useTestBed()
let proxy: ApiFaults.ApiFaultProxy
let core: CoreV1Api
let token: string
let ca: Buffer

beforeAll(async () => {
  proxy = await ApiFaults.start(bed.clients.env.KUBECONFIG)
  const config = new KubeConfig()
  config.loadFromFile(proxy.kubeconfig)
  core = config.makeApiClient(CoreV1Api)
  token = config.getCurrentUser()?.token ?? ""
  ca = Buffer.from(config.getCurrentCluster()?.caData ?? "", "base64")
})
afterAll(() => proxy.close())

/** One raw request through the proxy: its status and headers, or the error that ended it. */
const get = (path: string, options: { readonly stream?: boolean } = {}) =>
  new Promise<
    { status: number; headers: Record<string, unknown>; body: string; ms: number } | { error: string }
  >((resolve) => {
    const started = Date.now()
    const request = https.get(
      `${proxy.url}${path}`,
      { ca, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        let body = ""
        res.on("data", (chunk) => {
          body += chunk
        })
        const done = () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ms: Date.now() - started })
        res.on("end", done)
        res.on("close", done)
        if (options.stream) res.on("error", done)
      }
    )
    request.on("error", (error) => resolve({ error: (error as NodeJS.ErrnoException).code ?? error.message }))
  })

describe("the API server's fault proxy", () => {
  it("forwards with the caller's credentials, as the API server's own answers", async () => {
    const node = await bed.registerNode()
    const read = await core.readNode({ name: node.name })
    expect(read.metadata?.name).toBe(node.name)
    expect(proxy.log.at(-1)).toMatchObject({ method: "GET", path: `/api/v1/nodes/${node.name}`, status: 200 })
    // Without credentials, the API server itself refuses (the proxy adds none).
    const anonymous = await new Promise<number>((resolve) =>
      https.get(`${proxy.url}/api/v1/nodes`, { ca }, (res) => resolve(res.statusCode ?? 0))
    )
    expect([401, 403]).toContain(anonymous)
  })

  it("answers 429 with Retry-After, 500, 503 and 409 as Status objects, the first `times` requests only", async () => {
    for (const status of [429, 500, 503, 409]) {
      const remove = proxy.inject({
        method: "GET",
        path: "/api/v1/namespaces/default",
        fault: { _tag: "status", status, retryAfterSeconds: 2 },
        times: 1
      })
      const first = await get("/api/v1/namespaces/default")
      expect(first).toMatchObject({ status, headers: { "retry-after": "2" } })
      expect(JSON.parse((first as { body: string }).body)).toMatchObject({ kind: "Status", code: status })
      expect(await get("/api/v1/namespaces/default")).toMatchObject({ status: 200 })
      remove()
    }
  })

  it("delays, resets, and cuts a watch mid-stream", async () => {
    const removeDelay = proxy.inject({
      path: "/api/v1/namespaces/default",
      fault: { _tag: "delay", ms: 400 }
    })
    const delayed = await get("/api/v1/namespaces/default")
    expect(delayed).toMatchObject({ status: 200 })
    expect((delayed as { ms: number }).ms).toBeGreaterThanOrEqual(400)
    removeDelay()

    const removeReset = proxy.inject({ path: "/api/v1/namespaces/default", fault: { _tag: "reset" } })
    expect(await get("/api/v1/namespaces/default")).toEqual({ error: "ECONNRESET" })
    removeReset()

    proxy.inject({
      path: /^\/api\/v1\/nodes\?.*watch=true/,
      fault: { _tag: "cutWatch", afterMs: 500 },
      times: 1
    })
    // A watch with a server timeout of a minute: only the cut ends it this soon.
    const watch = await get("/api/v1/nodes?watch=true&timeoutSeconds=60", { stream: true })
    expect(watch).toMatchObject({ status: 200 })
    expect((watch as { ms: number }).ms).toBeLessThan(5000)
    expect(proxy.log.some((entry) => entry.action === "cutWatch")).toBe(true)
  })

  it("refuses connections during an outage, then serves again on the same port", async () => {
    const outage = proxy.outage(1000)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(await get("/api/v1/namespaces/default")).toEqual({ error: "ECONNREFUSED" })
    await outage
    expect(await get("/api/v1/namespaces/default")).toMatchObject({ status: 200 })
  })

  it("logs evictions by pod, with the status the caller got", async () => {
    const node = await bed.registerNode()
    const namespace = bed.namespace()
    const labels = await Fixtures.createDeployment(bed.clients, namespace, {
      name: Fixtures.uniqueName("faults"),
      replicas: 1,
      preferNode: node.name
    })
    const [pod] = await Fixtures.waitForReadyPods(bed.clients, namespace, labels, 1)
    const name = pod?.metadata?.name ?? ""
    proxy.inject({
      method: "POST",
      path: `/api/v1/namespaces/${namespace}/pods/${name}/eviction`,
      fault: { _tag: "status", status: 429, retryAfterSeconds: 1 },
      times: 1
    })
    const evict = () =>
      core.createNamespacedPodEviction({
        name,
        namespace,
        body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name, namespace } }
      })
    await expect(evict()).rejects.toMatchObject({ code: 429 })
    await evict()
    const evictions = proxy.log.filter((entry) => entry.eviction?.pod === `${namespace}/${name}`)
    expect(evictions.map((entry) => entry.status)).toEqual([429, 201])
    expect(proxy.acceptedEvictions()).toContain(`${namespace}/${name}`)
    expect(readFileSync(proxy.kubeconfig, "utf8")).toContain(proxy.url)
  })
})
