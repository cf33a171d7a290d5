import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { Settings } from "../src/index.ts"

const parse = (env: Record<string, string>) => Settings.parse({ NODE_NAME: "node-1", ...env })

const ok = (env: Record<string, string>) => {
  const parsed = parse(env)
  if (parsed instanceof Settings.InvalidSettings) throw new Error(parsed.message)
  return parsed
}

describe("Settings", () => {
  it("has the Go handler's defaults", () => {
    const { settings } = ok({})
    expect(settings).toMatchObject({
      dryRun: false,
      metadataUrl: "http://169.254.169.254",
      ignoreDaemonSets: true,
      deleteLocalData: true,
      podTerminationGracePeriod: -1,
      nodeTerminationGracePeriod: 120,
      enableScheduledEventDraining: true,
      enableSpotInterruptionDraining: true,
      enableAsgLifecycleDraining: false,
      enableRebalanceMonitoring: false,
      cordonOnly: false,
      taintNode: false,
      taintEffect: "NoSchedule",
      logLevel: "info",
      prometheusServerPort: 9092,
      probesServerPort: 8080,
      probesServerEndpoint: "/healthz",
      workers: 10,
      sqsMsgVisibilityTimeoutSec: 20,
      metadataTries: 3,
      // The Go handler reads IMDS without a token when it cannot get one.
      allowImdsV1Fallback: true
    })
  })

  it("in queue mode, honours the rebalance switches only when one of them was set (the Go handler's #786)", () => {
    const queue = {
      ENABLE_SQS_TERMINATION_DRAINING: "true",
      QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/1/q"
    }
    const rules = (env: Record<string, string>) => {
      const { settings, given } = ok({ ...queue, ...env })
      return Settings.toHandlerOptions(settings, given).actions
    }
    expect(rules({})).toMatchObject({ mode: "queue", rebalanceSettingsGiven: false })
    expect(rules({ ENABLE_REBALANCE_MONITORING: "" })).toMatchObject({ rebalanceSettingsGiven: false })
    expect(rules({ ENABLE_REBALANCE_MONITORING: "false" })).toMatchObject({ rebalanceSettingsGiven: true })
    expect(rules({ ENABLE_REBALANCE_DRAINING: "true" })).toMatchObject({
      rebalanceSettingsGiven: true,
      enableRebalanceDraining: true
    })
  })

  it("reads booleans as Go does", () => {
    for (const value of ["1", "t", "T", "TRUE", "true", "True"])
      expect(ok({ DRY_RUN: value }).settings.dryRun).toBe(true)
    for (const value of ["0", "f", "F", "FALSE", "false", "False"])
      expect(ok({ DRY_RUN: value }).settings.dryRun).toBe(false)
  })

  it("lists every bad setting in one message", () => {
    const parsed = Settings.parse({
      DRY_RUN: "maybe",
      WORKERS: "ten",
      LOG_LEVEL: "loud",
      TAINT_EFFECT: "NoWay",
      HEARTBEAT_INTERVAL: "30",
      INSTANCE_METADATA_URL: "not a url"
    })
    expect(parsed).toBeInstanceOf(Settings.InvalidSettings)
    if (parsed instanceof Settings.InvalidSettings) {
      for (const name of [
        "DRY_RUN",
        "WORKERS",
        "LOG_LEVEL",
        "TAINT_EFFECT",
        "HEARTBEAT_INTERVAL",
        "NODE_NAME",
        "INSTANCE_METADATA_URL"
      ]) {
        expect(parsed.message).toContain(name)
      }
      expect(parsed.problems).toHaveLength(7)
    }
  })

  it("warns that a NoExecute taint evicts do-not-evict pods all the same", () => {
    expect(ok({ ENABLE_POD_DRAIN_ANNOTATIONS: "true" }).warnings).toEqual([])
    expect(ok({ TAINT_NODE: "true", TAINT_EFFECT: "NoExecute" }).warnings).toEqual([])
    const warned = ok({
      ENABLE_POD_DRAIN_ANNOTATIONS: "true",
      TAINT_NODE: "true",
      TAINT_EFFECT: "NoExecute",
      ENABLE_OUT_OF_SERVICE_TAINT: "true"
    }).warnings.join("\n")
    expect(warned).toContain("TAINT_NODE with TAINT_EFFECT=NoExecute and ENABLE_OUT_OF_SERVICE_TAINT")
    expect(warned).toContain("nth.aws/do-not-evict")
  })

  it("takes the deprecated names when the new ones are unset, and warns", () => {
    const parsed = ok({ GRACE_PERIOD: "30" })
    expect(parsed.settings.podTerminationGracePeriod).toBe(30)
    expect(parsed.warnings.join()).toContain("GRACE_PERIOD is deprecated")
    expect(
      ok({ GRACE_PERIOD: "30", POD_TERMINATION_GRACE_PERIOD: "45" }).settings.podTerminationGracePeriod
    ).toBe(45)
  })

  it("checks queue-mode settings only in queue mode", () => {
    expect(parse({ ENABLE_SQS_TERMINATION_DRAINING: "true" })).toBeInstanceOf(Settings.InvalidSettings)
    expect(
      ok({
        ENABLE_SQS_TERMINATION_DRAINING: "true",
        QUEUE_URL: "http://localhost/q",
        SQS_MSG_VISIBILITY_TIMEOUT_SEC: "30"
      }).settings.enableSqsTerminationDraining
    ).toBe(true)
    expect(
      parse({
        ENABLE_SQS_TERMINATION_DRAINING: "true",
        QUEUE_URL: "q",
        SQS_MSG_VISIBILITY_TIMEOUT_SEC: "200"
      })
    ).toBeInstanceOf(Settings.InvalidSettings)
  })

  it("refuses queue mode in the IMDS program, saying which program runs it", () => {
    const parsed = Settings.parse(
      { NODE_NAME: "node-1", ENABLE_SQS_TERMINATION_DRAINING: "true", QUEUE_URL: "http://localhost/q" },
      { program: "imds" }
    )
    expect(parsed).toBeInstanceOf(Settings.InvalidSettings)
    if (parsed instanceof Settings.InvalidSettings) {
      // One problem, about the mode: queue-mode checks do not pile up on top of it.
      expect(parsed.problems).toHaveLength(1)
      expect(parsed.message).toContain("ENABLE_SQS_TERMINATION_DRAINING")
      expect(parsed.message).toContain("runs IMDS mode only")
    }
    const imds = Settings.parse(
      { NODE_NAME: "node-1", ENABLE_SQS_TERMINATION_DRAINING: "false" },
      { program: "imds" }
    )
    expect(imds).not.toBeInstanceOf(Settings.InvalidSettings)
  })

  it("counts a variable set to the empty string as unset, as the Go handler", () => {
    const { settings, warnings } = ok({
      LOG_LEVEL: "",
      WORKERS: "",
      DRY_RUN: "",
      INSTANCE_METADATA_URL: "",
      TAINT_EFFECT: "",
      WEBHOOK_URL: "",
      POD_TERMINATION_GRACE_PERIOD: "",
      GRACE_PERIOD: "30"
    })
    expect(settings).toMatchObject({
      logLevel: "info",
      workers: 10,
      dryRun: false,
      metadataUrl: "http://169.254.169.254",
      taintEffect: "NoSchedule",
      webhookUrl: "",
      // The deprecated name fills in for a new name that is empty.
      podTerminationGracePeriod: 30
    })
    expect(warnings.join()).not.toContain("WEBHOOK_URL")
    expect(ok({ GRACE_PERIOD: "" }).settings.podTerminationGracePeriod).toBe(-1)
    expect(ok({ GRACE_PERIOD: "" }).warnings).toEqual([])
  })

  it("accepts the Go handler's settings it does not act on, with a warning", () => {
    const parsed = ok({ LOG_FORMAT_VERSION: "2", USE_APISERVER_CACHE: "true" })
    expect(parsed.settings).toMatchObject({ logFormatVersion: 2, useApiserverCache: true })
    const warnings = parsed.warnings.join("\n")
    expect(warnings).toContain("LOG_FORMAT_VERSION")
    expect(warnings).toContain("USE_APISERVER_CACHE")
    expect(ok({}).warnings).toEqual([])
    for (const name of ["LOG_FORMAT_VERSION", "USE_APISERVER_CACHE"]) expect(Settings.help()).toContain(name)
  })

  it("takes the webhook settings", () => {
    const parsed = ok({
      WEBHOOK_URL: "https://hooks.example.com/T000",
      WEBHOOK_HEADERS: '{"Content-type":"application/json"}',
      WEBHOOK_TEMPLATE: "{{ .NodeName }}",
      WEBHOOK_PROXY: "http://proxy:3128"
    })
    expect(parsed.settings).toMatchObject({
      webhookUrl: "https://hooks.example.com/T000",
      webhookTemplate: "{{ .NodeName }}",
      webhookProxy: "http://proxy:3128"
    })
    expect(parsed.warnings).toEqual([])
    // Checked as the program starts (Notifications.make), with the template engine loaded only then.
    expect(ok({ WEBHOOK_TEMPLATE: "{{ .Nodes }}" }).settings.webhookTemplate).toBe("{{ .Nodes }}")
    for (const name of [
      "WEBHOOK_URL",
      "WEBHOOK_HEADERS",
      "WEBHOOK_TEMPLATE",
      "WEBHOOK_TEMPLATE_FILE",
      "WEBHOOK_PROXY"
    ])
      expect(Settings.help()).toContain(name)
  })

  it("parses extra event annotations", () => {
    expect(
      ok({ KUBERNETES_EVENTS_EXTRA_ANNOTATIONS: "team=infra,tier=1" }).settings
        .kubernetesEventsExtraAnnotations
    ).toEqual({
      team: "infra",
      tier: "1"
    })
    expect(parse({ KUBERNETES_EVENTS_EXTRA_ANNOTATIONS: "a=b=c" })).toBeInstanceOf(Settings.InvalidSettings)
  })

  it.effect("reads through Effect's Config, for a program", () =>
    Effect.gen(function* () {
      const refused = yield* Effect.flip(Settings.loadFor({ program: "imds" }))
      expect(refused.message).toContain("ENABLE_SQS_TERMINATION_DRAINING")
    }).pipe(
      Effect.provideService(
        ConfigProvider.ConfigProvider,
        ConfigProvider.fromEnvRecord({ NODE_NAME: "from-config", ENABLE_SQS_TERMINATION_DRAINING: "true" })
      )
    )
  )

  it.effect("reads through Effect's Config", () =>
    Effect.gen(function* () {
      const parsed = yield* Settings.load
      expect(parsed.settings.nodeName).toBe("from-config")
      expect(parsed.settings.taintNode).toBe(true)
    }).pipe(
      Effect.provideService(
        ConfigProvider.ConfigProvider,
        ConfigProvider.fromEnvRecord({ NODE_NAME: "from-config", TAINT_NODE: "true" })
      )
    )
  )

  describe("the Go handler's command-line flags", () => {
    const withArgs = (argv: ReadonlyArray<string>, env: Record<string, string> = {}) =>
      Settings.parse({ NODE_NAME: "node-1", ...env }, { argv })

    it("win over the environment, in Go's forms: --name=value, -name value, a boolean alone", () => {
      const parsed = withArgs(
        [
          "--node-name=from-flag",
          "-taint-effect",
          "NoExecute",
          "--dry-run",
          "-cordon-only=false",
          "--metadata-url=http://127.0.0.1:1338",
          "--pod-namespace",
          "nth"
        ],
        { NODE_NAME: "from-env", CORDON_ONLY: "true", TAINT_EFFECT: "PreferNoSchedule" }
      )
      if (parsed instanceof Settings.InvalidSettings) throw new Error(parsed.message)
      expect(parsed.settings).toMatchObject({
        nodeName: "from-flag",
        taintEffect: "NoExecute",
        dryRun: true,
        cordonOnly: false,
        metadataUrl: "http://127.0.0.1:1338",
        podNamespace: "nth"
      })
    })

    it("take the deprecated names too, with the same rule as their variables", () => {
      const parsed = withArgs(["--grace-period=30"])
      if (parsed instanceof Settings.InvalidSettings) throw new Error(parsed.message)
      expect(parsed.settings.podTerminationGracePeriod).toBe(30)
      expect(parsed.warnings).toContain("GRACE_PERIOD is deprecated; use POD_TERMINATION_GRACE_PERIOD")
    })

    it("refuse an unknown flag, a flag without its value and a leftover argument, naming each", () => {
      const parsed = withArgs(["--no-such-flag", "--kubernetes-service-host=10.0.0.1", "--node-name"])
      expect(parsed).toBeInstanceOf(Settings.InvalidSettings)
      const problems = (parsed as Settings.InvalidSettings).problems
      expect(problems).toContain("flag provided but not defined: --no-such-flag")
      expect(problems.join("\n")).toContain(
        "--kubernetes-service-host: set KUBERNETES_SERVICE_HOST in the environment"
      )
      expect(problems).toContain("flag needs an argument: --node-name")
      const leftover = withArgs(["--dry-run", "extra", "--taint-node"]) as Settings.InvalidSettings
      expect(leftover.problems).toEqual([
        "unexpected arguments: extra --taint-node (settings are flags or environment variables)"
      ])
      // After `--`, nothing is a flag.
      expect((withArgs(["--", "--dry-run"]) as Settings.InvalidSettings).problems).toEqual([
        "unexpected argument: --dry-run (settings are flags or environment variables)"
      ])
    })

    it("follow Go's details: the last of a flag given twice wins, a value may start with -, booleans take 1 and 0", () => {
      const parsed = withArgs([
        "--workers=3",
        "--workers=5",
        "--pod-name",
        "-odd",
        "-dry-run=1",
        "--taint-node=0"
      ])
      if (parsed instanceof Settings.InvalidSettings) throw new Error(parsed.message)
      expect(parsed.settings).toMatchObject({ workers: 5, podName: "-odd", dryRun: true, taintNode: false })
    })

    it("refuse an empty value (an empty variable means the default; an empty flag would give it quietly)", () => {
      const parsed = withArgs(["--workers=", "--taint-effect="], {
        TAINT_EFFECT: "NoExecute"
      }) as Settings.InvalidSettings
      expect(parsed.problems).toEqual([
        "--workers: the value is empty; give one, or leave the flag out",
        "--taint-effect: the value is empty; give one, or leave the flag out"
      ])
    })

    it("say how to give a boolean its value when it comes as a separate argument", () => {
      const parsed = withArgs(["--dry-run", "false"]) as Settings.InvalidSettings
      expect(parsed.problems).toEqual([
        "unexpected argument: false (settings are flags or environment variables; a boolean flag takes its value as --name=false)"
      ])
    })

    it("are refused by value like their variables", () => {
      const parsed = withArgs(["--workers=many"]) as Settings.InvalidSettings
      expect(parsed.problems.join("\n")).toContain('WORKERS: "many"')
    })
  })

  it("lists every variable in --help", () => {
    const help = Settings.help()
    for (const variable of Settings.variables) expect(help).toContain(variable.env)
  })

  // Issue 10 E: these were accepted and then crashed the program, or were accepted silently.
  it("refuses an IMDS URL that is not http://, and numbers out of range, naming each", () => {
    for (const [name, value] of [
      ["INSTANCE_METADATA_URL", "https://169.254.169.254"],
      ["INSTANCE_METADATA_URL", "ftp://169.254.169.254"],
      ["NODE_TERMINATION_GRACE_PERIOD", "-5"],
      ["NODE_TERMINATION_GRACE_PERIOD", "99999999"],
      ["METADATA_TRIES", "123456789012345678901234"],
      ["WORKERS", "123456789012345678901234"],
      ["WORKERS", "0"],
      ["POD_TERMINATION_GRACE_PERIOD", "9999999999"],
      ["PROMETHEUS_SERVER_PORT", "70000"]
    ] as const) {
      const parsed = parse({ [name]: value })
      expect(parsed instanceof Settings.InvalidSettings, `${name}=${value}`).toBe(true)
      if (parsed instanceof Settings.InvalidSettings) expect(parsed.message).toContain(name)
    }
    expect(ok({ NODE_TERMINATION_GRACE_PERIOD: "0" }).settings.nodeTerminationGracePeriod).toBe(0)
    expect(ok({ POD_TERMINATION_GRACE_PERIOD: "-30" }).settings.podTerminationGracePeriod).toBe(-30)
  })
})
