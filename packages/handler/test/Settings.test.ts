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
      metadataTries: 3
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

  it("lists every variable in --help", () => {
    const help = Settings.help()
    for (const variable of Settings.variables) expect(help).toContain(variable.env)
  })
})
