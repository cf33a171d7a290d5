/**
 * The chart's other workloads, rendered by a real Helm and validated against the test bed's API: the queue-mode
 * Deployment with its PodDisruptionBudget, Service and ServiceMonitor; the Windows DaemonSet; the PodMonitor.
 * Names, selectors and the split of settings between modes are the Go handler's chart 0.27.6's (reference §2).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  containerOf,
  deploymentOf,
  dryRunOnServer,
  envOfWorkload,
  find,
  type KubeObject,
  kubectl,
  objectsOf,
  prepare,
  rendered,
  validate
} from "./harness.ts"

const queue = [
  "--set",
  "enableSqsTerminationDraining=true",
  "--set",
  "queueURL=https://sqs.us-east-1.amazonaws.com/123456789012/nth"
]
const names = (objects: ReadonlyArray<KubeObject>) =>
  objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()

describe("queue mode (enableSqsTerminationDraining)", () => {
  beforeAll(prepare, 900_000)

  it("replaces the DaemonSet by a Deployment with the Go handler's name, selector and pod spec", async () => {
    const manifest = await rendered(...queue)
    expect((await validate(manifest)).summary).toEqual({ valid: 4, invalid: 0, errors: 0, skipped: 0 })
    const objects = await objectsOf(manifest)
    expect(names(objects)).toEqual([
      "ClusterRole/aws-node-termination-handler",
      "ClusterRoleBinding/aws-node-termination-handler",
      "Deployment/aws-node-termination-handler",
      "ServiceAccount/aws-node-termination-handler"
    ])
    const deployment = find(objects, "Deployment")
    const selector = {
      "app.kubernetes.io/name": "aws-node-termination-handler",
      "app.kubernetes.io/instance": "aws-node-termination-handler",
      "app.kubernetes.io/component": "deployment"
    }
    expect(deployment.spec.selector).toEqual({ matchLabels: selector })
    expect(deployment.spec.template.metadata.labels).toEqual({
      ...selector,
      "k8s-app": "aws-node-termination-handler"
    })
    expect(deployment.spec.replicas).toBe(1)
    const pod = deployment.spec.template.spec
    expect(pod).toMatchObject({
      priorityClassName: "system-cluster-critical",
      nodeSelector: { "kubernetes.io/os": "linux" },
      serviceAccountName: "aws-node-termination-handler"
    })
    // No host namespace, no host path: any node, any Pod Security level.
    expect(pod.hostNetwork).toBeUndefined()
    expect(pod.volumes).toBeUndefined()
    expect(pod.tolerations).toBeUndefined()
    // The Deployment always serves its liveness probe.
    const container = containerOf(deployment)
    expect(container.ports).toEqual([{ name: "liveness-probe", containerPort: 8080, protocol: "TCP" }])
    expect(container.livenessProbe).toEqual({
      httpGet: { path: "/healthz", port: 8080 },
      initialDelaySeconds: 5,
      periodSeconds: 5
    })
  })

  it("passes the queue settings, and none of IMDS mode's", async () => {
    const env = envOfWorkload(await deploymentOf(...queue))
    expect(env).toMatchObject({
      ENABLE_SQS_TERMINATION_DRAINING: "true",
      QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/nth",
      WORKERS: "10",
      CHECK_ASG_TAG_BEFORE_DRAINING: "true",
      CHECK_TAG_BEFORE_DRAINING: "true",
      MANAGED_ASG_TAG: "aws-node-termination-handler/managed",
      MANAGED_TAG: "aws-node-termination-handler/managed",
      USE_PROVIDER_ID: "false",
      DELETE_SQS_MSG_IF_NODE_NOT_FOUND: "false",
      HEARTBEAT_INTERVAL: "-1",
      HEARTBEAT_UNTIL: "-1",
      SQS_MSG_VISIBILITY_TIMEOUT_SEC: "20",
      COMPLETE_LIFECYCLE_ACTION_DELAY_SECONDS: "-1",
      ENABLE_PROBES_SERVER: "true",
      NODE_TERMINATION_GRACE_PERIOD: "120"
    })
    for (const imdsOnly of [
      "METADATA_TRIES",
      "INSTANCE_METADATA_URL",
      "ENABLE_SPOT_INTERRUPTION_DRAINING",
      "ENABLE_SCHEDULED_EVENT_DRAINING",
      "ENABLE_ASG_LIFECYCLE_DRAINING",
      "ENABLE_REBALANCE_MONITORING",
      "ENABLE_REBALANCE_DRAINING",
      "UPTIME_FROM_FILE"
    ]) {
      expect(Object.keys(env)).not.toContain(imdsOnly)
    }
    // Set only when given (the credentials only as a pair), as in the Go handler's chart.
    expect(Object.keys(env)).not.toContain("AWS_REGION")
    expect(Object.keys(env)).not.toContain("AWS_ENDPOINT")
    const half = envOfWorkload(await deploymentOf(...queue, "--set", "awsAccessKeyID=AKIA"))
    expect(Object.keys(half)).not.toContain("AWS_ACCESS_KEY_ID")
    const given = envOfWorkload(
      await deploymentOf(
        ...queue,
        "--set",
        "awsRegion=eu-west-1",
        "--set",
        "awsEndpoint=http://localhost:5000",
        "--set",
        "awsAccessKeyID=AKIA",
        "--set",
        "awsSecretAccessKey=secret",
        "--set",
        "workers=25",
        "--set",
        "heartbeatInterval=60"
      )
    )
    expect(given).toMatchObject({
      AWS_REGION: "eu-west-1",
      AWS_ENDPOINT: "http://localhost:5000",
      AWS_ACCESS_KEY_ID: "AKIA",
      AWS_SECRET_ACCESS_KEY: "secret",
      WORKERS: "25",
      HEARTBEAT_INTERVAL: "60"
    })
  })

  it("spreads and protects the replicas: replicas, strategy, topology spread, a PodDisruptionBudget when replicas > 1", async () => {
    const budget = ["--set", "podDisruptionBudget.maxUnavailable=1"]
    const one = await objectsOf(await rendered(...queue, ...budget))
    expect(one.map((o) => o.kind)).not.toContain("PodDisruptionBudget")
    const manifest = await rendered(
      ...queue,
      ...budget,
      "--set",
      "replicas=3",
      "--set",
      "strategy.type=Recreate",
      "--set-json",
      'topologySpreadConstraints=[{"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"ScheduleAnyway","labelSelector":{"matchLabels":{"app.kubernetes.io/name":"aws-node-termination-handler"}}}]',
      "--set",
      "priorityClassName=high"
    )
    expect((await validate(manifest)).summary).toEqual({ valid: 5, invalid: 0, errors: 0, skipped: 0 })
    const objects = await objectsOf(manifest)
    const deployment = find(objects, "Deployment")
    expect(deployment.spec).toMatchObject({ replicas: 3, strategy: { type: "Recreate" } })
    expect(deployment.spec.template.spec.priorityClassName).toBe("high")
    expect(deployment.spec.template.spec.topologySpreadConstraints).toHaveLength(1)
    expect(find(objects, "PodDisruptionBudget").spec).toEqual({
      selector: {
        matchLabels:
          deployment.spec.selector && (deployment.spec.selector as { matchLabels: unknown }).matchLabels
      },
      maxUnavailable: 1
    })
  })

  it("serves metrics through a Service, scraped by a ServiceMonitor when asked", async () => {
    const manifest = await rendered(
      ...queue,
      "--set",
      "enablePrometheusServer=true",
      "--set",
      "serviceMonitor.create=true",
      "--set",
      "serviceMonitor.namespace=default",
      "--set",
      "serviceMonitor.labels.release=prometheus",
      "--set",
      "serviceMonitor.interval=15s"
    )
    const objects = await objectsOf(manifest)
    const service = find(objects, "Service")
    expect(service.spec).toMatchObject({
      type: "ClusterIP",
      selector: (find(objects, "Deployment").spec.selector as { matchLabels: unknown }).matchLabels,
      ports: [{ name: "http-metrics", port: 9092, targetPort: "http-metrics", protocol: "TCP" }]
    })
    expect(containerOf(find(objects, "Deployment")).ports).toContainEqual({
      name: "http-metrics",
      containerPort: 9092,
      protocol: "TCP"
    })
    const monitor = find(objects, "ServiceMonitor")
    expect(await dryRunOnServer(objects, ["ServiceMonitor"])).toMatchObject({ code: 0, stderr: "" })
    expect((await validate(manifest)).summary).toEqual({ valid: 5, invalid: 0, errors: 0, skipped: 1 })
    expect(monitor.metadata.namespace).toBe("default")
    expect(monitor.metadata.labels).toMatchObject({ release: "prometheus" })
    expect(monitor.spec).toEqual({
      jobLabel: "app.kubernetes.io/name",
      namespaceSelector: { matchNames: ["kube-system"] },
      selector: service.spec.selector && { matchLabels: service.spec.selector },
      endpoints: [{ port: "http-metrics", path: "/metrics", interval: "15s" }],
      sampleLimit: 5000
    })
    // No monitor without metrics, and a PodMonitor is IMDS mode's.
    const quiet = await objectsOf(
      await rendered(...queue, "--set", "serviceMonitor.create=true", "--set", "podMonitor.create=true")
    )
    expect(quiet.map((o) => o.kind)).not.toContain("ServiceMonitor")
    expect(quiet.map((o) => o.kind)).not.toContain("Service")
  })

  describe("Pod Security on the test bed's API server", () => {
    const namespace = `nth-chart-queue-restricted-${process.pid}`
    beforeAll(async () => {
      await kubectl(
        ["apply", "-f", "-"],
        JSON.stringify({
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: namespace, labels: { "pod-security.kubernetes.io/enforce": "restricted" } }
        })
      )
    })
    afterAll(async () => {
      await kubectl(["delete", "namespace", namespace, "--wait=false"])
    })

    it("the queue Deployment's pod meets the restricted profile as it comes", async () => {
      const deployment = await deploymentOf(...queue, "--set", "enablePrometheusServer=true")
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: "nth-queue-restricted-check",
          namespace,
          labels: deployment.spec.template.metadata.labels
        },
        spec: deployment.spec.template.spec
      }
      const outcome = await kubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify(pod))
      expect(outcome.stderr).toBe("")
      expect(outcome.code).toBe(0)
    })
  })
})

describe("Windows nodes (targetNodeOs)", () => {
  beforeAll(prepare, 900_000)

  it("renders the Windows DaemonSet beside the Linux one, named -win, with the Go handler's selector", async () => {
    const manifest = await rendered("--set", "targetNodeOs=linux windows")
    expect((await validate(manifest)).summary).toEqual({ valid: 5, invalid: 0, errors: 0, skipped: 0 })
    const objects = await objectsOf(manifest)
    expect(names(objects)).toContain("DaemonSet/aws-node-termination-handler")
    expect(names(objects)).toContain("DaemonSet/aws-node-termination-handler-win")
    const windows = objects.find((o) => o.metadata.name === "aws-node-termination-handler-win") as KubeObject
    const selector = {
      "app.kubernetes.io/name": "aws-node-termination-handler",
      "app.kubernetes.io/instance": "aws-node-termination-handler",
      "app.kubernetes.io/component": "daemonset",
      "kubernetes.io/os": "windows"
    }
    expect(windows.spec.selector).toEqual({ matchLabels: selector })
    expect(windows.spec.template.metadata.labels).toEqual({
      ...selector,
      "k8s-app": "aws-node-termination-handler"
    })
    const pod = windows.spec.template.spec
    expect(pod).toMatchObject({
      hostNetwork: false,
      dnsPolicy: "ClusterFirst",
      priorityClassName: "system-node-critical",
      nodeSelector: { "kubernetes.io/os": "windows" },
      tolerations: [{ operator: "Exists" }]
    })
    expect(pod.volumes).toBeUndefined()
    const env = envOfWorkload(windows)
    expect(env).toMatchObject({ ENABLE_SQS_TERMINATION_DRAINING: "false", METADATA_TRIES: "3" })
    expect(Object.keys(env)).not.toContain("UPTIME_FROM_FILE")
    // runAsUser dropped as in the Go handler's chart; nth's Linux-only additions dropped too.
    expect(containerOf(windows).securityContext).toEqual({
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      runAsGroup: 1000
    })
    // Windows alone renders no Linux DaemonSet.
    const alone = await objectsOf(await rendered("--set", "targetNodeOs=windows"))
    expect(alone.filter((o) => o.kind === "DaemonSet").map((o) => o.metadata.name)).toEqual([
      "aws-node-termination-handler-win"
    ])
  })

  it("publishes the Windows pod's ports on the host, and keeps the windows* > common > daemonset* precedence", async () => {
    const manifest = await rendered(
      "--set",
      "targetNodeOs=windows",
      "--set",
      "enablePrometheusServer=true",
      "--set",
      "enableProbesServer=true",
      "--set",
      "nodeSelector.common=yes",
      "--set",
      "windowsNodeSelector.win=yes",
      "--set-json",
      'windowsTolerations=[{"key":"os","value":"windows","operator":"Equal"}]',
      "--set",
      "windowsPodLabels.team=win",
      "--set",
      "dnsPolicy=Default"
    )
    const windows = find(await objectsOf(manifest), "DaemonSet")
    expect(containerOf(windows).ports).toEqual([
      { name: "liveness-probe", containerPort: 8080, hostPort: 8080, protocol: "TCP" },
      { name: "http-metrics", containerPort: 9092, hostPort: 9092, protocol: "TCP" }
    ])
    const pod = windows.spec.template.spec
    expect(pod.nodeSelector).toEqual({ "kubernetes.io/os": "windows", win: "yes" })
    expect(pod.tolerations).toEqual([{ key: "os", value: "windows", operator: "Equal" }])
    expect(pod.dnsPolicy).toBe("Default")
    expect(windows.spec.template.metadata.labels).toMatchObject({ team: "win" })
  })
})

describe("IMDS mode's PodMonitor", () => {
  beforeAll(prepare, 900_000)

  it("scrapes every DaemonSet pod's http-metrics port when metrics are on and podMonitor.create is set", async () => {
    const objects = await objectsOf(
      await rendered(
        "--set",
        "targetNodeOs=linux windows",
        "--set",
        "enablePrometheusServer=true",
        "--set",
        "podMonitor.create=true",
        "--set",
        "podMonitor.sampleLimit=100"
      )
    )
    const monitor = find(objects, "PodMonitor")
    expect(await dryRunOnServer(objects, ["PodMonitor"])).toMatchObject({ code: 0, stderr: "" })
    expect(monitor.metadata.namespace).toBe("kube-system")
    expect(monitor.spec).toEqual({
      jobLabel: "app.kubernetes.io/name",
      namespaceSelector: { matchNames: ["kube-system"] },
      // Both DaemonSets' pods: the selector leaves kubernetes.io/os out.
      selector: {
        matchLabels: {
          "app.kubernetes.io/name": "aws-node-termination-handler",
          "app.kubernetes.io/instance": "aws-node-termination-handler",
          "app.kubernetes.io/component": "daemonset"
        }
      },
      podMetricsEndpoints: [{ port: "http-metrics", path: "/metrics", interval: "30s" }],
      sampleLimit: 100
    })
    const off = await objectsOf(await rendered("--set", "podMonitor.create=true"))
    expect(off.map((o) => o.kind)).not.toContain("PodMonitor")
  })
})
