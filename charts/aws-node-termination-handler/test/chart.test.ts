/**
 * The chart, rendered by a real Helm and checked by kubeconform against the test bed's own API (strict schemas: a
 * misspelt field fails), then read back as objects: names and selector labels as the Go handler's chart 0.27.6
 * makes them (a release upgrades in place), the values' environment variables, least-privilege RBAC, refusals
 * by name of what the chart cannot honour yet, and the Pod Security "restricted" profile on the test bed's
 * API server.
 */
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  chart,
  containerOf,
  daemonSetOf,
  envOf,
  file,
  find,
  kubectl,
  objectsOf,
  prepare,
  rendered,
  run,
  template,
  tools,
  validate,
  work
} from "./harness.ts"

/** What the Go handler's chart 0.27.6 names and labels (reference §2.1), for the release of the guide. */
const goChart = {
  name: "aws-node-termination-handler",
  selector: {
    "app.kubernetes.io/name": "aws-node-termination-handler",
    "app.kubernetes.io/instance": "aws-node-termination-handler",
    "app.kubernetes.io/component": "daemonset",
    "kubernetes.io/os": "linux"
  },
  podLabels: {
    "app.kubernetes.io/name": "aws-node-termination-handler",
    "app.kubernetes.io/instance": "aws-node-termination-handler",
    "app.kubernetes.io/component": "daemonset",
    "kubernetes.io/os": "linux",
    "k8s-app": "aws-node-termination-handler"
  }
}

describe("the chart", () => {
  beforeAll(prepare, 900_000)

  it("passes helm lint, strict", async () => {
    const outcome = await run(tools().helm, ["lint", "--strict", chart])
    expect(outcome.stdout).toContain("0 chart(s) failed")
    expect(outcome.code).toBe(0)
  })

  it("packages the chart alone: the workspace package's files stay out", async () => {
    const out = join(work, "package")
    const packaged = await run(tools().helm, ["package", chart, "--destination", out])
    expect(packaged.code).toBe(0)
    const archive = packaged.stdout.trim().split(": ").at(-1) ?? ""
    const listing = await run("tar", ["-tzf", archive])
    const files = listing.stdout.trim().split("\n").sort()
    expect(files).toContain("aws-node-termination-handler/Chart.yaml")
    expect(files).toContain("aws-node-termination-handler/values.schema.json")
    expect(files).toContain("aws-node-termination-handler/templates/daemonset.linux.yaml")
    expect(
      files.filter((f) => /package\.json|tsconfig|vitest|turbo|biome|\.ts$|\/test\/|node_modules/.test(f))
    ).toEqual([])
  })

  it("renders IMDS mode by default: ServiceAccount, ClusterRole and binding, the Linux DaemonSet, all valid", async () => {
    const manifest = await rendered()
    const verdict = await validate(manifest)
    expect(verdict.summary).toEqual({ valid: 4, invalid: 0, errors: 0, skipped: 0 })
    const objects = await objectsOf(manifest)
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      "ClusterRole/aws-node-termination-handler",
      "ClusterRoleBinding/aws-node-termination-handler",
      "DaemonSet/aws-node-termination-handler",
      "ServiceAccount/aws-node-termination-handler"
    ])
    // The Go handler's names and selector: `helm upgrade` from its chart changes the DaemonSet in place.
    const daemonSet = find(objects, "DaemonSet")
    expect(daemonSet.metadata.namespace).toBe("kube-system")
    expect(daemonSet.spec.selector).toEqual({ matchLabels: goChart.selector })
    expect(daemonSet.spec.template.metadata.labels).toEqual(goChart.podLabels)
    expect(daemonSet.metadata.labels).toMatchObject({
      "app.kubernetes.io/name": "aws-node-termination-handler",
      "app.kubernetes.io/instance": "aws-node-termination-handler",
      "app.kubernetes.io/component": "daemonset",
      "app.kubernetes.io/part-of": "aws-node-termination-handler",
      "app.kubernetes.io/managed-by": "Helm",
      "helm.sh/chart": expect.stringMatching(/^aws-node-termination-handler-\d+\.\d+\.\d+/)
    })
    const pod = daemonSet.spec.template.spec
    expect(pod.serviceAccountName).toBe("aws-node-termination-handler")
    expect(find(objects, "ClusterRoleBinding").subjects).toEqual([
      { kind: "ServiceAccount", name: "aws-node-termination-handler", namespace: "kube-system" }
    ])
    // The Go handler's IMDS-mode pod spec: host network, node-critical, every taint tolerated, not on Fargate.
    expect(pod).toMatchObject({
      hostNetwork: true,
      dnsPolicy: "ClusterFirstWithHostNet",
      priorityClassName: "system-node-critical",
      nodeSelector: { "kubernetes.io/os": "linux" },
      tolerations: [{ operator: "Exists" }]
    })
    expect(pod.affinity).toEqual({
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            {
              matchExpressions: [
                { key: "eks.amazonaws.com/compute-type", operator: "NotIn", values: ["fargate"] }
              ]
            }
          ]
        }
      }
    })
    expect(containerOf(daemonSet).image).toMatch(/^ghcr\.io\/nth\/aws-node-termination-handler:\d+\.\d+\.\d+/)
    expect(containerOf(daemonSet).securityContext).toEqual({
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      runAsUser: 1000,
      runAsGroup: 1000,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" }
    })
  })

  it("renders the guide's install: --set nodeSelector.type=self-managed-spot lands on the DaemonSet", async () => {
    const manifest = await rendered("--set", "nodeSelector.type=self-managed-spot")
    expect((await validate(manifest)).summary).toEqual({ valid: 4, invalid: 0, errors: 0, skipped: 0 })
    const daemonSet = find(await objectsOf(manifest), "DaemonSet")
    expect(daemonSet.spec.template.spec.nodeSelector).toEqual({
      "kubernetes.io/os": "linux",
      type: "self-managed-spot"
    })
    expect(daemonSet.spec.selector).toEqual({ matchLabels: goChart.selector })
  })

  it("keeps the Go handler's scheduling precedence: linux* over the common value over daemonset*", async () => {
    const all = [
      "--set",
      "daemonsetNodeSelector.a=daemonset",
      "--set-json",
      'daemonsetTolerations=[{"key":"daemonset","operator":"Exists"}]'
    ]
    const fallback = (await daemonSetOf(...all)).spec.template.spec
    expect(fallback.nodeSelector).toEqual({ "kubernetes.io/os": "linux", a: "daemonset" })
    expect(fallback.tolerations).toEqual([{ key: "daemonset", operator: "Exists" }])
    const common = [
      ...all,
      "--set",
      "nodeSelector.b=common",
      "--set-json",
      'tolerations=[{"key":"common","operator":"Exists"}]',
      "--set-json",
      'affinity={"podAntiAffinity":{}}'
    ]
    const commonWins = (await daemonSetOf(...common)).spec.template.spec
    expect(commonWins.nodeSelector).toEqual({ "kubernetes.io/os": "linux", b: "common" })
    expect(commonWins.tolerations).toEqual([{ key: "common", operator: "Exists" }])
    // The Fargate exclusion is replaced, not added to.
    expect(commonWins.affinity).toEqual({ podAntiAffinity: {} })
    const linux = (await daemonSetOf(...common, "--set", "linuxNodeSelector.c=linux")).spec.template.spec
    expect(linux.nodeSelector).toEqual({ "kubernetes.io/os": "linux", c: "linux" })
  })

  it("passes the values to the program under the Go handler's environment variables", async () => {
    const defaults = await envOf()
    expect(defaults).toMatchObject({
      ENABLE_SQS_TERMINATION_DRAINING: "false",
      TAINT_NODE: "false",
      NODE_TERMINATION_GRACE_PERIOD: "120",
      POD_TERMINATION_GRACE_PERIOD: "-1",
      ENABLE_SPOT_INTERRUPTION_DRAINING: "true",
      ENABLE_ASG_LIFECYCLE_DRAINING: "true",
      ENABLE_SCHEDULED_EVENT_DRAINING: "true",
      DELETE_LOCAL_DATA: "true",
      IGNORE_DAEMON_SETS: "true",
      METADATA_TRIES: "3",
      UPTIME_FROM_FILE: "/proc/uptime",
      LOG_LEVEL: "info",
      PROBES_SERVER_PORT: "8080",
      PROBES_SERVER_ENDPOINT: "/healthz",
      PROMETHEUS_SERVER_PORT: "9092",
      NODE_NAME: JSON.stringify({ fieldRef: { fieldPath: "spec.nodeName" } }),
      POD_NAME: JSON.stringify({ fieldRef: { fieldPath: "metadata.name" } }),
      NAMESPACE: JSON.stringify({ fieldRef: { fieldPath: "metadata.namespace" } })
    })
    // Queue-mode settings stay out of the DaemonSet, as in the Go handler's chart.
    expect(Object.keys(defaults)).not.toContain("QUEUE_URL")
    expect(Object.keys(defaults)).not.toContain("WORKERS")

    const set = await envOf(
      "--set",
      "taintNode=true",
      "--set",
      "nodeTerminationGracePeriod=300",
      "--set",
      "podTerminationGracePeriod=30",
      "--set",
      "enableSpotInterruptionDraining=false",
      "--set-json",
      'extraEnv=[{"name":"TAINT_EFFECT","value":"NoExecute"},{"name":"ENABLE_IMDSV1_FALLBACK","value":"true"}]'
    )
    expect(set).toMatchObject({
      TAINT_NODE: "true",
      NODE_TERMINATION_GRACE_PERIOD: "300",
      POD_TERMINATION_GRACE_PERIOD: "30",
      ENABLE_SPOT_INTERRUPTION_DRAINING: "false",
      TAINT_EFFECT: "NoExecute",
      ENABLE_IMDSV1_FALLBACK: "true"
    })
  })

  it("writes large integers from a values file as integers (not 1e+06)", async () => {
    const values = file("values.yaml", "nodeTerminationGracePeriod: 1000000\nprometheusServerPort: 10250\n")
    const variables = await envOf("-f", values)
    expect(variables.NODE_TERMINATION_GRACE_PERIOD).toBe("1000000")
    expect(variables.PROMETHEUS_SERVER_PORT).toBe("10250")
  })

  it("declares the servers' ports and the liveness probe when they are on", async () => {
    const manifest = await rendered(
      "--set",
      "enablePrometheusServer=true",
      "--set",
      "enableProbesServer=true",
      "--set",
      "probes.httpGet.port=8081"
    )
    expect((await validate(manifest)).summary).toMatchObject({ valid: 4, invalid: 0, errors: 0 })
    const container = containerOf(find(await objectsOf(manifest), "DaemonSet"))
    expect(container.ports).toEqual([
      { name: "liveness-probe", containerPort: 8081, protocol: "TCP" },
      { name: "http-metrics", containerPort: 9092, protocol: "TCP" }
    ])
    expect(container.livenessProbe).toEqual({
      httpGet: { path: "/healthz", port: 8081 },
      initialDelaySeconds: 5,
      periodSeconds: 5
    })
    // nth's own: not ready while a dependency does not answer, on the same port.
    expect(container.readinessProbe).toEqual({
      httpGet: { path: "/readyz", port: 8081 },
      periodSeconds: 5,
      failureThreshold: 3
    })
    expect(container.env).toEqual(
      expect.arrayContaining([
        { name: "ENABLE_PROMETHEUS_SERVER", value: "true" },
        { name: "ENABLE_PROBES_SERVER", value: "true" },
        { name: "PROBES_SERVER_PORT", value: "8081" }
      ])
    )
  })

  // The list below is read from nth's code by hand (each rule's reason is in templates/clusterrole.yaml); the proof
  // that each rule is needed and enough, with the ServiceAccount's own token, is test/rbac.test.ts.
  it("renders the ClusterRole of nth's IMDS-mode calls; Events only when they are emitted, node status only for the condition", async () => {
    const rules = find(await objectsOf(await rendered()), "ClusterRole").rules
    expect(rules).toEqual([
      { apiGroups: [""], resources: ["nodes"], verbs: ["get", "patch"] },
      { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
      { apiGroups: [""], resources: ["pods/eviction"], verbs: ["create"] },
      { apiGroups: ["apps"], resources: ["daemonsets"], verbs: ["get"] },
      { apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: ["list", "watch"] }
    ])
    const withEvents = find(
      await objectsOf(await rendered("--set", "emitKubernetesEvents=true")),
      "ClusterRole"
    ).rules
    expect(withEvents).toEqual([
      ...(rules ?? []),
      { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] }
    ])
    // ENABLE_NODE_CONDITION (through extraEnv, as any value the programs read as true) adds the status subresource.
    for (const value of ["true", "1", "false"]) {
      const withCondition = find(
        await objectsOf(
          await rendered(
            "--set",
            "extraEnv[0].name=ENABLE_NODE_CONDITION",
            "--set-string",
            `extraEnv[0].value=${value}`
          )
        ),
        "ClusterRole"
      ).rules
      expect(withCondition, value).toEqual(
        value === "false"
          ? rules
          : [
              rules?.[0],
              { apiGroups: [""], resources: ["nodes/status"], verbs: ["patch"] },
              ...(rules ?? []).slice(1)
            ]
      )
    }
    const none = await objectsOf(
      await rendered("--set", "rbac.create=false", "--set", "serviceAccount.create=false")
    )
    expect(none.map((o) => o.kind)).toEqual(["DaemonSet"])
    expect(find(none, "DaemonSet").spec.template.spec.serviceAccountName).toBe("default")
  })

  it.each([
    ["taintNode=yes", "/taintNode", "want boolean"],
    ["nodeTerminationGracePeriod=soon", "/nodeTerminationGracePeriod", "want integer"],
    ["nodeSelector.spot=true", "/nodeSelector/spot", "want string"],
    ["logLevel=verbose", "/logLevel", "does not match pattern"]
  ])("refuses a value of the wrong type, naming it: --set %s", async (assignment, path, message) => {
    const outcome = await template("--set", assignment)
    expect(outcome.code).not.toBe(0)
    expect(outcome.stderr).toContain(`at '${path}'`)
    expect(outcome.stderr).toContain(message)
  })

  it("allows unknown keys (values files are carried across versions)", async () => {
    await rendered("--set", "someFutureValue=1", "--set", "image.somethingElse=x")
  })

  it.each([
    ["targetNodeOs=", "renders no DaemonSet"],
    ["targetNodeOs=macos", 'targetNodeOs="macos" renders no DaemonSet'],
    ["enableSqsTerminationDraining=true", "enableSqsTerminationDraining=true (queue mode) needs queueURL"],
    ["logFormatVersion=2", "logFormatVersion=2 is not supported"]
  ])("refuses what it cannot honour, by name: --set %s", async (assignment, message) => {
    const outcome = await template("--set", assignment)
    expect(outcome.code).not.toBe(0)
    expect(outcome.stderr).toContain(message)
  })

  it.each([
    [
      "podLabels.app\\.kubernetes\\.io/name=other",
      'podLabels.app.kubernetes.io/name="other" contradicts the linux DaemonSet\'s selector'
    ],
    ["linuxPodLabels.kubernetes\\.io/os=windows", 'linuxPodLabels.kubernetes.io/os="windows" contradicts'],
    [
      "nodeSelector.kubernetes\\.io/os=windows",
      'nodeSelector.kubernetes.io/os="windows" would send the linux DaemonSet\'s pods to windows nodes'
    ]
  ])(
    "refuses a pod label or node selector that contradicts the workload's own: --set %s",
    async (assignment, message) => {
      const outcome = await template("--set", assignment)
      expect(outcome.code).not.toBe(0)
      expect(outcome.stderr).toContain(message)
    }
  )

  it("accepts the same values as the chart's own, and a k8s-app pod label of the user's", async () => {
    const daemonSet = await daemonSetOf(
      "--set",
      "nodeSelector.kubernetes\\.io/os=linux",
      "--set",
      "podLabels.app\\.kubernetes\\.io/component=daemonset",
      "--set",
      "podLabels.k8s-app=mine"
    )
    expect(daemonSet.spec.template.spec.nodeSelector).toEqual({ "kubernetes.io/os": "linux" })
    expect(daemonSet.spec.template.metadata.labels).toEqual({ ...goChart.podLabels, "k8s-app": "mine" })
    // With both systems, a Linux node selector would send the Windows pods to Linux nodes: refused.
    const both = await template(
      "--set",
      "targetNodeOs=linux windows",
      "--set",
      "nodeSelector.kubernetes\\.io/os=linux"
    )
    expect(both.stderr).toContain("would send the windows DaemonSet's pods to linux nodes")
  })

  it("lets extraEnv override a variable the chart sets: one entry, extraEnv's value", async () => {
    const variables = await envOf(
      "--set-json",
      'extraEnv=[{"name":"LOG_LEVEL","value":"debug"}]',
      "--set",
      "logLevel=error"
    )
    expect(variables.LOG_LEVEL).toBe("debug")
  })

  it("renders a PodSecurityPolicy and the Role to use it on clusters older than 1.25 (rbac.pspEnabled)", async () => {
    const old = await objectsOf(await rendered("--kube-version", "1.24.0"))
    expect(old.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      "ClusterRole/aws-node-termination-handler",
      "ClusterRoleBinding/aws-node-termination-handler",
      "DaemonSet/aws-node-termination-handler",
      "PodSecurityPolicy/aws-node-termination-handler",
      "Role/aws-node-termination-handler-psp",
      "RoleBinding/aws-node-termination-handler-psp",
      "ServiceAccount/aws-node-termination-handler"
    ])
    // What the default DaemonSet pod needs, and no more: the host network, the uptime file read-only, no
    // capability. (The test bed is newer than 1.25: no API server here can check the policy itself.)
    expect(find(old, "PodSecurityPolicy").spec).toMatchObject({
      privileged: false,
      hostNetwork: true,
      allowPrivilegeEscalation: false,
      allowedCapabilities: [],
      allowedHostPaths: [{ pathPrefix: "/proc/uptime", readOnly: true }],
      volumes: ["configMap", "secret", "projected", "downwardAPI", "emptyDir", "hostPath"]
    })
    expect(find(old, "Role").rules).toEqual([
      {
        apiGroups: ["policy"],
        resources: ["podsecuritypolicies"],
        verbs: ["use"],
        resourceNames: ["aws-node-termination-handler"]
      }
    ])
    const queue = find(
      await objectsOf(
        await rendered(
          "--kube-version",
          "1.24.0",
          "--set",
          "enableSqsTerminationDraining=true",
          "--set",
          "queueURL=q"
        )
      ),
      "PodSecurityPolicy"
    )
    expect(queue.spec).toMatchObject({
      hostNetwork: false,
      volumes: ["configMap", "secret", "projected", "downwardAPI", "emptyDir"]
    })
    expect(queue.spec.allowedHostPaths).toBeUndefined()
    // The Windows DaemonSet publishes its ports on the host: the policy allows them there too.
    const windows = find(
      await objectsOf(
        await rendered(
          "--kube-version",
          "1.24.0",
          "--set",
          "targetNodeOs=windows",
          "--set",
          "enablePrometheusServer=true"
        )
      ),
      "PodSecurityPolicy"
    )
    expect(windows.spec).toMatchObject({ hostNetwork: false, hostPorts: [{ min: 9092, max: 9092 }] })
    const kinds = async (...args: ReadonlyArray<string>) =>
      (await objectsOf(await rendered(...args))).map((o) => o.kind)
    expect(await kinds("--kube-version", "1.24.0", "--set", "rbac.pspEnabled=false")).not.toContain(
      "PodSecurityPolicy"
    )
    expect(await kinds("--kube-version", "1.25.0")).not.toContain("PodSecurityPolicy")
  })

  describe("Pod Security on the test bed's API server", () => {
    const namespace = `nth-chart-restricted-${process.pid}`

    beforeAll(async () => {
      const created = await kubectl(
        ["apply", "-f", "-"],
        JSON.stringify({
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: namespace, labels: { "pod-security.kubernetes.io/enforce": "restricted" } }
        })
      )
      expect(created.stderr).toBe("")
    })
    afterAll(async () => {
      await kubectl(["delete", "namespace", namespace, "--wait=false"])
    })

    /** A server-side dry run of one pod of the DaemonSet, in a namespace enforcing "restricted". */
    const admit = async (...args: ReadonlyArray<string>) => {
      const daemonSet = await daemonSetOf(...args)
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: "nth-restricted-check",
          namespace,
          labels: daemonSet.spec.template.metadata.labels
        },
        spec: daemonSet.spec.template.spec
      }
      return kubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify(pod))
    }

    it("the default pod breaks it only by the Go handler's host network and uptime file", async () => {
      const outcome = await admit()
      expect(outcome.code).not.toBe(0)
      // Nothing else: no capability, seccomp, privilege escalation or non-root finding.
      expect(outcome.stderr).toMatch(
        /violates PodSecurity "restricted:[^"]*": host namespaces \(hostNetwork=true\), restricted volume types \(volume "uptime" uses restricted volume type "hostPath"\)$/m
      )
    })

    it("without them (useHostNetwork=false, procUptimeFile empty) the pod is admitted", async () => {
      const outcome = await admit("--set", "useHostNetwork=false", "--set", "procUptimeFile=")
      expect(outcome.stderr).toBe("")
      expect(outcome.code).toBe(0)
    })
  })
})
