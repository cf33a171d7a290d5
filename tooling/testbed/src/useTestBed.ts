/**
 * Per test file: clients for the run's test bed, a fresh namespace, and fake nodes that are deleted (with the
 * namespace) when the file ends. AWS resources are named uniquely per file instead of resetting moto, because
 * several packages' test runs may share one test bed at the same time.
 */
import { afterAll, beforeAll, inject } from "vitest"
import * as Fixtures from "./fixtures.ts"
import type { Environment } from "./TestBed.ts"

declare module "vitest" {
  export interface ProvidedContext {
    /** The run's test bed, provided by the global setup (`@nth/testbed/vitest-setup`). */
    nthTestbed: Environment
  }
}

export interface TestBedContext {
  readonly clients: Fixtures.Clients
  /** The file's namespace (available from `beforeAll` on). */
  readonly namespace: () => string
  /** Registers a fake node that is deleted when the file ends. */
  readonly registerNode: (options?: Fixtures.NodeOptions) => Promise<Fixtures.FakeNode>
  /**
   * A node running a Deployment (preferring that node; `replicas` Ready pods), plus a spare node where its
   * replacements can go once the node is cordoned.
   */
  readonly nodeWithDeployment: (
    options?: Omit<Fixtures.DeploymentOptions, "name" | "replicas" | "preferNode"> & {
      readonly replicas?: number
    }
  ) => Promise<{ readonly node: Fixtures.FakeNode; readonly labels: Record<string, string> }>
  /** Runs `cleanup` when the file ends. */
  readonly defer: (cleanup: () => Promise<unknown> | unknown) => void
}

export const useTestBed = (): TestBedContext => {
  const clients = Fixtures.makeClients(inject("nthTestbed"))
  let namespace: string | undefined
  const cleanups: Array<() => Promise<unknown> | unknown> = []
  beforeAll(async () => {
    namespace = await Fixtures.createNamespace(clients)
  })
  afterAll(async () => {
    // Pods first, at once: once their nodes are gone no kubelet (KWOK) would ever finish them.
    if (namespace) await Fixtures.deleteNamespace(clients, namespace)
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {})
  })
  const registerNode = async (options?: Fixtures.NodeOptions) => {
    const node = await Fixtures.registerNode(clients, options)
    cleanups.push(() => Fixtures.deleteNode(clients, node.name))
    return node
  }
  return {
    clients,
    namespace: () => {
      if (namespace === undefined) throw new Error("the test bed's namespace exists from beforeAll on")
      return namespace
    },
    registerNode,
    nodeWithDeployment: async ({ replicas = 2, ...template } = {}) => {
      const node = await registerNode()
      await registerNode()
      if (namespace === undefined) throw new Error("the test bed's namespace exists from beforeAll on")
      const labels = await Fixtures.createDeployment(clients, namespace, {
        ...template,
        name: Fixtures.uniqueName("app"),
        replicas,
        preferNode: node.name
      })
      await Fixtures.waitForReadyPods(clients, namespace, labels, replicas)
      return { node, labels }
    },
    defer: (cleanup) => {
      cleanups.push(cleanup)
    }
  }
}
