/**
 * Fake nodes in bulk, for benchmarks at cluster scale: EC2 instances launched in moto a hundred per call and
 * their Nodes created concurrently, without `Fixtures.registerNode`'s wait for each node to be Ready (a
 * benchmark waits for them all at once, with a watch). Nodes look like registerNode's: named after the
 * instance's private DNS name (or as the caller names them), `spec.providerID` = `aws:///<zone>/<instance-id>`, managed by KWOK; but without the
 * `testbed.nth.dev/fake` label, so that no other test's workload lands on them.
 */
import { DescribeInstancesCommand, RunInstancesCommand, TerminateInstancesCommand } from "@aws-sdk/client-ec2"
import type { Clients } from "./fixtures.ts"

export interface Instance {
  readonly instanceId: string
  readonly privateDnsName: string
  readonly zone: string
  readonly providerId: string
}

export interface LaunchOptions {
  readonly count: number
  /** Tags of every instance (keys with `""` values are fine: a MANAGED_TAG). */
  readonly tags?: Readonly<Record<string, string>>
  /**
   * Spread over these zones, one RunInstances per zone and hundred (moto gives each zone's default subnet, a
   * /20, its private addresses one after the other). Default us-east-1a to us-east-1f.
   */
  readonly zones?: ReadonlyArray<string>
  readonly instanceType?: string
}

/** Launches `count` running instances. */
export const launch = async (clients: Clients, options: LaunchOptions): Promise<Array<Instance>> => {
  const zones = options.zones ?? ["a", "b", "c", "d", "e", "f"].map((z) => `us-east-1${z}`)
  const tags = Object.entries(options.tags ?? {}).map(([Key, Value]) => ({ Key, Value }))
  const calls: Array<{ zone: string; count: number }> = []
  for (const [i, zone] of zones.entries()) {
    let left = Math.floor(options.count / zones.length) + (i < options.count % zones.length ? 1 : 0)
    while (left > 0) {
      const count = Math.min(100, left)
      calls.push({ zone, count })
      left -= count
    }
  }
  const launched = await Promise.all(
    calls.map(async ({ zone, count }) => {
      const run = await clients.ec2.send(
        new RunInstancesCommand({
          ImageId: "ami-12c6146b",
          InstanceType: (options.instanceType ?? "m5.large") as never,
          MinCount: count,
          MaxCount: count,
          Placement: { AvailabilityZone: zone },
          ...(tags.length > 0 ? { TagSpecifications: [{ ResourceType: "instance", Tags: tags }] } : {})
        })
      )
      return (run.Instances ?? []).map((instance): Instance => {
        if (!instance.InstanceId || !instance.PrivateDnsName) throw new Error("moto returned no instance")
        return {
          instanceId: instance.InstanceId,
          privateDnsName: instance.PrivateDnsName,
          zone,
          providerId: `aws:///${zone}/${instance.InstanceId}`
        }
      })
    })
  )
  return launched.flat()
}

/** Terminates the instances (moto keeps them, `terminated`, as EC2 does for a while). */
export const terminate = async (clients: Clients, instances: ReadonlyArray<Instance>): Promise<void> => {
  for (let i = 0; i < instances.length; i += 500) {
    await clients.ec2.send(
      new TerminateInstancesCommand({ InstanceIds: instances.slice(i, i + 500).map((x) => x.instanceId) })
    )
  }
}

/**
 * Runs `task` over `items`, at most `concurrency` at once. After a failure no task starts; once those under way
 * have ended, rejects with the first failure (so that a cleanup that follows sees everything they made).
 */
const forEachBounded = async <A>(
  items: ReadonlyArray<A>,
  concurrency: number,
  task: (item: A, index: number) => Promise<void>
): Promise<void> => {
  let next = 0
  let failure: { readonly error: unknown } | undefined
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length && failure === undefined) {
        const index = next++
        await task(items[index]!, index).catch((error: unknown) => {
          failure ??= { error }
        })
      }
    })
  )
  if (failure !== undefined) throw failure.error
}

/**
 * Describes the instances as nth does (DescribeInstances with an `instance-id` filter of up to `batchSize` ids),
 * `concurrency` calls at a time; returns how many EC2 returned. For an emulator ceiling: moto's cost grows with
 * the instances it answers with.
 */
export const describe = async (
  clients: Clients,
  instances: ReadonlyArray<Instance>,
  options: { readonly batchSize?: number; readonly concurrency?: number } = {}
): Promise<number> => {
  const batchSize = options.batchSize ?? 100
  const batches: Array<Array<string>> = []
  for (let i = 0; i < instances.length; i += batchSize)
    batches.push(instances.slice(i, i + batchSize).map((instance) => instance.instanceId))
  let found = 0
  await forEachBounded(batches, options.concurrency ?? 4, async (ids) => {
    let nextToken: string | undefined
    do {
      const page = await clients.ec2.send(
        new DescribeInstancesCommand({
          Filters: [{ Name: "instance-id", Values: ids }],
          ...(nextToken ? { NextToken: nextToken } : {})
        })
      )
      for (const reservation of page.Reservations ?? []) found += reservation.Instances?.length ?? 0
      nextToken = page.NextToken || undefined
    } while (nextToken)
  })
  return found
}

export interface NodeOptions {
  /** Labels of every node, besides those a kubelet on EC2 sets (select the fleet's nodes with them). */
  readonly labels?: Readonly<Record<string, string>>
  /**
   * The node's name. Default: the instance's private DNS name, as on EKS. moto draws the private addresses of
   * instances launched without a subnet at random from 10.0.0.0/8, so two instances in a thousand share one now
   * and then: give names of the fleet's own when that must not fail (the `kubernetes.io/hostname` label stays
   * the private DNS name, and the provider id tells the two apart).
   */
  readonly name?: (instance: Instance, index: number) => string
  /** Creates in flight at once. Default 32. */
  readonly concurrency?: number
}

/**
 * Creates a KWOK-managed Node for each instance (Ready within seconds; wait for that with a watch); returns
 * their names, in the order of `instances`.
 */
export const registerNodes = async (
  clients: Clients,
  instances: ReadonlyArray<Instance>,
  options: NodeOptions = {}
): Promise<Array<string>> => {
  const names = instances.map((instance, i) => options.name?.(instance, i) ?? instance.privateDnsName)
  await forEachBounded(instances, options.concurrency ?? 32, async (instance, i) => {
    const name = names[i]!
    await clients.core.createNode({
      body: {
        metadata: {
          name,
          labels: {
            "kubernetes.io/hostname": instance.privateDnsName,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": "m5.large",
            "topology.kubernetes.io/zone": instance.zone,
            "topology.kubernetes.io/region": instance.zone.slice(0, -1),
            ...options.labels
          },
          annotations: { "kwok.x-k8s.io/node": "fake" }
        },
        spec: { providerID: instance.providerId },
        status: {
          capacity: { cpu: "64", memory: "256Gi", pods: "110" },
          allocatable: { cpu: "64", memory: "256Gi", pods: "110" }
        }
      }
    })
  })
  return names
}

/** Deletes every node with these labels (one call). */
export const deleteNodes = async (clients: Clients, labels: Readonly<Record<string, string>>) => {
  await clients.core.deleteCollectionNode({
    labelSelector: Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(",")
  })
}
