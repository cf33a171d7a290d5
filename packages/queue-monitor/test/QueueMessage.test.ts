import { describe, expect, it } from "@effect/vitest"
import { EventId, InterruptionEvent } from "@nth/events"
import { Effect, Result } from "effect"
import { TestClock } from "effect/testing"
import { QueueMessage, QueueMessageError } from "../src/index.ts"
import { body, inSns, json } from "./fixtures.ts"

const now = new Date("2026-11-25T12:00:00.000Z")

const decode = (text: string) => QueueMessage.decode(text, { now })

/** The decoded message, or the test fails with the error. */
const decoded = (text: string): QueueMessage.Decoded => {
  const result = decode(text)
  if (Result.isFailure(result)) throw new Error(`expected a decoded message, got ${result.failure.message}`)
  return result.success
}

const eventsOf = (text: string): ReadonlyArray<InterruptionEvent.InterruptionEvent> => {
  const message = decoded(text)
  if (message._tag !== "Events") throw new Error(`expected events, got ${JSON.stringify(message)}`)
  return message.events
}

const onlyEvent = (text: string): InterruptionEvent.InterruptionEvent => {
  const events = eventsOf(text)
  expect(events).toHaveLength(1)
  return events[0] as InterruptionEvent.InterruptionEvent
}

const errorOf = (text: string): QueueMessageError.QueueMessageError => {
  const result = decode(text)
  if (Result.isSuccess(result)) throw new Error(`expected an error, got ${JSON.stringify(result.success)}`)
  return result.failure
}

/** A fixture with one field changed (`undefined` deletes it), encoded again. */
const withField = (name: string, path: ReadonlyArray<string>, value: unknown): string => {
  const message = json(name)
  let target: Record<string, unknown> = message
  for (const key of path.slice(0, -1)) target = target[key] as Record<string, unknown>
  const last = path[path.length - 1] as string
  if (value === undefined) delete target[last]
  else target[last] = value
  return JSON.stringify(message)
}

describe("EventBridge events", () => {
  it("Spot interruption warning: a notice for the instance, interrupted two minutes after the warning", () => {
    expect(onlyEvent(body("spot-interruption-warning"))).toEqual({
      kind: "SpotInterruptionNotice",
      // "spot-itn-event-" and the hex of the bytes of the EventBridge id, as the Go handler's `%x`.
      id: "spot-itn-event-31653535323764372d626233362d343630372d333337302d343136346462353661343065",
      monitor: "SQS_MONITOR",
      instanceId: "i-0b662ef9931388ba0",
      startTime: new Date("2026-11-25T10:02:00.000Z"),
      description:
        "Spot Interruption notice for instance i-0b662ef9931388ba0 was sent at 2026-11-25T10:00:00Z",
      action: "terminate"
    })
  })

  it("Spot interruption warning: the action is kept, and a warning without one still drains", () => {
    expect(
      onlyEvent(withField("spot-interruption-warning", ["detail", "instance-action"], "hibernate"))
    ).toMatchObject({ action: "hibernate" })
    expect(
      onlyEvent(withField("spot-interruption-warning", ["detail", "instance-action"], undefined))
    ).toMatchObject({ action: "terminate" })
  })

  it("rebalance recommendation: starts at the event time", () => {
    expect(onlyEvent(body("rebalance-recommendation"))).toEqual({
      kind: "RebalanceRecommendation",
      id: EventId.fromQueueMessage("rebalanceRecommendation", "5d5555d5-dd55-5555-5555-5555dd55d55d"),
      monitor: "SQS_MONITOR",
      instanceId: "i-0b662ef9931388ba0",
      startTime: new Date("2026-11-25T09:58:00.000Z"),
      description:
        "Rebalance recommendation event received. Instance i-0b662ef9931388ba0 will be cordoned at 2026-11-25T09:58:00Z"
    })
  })

  it("instance state change to stopping: an event with the state", () => {
    expect(onlyEvent(body("state-change-stopping"))).toEqual({
      kind: "InstanceStateChange",
      id: "ec2-state-change-event-37626637333132392d313432382d346364332d613738302d393564623237336431363032",
      monitor: "SQS_MONITOR",
      instanceId: "i-abcd1111",
      startTime: new Date("2026-11-25T10:12:00.000Z"),
      description:
        "EC2 State Change event received. Instance i-abcd1111 went into stopping at 2026-11-25T10:12:00Z",
      state: "stopping"
    })
  })

  it("instance state change: each state the instance goes away in drains, in any case", () => {
    for (const state of ["stopping", "stopped", "shutting-down", "terminated", "Terminated", "STOPPED"]) {
      expect(onlyEvent(withField("state-change-stopping", ["detail", "state"], state))).toMatchObject({
        kind: "InstanceStateChange",
        state: state.toLowerCase()
      })
    }
  })

  it("instance state change to another state is ignored, the Go handler's substring matches included", () => {
    expect(decoded(body("state-change-running"))).toEqual({
      _tag: "Ignored",
      reason:
        'instance i-abcd1111 went into state "running", not one nth drains for (stopping, stopped, shutting-down, terminated)'
    })
    for (const state of ["pending", "", "stop", "ping", "stopping,stopped"]) {
      expect(decoded(withField("state-change-stopping", ["detail", "state"], state))._tag).toBe("Ignored")
    }
  })

  it("ASG terminate lifecycle action: the event carries the token, group and hook", () => {
    expect(onlyEvent(body("asg-terminate-lifecycle-action"))).toEqual({
      kind: "AsgLifecycleTermination",
      id: EventId.fromQueueMessage("asgLifecycle", "782d5b4c-0f6f-1fd6-9d62-ecf6aed0a470"),
      monitor: "SQS_MONITOR",
      instanceId: "i-0633ac2b0d9769723",
      startTime: new Date("2026-11-25T10:10:00.000Z"),
      description:
        "ASG Lifecycle Termination event received. Instance will be interrupted at 2026-11-25T10:10:00Z",
      autoScalingGroupName: "workers-spot",
      lifecycleHookName: "nth-drain",
      lifecycleActionToken: "0befcbdb-6ecd-498a-9ff7-ae9b54447cd6",
      notificationMetadata: "cluster=prod"
    })
  })

  it("ASG launch lifecycle action: a launch event with the same id prefix", () => {
    expect(onlyEvent(body("asg-launch-lifecycle-action"))).toEqual({
      kind: "AsgLifecycleLaunch",
      id: EventId.fromQueueMessage("asgLifecycle", "3a9c2b1e-4d5f-4a6b-8c7d-9e0f1a2b3c4d"),
      monitor: "SQS_MONITOR",
      instanceId: "i-0f9e8d7c6b5a49382",
      startTime: new Date("2026-11-25T10:20:30.125Z"),
      description: "ASG Lifecycle Launch event received. Instance was started at 2026-11-25T10:20:30.125Z",
      autoScalingGroupName: "workers-spot",
      lifecycleHookName: "nth-launch",
      lifecycleActionToken: "87654321-4321-4321-4321-210987654321"
    })
  })

  it("ASG lifecycle action: the transition decides, not the detail-type (as the Go handler)", () => {
    const relabelled = withField("asg-terminate-lifecycle-action", ["detail-type"], "Something Else")
    expect(onlyEvent(relabelled).kind).toBe("AsgLifecycleTermination")
  })

  it("other Auto Scaling events are ignored", () => {
    const message = decoded(body("asg-launch-successful"))
    expect(message._tag).toBe("Ignored")
    expect(message).toMatchObject({ reason: expect.stringContaining('"EC2 Instance Launch Successful"') })
  })

  it("an Auto Scaling test notification through EventBridge is a test notification", () => {
    const test = withField("asg-launch-successful", ["detail", "Event"], "autoscaling:TEST_NOTIFICATION")
    expect(decoded(test)).toEqual({ _tag: "TestNotification" })
  })

  it("AWS Health EC2 scheduled change: one event per affected instance, each with its own id, starting now", () => {
    const events = eventsOf(body("health-scheduled-change"))
    const messageId = "7fb65329-1628-4cf3-a740-95fb457a1402"
    const eventArn =
      "arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED_1234567890abcdef"
    expect(events).toEqual(
      ["i-0a1b2c3d4e5f60718", "i-0f9e8d7c6b5a49382"].map((instanceId) => ({
        kind: "HealthScheduledChange",
        id: EventId.fromQueueMessage("healthScheduledChange", messageId, instanceId),
        monitor: "SQS_MONITOR",
        instanceId,
        startTime: now,
        description: `AWS Health scheduled change event received. Instance ${instanceId} will be interrupted at 2026-11-25T06:27:57Z`,
        eventArn,
        eventTypeCode: "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED"
      }))
    )
    expect(new Set(events.map((event) => event.id)).size).toBe(2)
  })

  it("AWS Health: entities that are not instances are skipped, repeated instances counted once", () => {
    const entities = [
      { entityValue: "h-0123456789abcdef0" },
      { entityValue: "i-0a1b2c3d4e5f60718" },
      { entityValue: "i-0a1b2c3d4e5f60718" }
    ]
    const events = eventsOf(withField("health-scheduled-change", ["detail", "affectedEntities"], entities))
    expect(events.map((event) => event.instanceId)).toEqual(["i-0a1b2c3d4e5f60718"])
  })

  it("AWS Health: without affected entities, the instances in resources", () => {
    const events = eventsOf(withField("health-scheduled-change", ["detail", "affectedEntities"], undefined))
    expect(events.map((event) => event.instanceId)).toEqual(["i-0a1b2c3d4e5f60718", "i-0f9e8d7c6b5a49382"])
  })

  it("AWS Health: a scheduled change naming no instance is ignored", () => {
    const none = JSON.parse(
      withField("health-scheduled-change", ["detail", "affectedEntities"], [])
    ) as Record<string, unknown>
    none.resources = []
    expect(decoded(JSON.stringify(none))._tag).toBe("Ignored")
  })

  it("AWS Health events of another category or service are ignored", () => {
    expect(decoded(body("health-issue"))).toEqual({
      _tag: "Ignored",
      reason: 'AWS Health EC2 event of category "issue"; nth acts on scheduledChange ones'
    })
    expect(decoded(body("health-rds-scheduled-change"))).toEqual({
      _tag: "Ignored",
      reason: 'AWS Health event for service "RDS"; nth acts on EC2 ones'
    })
  })

  it("other aws.ec2 events are ignored", () => {
    expect(decoded(body("ebs-volume-notification"))).toEqual({
      _tag: "Ignored",
      reason: 'aws.ec2 event "EBS Volume Notification" is not one nth acts on'
    })
  })

  it("unknown sources and AWS Health event types are unknown kinds (kept, as the Go handler)", () => {
    const s3 = errorOf(body("s3-object-created"))
    expect(s3.reason).toBe("UnknownKind")
    expect(s3.message).toContain('"aws.s3"')
    const abuse = errorOf(withField("health-issue", ["detail-type"], "AWS Health Abuse Event"))
    expect(abuse.reason).toBe("UnknownKind")
    expect(abuse.message).toContain('"AWS Health Abuse Event"')
  })

  it("a time that is not RFC 3339 (or none) means now, as the Go handler", () => {
    for (const time of ["yesterday", "2026-11-25 10:12:00", "2026-02-31T10:00:00Z", undefined]) {
      const event = onlyEvent(withField("state-change-stopping", ["time"], time))
      expect(event.startTime).toEqual(now)
      expect(event.description).toContain(`at ${now.toISOString().replace(".000Z", "Z")}`)
    }
  })

  it("a time with an offset is read as such", () => {
    const event = onlyEvent(withField("rebalance-recommendation", ["time"], "2026-11-25T11:58:00+02:00"))
    expect(event.startTime).toEqual(new Date("2026-11-25T09:58:00Z"))
  })

  it("fields nth does not read are accepted", () => {
    const extra = JSON.parse(body("spot-interruption-warning")) as Record<string, Record<string, unknown>>
    extra.replay = { name: "test" } as never
    ;(extra.detail as Record<string, unknown>)["availability-zone"] = "us-east-1b"
    expect(onlyEvent(JSON.stringify(extra))).toEqual(onlyEvent(body("spot-interruption-warning")))
  })
})

describe("Auto Scaling notifications without EventBridge", () => {
  it("a terminating hook's notification sent to SQS: the id comes from RequestId, the start from Time", () => {
    expect(onlyEvent(body("lifecycle-notification-terminating"))).toEqual({
      kind: "AsgLifecycleTermination",
      id: EventId.fromQueueMessage("asgLifecycle", "63f5b5c2-58b3-0574-b7d5-b3162d0b7a8f"),
      monitor: "SQS_MONITOR",
      instanceId: "i-0e6c3c50d3fd7fbbf",
      startTime: new Date("2026-11-25T10:05:33.385Z"),
      description:
        "ASG Lifecycle Termination event received. Instance will be interrupted at 2026-11-25T10:05:33.385Z",
      autoScalingGroupName: "workers-spot",
      lifecycleHookName: "nth-drain",
      lifecycleActionToken: "71514b9d-6a40-4b26-8523-05e7ee1c2b3a"
    })
  })

  it("a launching hook's notification, with its metadata", () => {
    expect(onlyEvent(body("lifecycle-notification-launching"))).toMatchObject({
      kind: "AsgLifecycleLaunch",
      id: EventId.fromQueueMessage("asgLifecycle", "d2c4b6a8-1357-4a9b-8cde-f0123456789a"),
      instanceId: "i-0e6c3c50d3fd7fbbf",
      lifecycleActionToken: "2f1e0d9c-8b7a-4654-3210-fedcba987654",
      notificationMetadata: '{"cluster":"prod"}'
    })
  })

  it("through SNS: the same event as sent straight to SQS", () => {
    expect(decode(body("sns-lifecycle-notification-terminating"))).toEqual(
      decode(body("lifecycle-notification-terminating"))
    )
  })

  it("an EventBridge event through SNS decodes as the event itself", () => {
    expect(decode(body("sns-spot-interruption-warning"))).toEqual(decode(body("spot-interruption-warning")))
  })

  it("the test notification, straight or through SNS, or as a transition", () => {
    expect(decoded(body("test-notification"))).toEqual({ _tag: "TestNotification" })
    expect(decoded(body("sns-test-notification"))).toEqual({ _tag: "TestNotification" })
    const asTransition = JSON.stringify({
      LifecycleTransition: "autoscaling:TEST_NOTIFICATION",
      RequestId: "4e6156f4-a9e2-4bda-a7fd-33f2ae528958"
    })
    expect(decoded(asTransition)).toEqual({ _tag: "TestNotification" })
  })

  it("an instance notification of the group (no lifecycle hook) is ignored", () => {
    expect(decoded(body("instance-terminate-notification"))).toEqual({
      _tag: "Ignored",
      reason: 'Auto Scaling notification "autoscaling:EC2_INSTANCE_TERMINATE" is no lifecycle action'
    })
  })

  it("an SNS subscription confirmation is ignored", () => {
    expect(decoded(body("sns-subscription-confirmation"))).toEqual({
      _tag: "Ignored",
      reason: 'SNS "SubscriptionConfirmation" message, not a notification'
    })
  })

  it("another lifecycle transition is an unknown kind naming the field", () => {
    const error = errorOf(
      withField(
        "lifecycle-notification-terminating",
        ["LifecycleTransition"],
        "autoscaling:EC2_INSTANCE_WARMING"
      )
    )
    expect(error.reason).toBe("UnknownKind")
    expect(error.message).toContain('"autoscaling:EC2_INSTANCE_WARMING"')
    expect(error.message).toContain('["LifecycleTransition"]')
  })

  it("an SNS notification whose Message is not JSON, or not a string", () => {
    const notJson = errorOf(inSns("this is not json"))
    expect(notJson.reason).toBe("NotJson")
    expect(notJson.message).toContain("Message")
    const notString = errorOf(JSON.stringify({ Type: "Notification", Message: { LifecycleTransition: 1 } }))
    expect(notString.reason).toBe("Malformed")
    expect(notString.message).toContain('["Message"]')
  })

  it("errors inside an SNS notification say so", () => {
    const inner = withField("lifecycle-notification-terminating", ["EC2InstanceId"], undefined)
    const error = errorOf(inSns(inner))
    expect(error.reason).toBe("Malformed")
    expect(error.message).toMatch(/^in the SNS Message: .*Missing key\n {2}at \["EC2InstanceId"\]/s)
  })
})

describe("errors", () => {
  it("a body that is not JSON", () => {
    for (const text of [
      "",
      "not json",
      "{",
      '{"version": "0",',
      body("spot-interruption-warning").slice(0, 120)
    ]) {
      const error = errorOf(text)
      expect(error).toBeInstanceOf(QueueMessageError.QueueMessageError)
      expect(error._tag).toBe("QueueMessageError")
      expect(error.reason).toBe("NotJson")
      expect(error.message).toMatch(/^the body is not JSON: /)
    }
  })

  it("JSON that is not an object, or an object of no known kind", () => {
    for (const text of ["[]", "42", '"hello"', "null", "true"])
      expect(errorOf(text).reason).toBe("UnknownKind")
    const empty = errorOf("{}")
    expect(empty.reason).toBe("UnknownKind")
    expect(empty.message).toContain("detail-type")
  })

  const missing: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
    ["spot-interruption-warning", ["id"]],
    ["spot-interruption-warning", ["detail"]],
    ["spot-interruption-warning", ["detail", "instance-id"]],
    ["rebalance-recommendation", ["detail", "instance-id"]],
    ["state-change-stopping", ["detail", "state"]],
    ["state-change-stopping", ["detail", "instance-id"]],
    ["asg-terminate-lifecycle-action", ["detail", "LifecycleActionToken"]],
    ["asg-terminate-lifecycle-action", ["detail", "AutoScalingGroupName"]],
    ["asg-terminate-lifecycle-action", ["detail", "LifecycleHookName"]],
    ["asg-terminate-lifecycle-action", ["detail", "EC2InstanceId"]],
    ["asg-launch-lifecycle-action", ["detail", "LifecycleActionToken"]],
    ["health-scheduled-change", ["detail", "eventArn"]],
    ["health-scheduled-change", ["detail", "eventTypeCode"]],
    ["lifecycle-notification-terminating", ["RequestId"]],
    ["lifecycle-notification-terminating", ["LifecycleActionToken"]],
    ["lifecycle-notification-terminating", ["AutoScalingGroupName"]],
    ["lifecycle-notification-terminating", ["LifecycleHookName"]],
    ["lifecycle-notification-terminating", ["EC2InstanceId"]],
    ["lifecycle-notification-launching", ["EC2InstanceId"]]
  ]

  it.each(missing)("%s without %j is malformed, naming the field", (name, path) => {
    const error = errorOf(withField(name, path, undefined))
    expect(error.reason).toBe("Malformed")
    expect(error.message).toContain(
      `Missing key\n  at ${path.map((key) => `[${JSON.stringify(key)}]`).join("")}`
    )
  })

  it("fields of the wrong shape are malformed, naming the field", () => {
    const cases: ReadonlyArray<readonly [string, ReadonlyArray<string>, unknown, string]> = [
      ["spot-interruption-warning", ["detail", "instance-id"], "i-42", '["detail"]["instance-id"]'],
      ["spot-interruption-warning", ["detail"], "gone", '["detail"]'],
      ["spot-interruption-warning", ["id"], "", '["id"]'],
      ["state-change-stopping", ["detail", "state"], 3, '["detail"]["state"]'],
      [
        "asg-terminate-lifecycle-action",
        ["detail", "LifecycleActionToken"],
        "",
        '["detail"]["LifecycleActionToken"]'
      ],
      [
        "asg-terminate-lifecycle-action",
        ["detail", "LifecycleTransition"],
        7,
        '["detail"]["LifecycleTransition"]'
      ],
      ["lifecycle-notification-terminating", ["EC2InstanceId"], "i-XYZ", '["EC2InstanceId"]'],
      [
        "health-scheduled-change",
        ["detail", "affectedEntities"],
        "i-0a1b2c3d4e5f60718",
        '["detail"]["affectedEntities"]'
      ],
      ["spot-interruption-warning", ["detail-type"], 5, '["detail-type"]']
    ]
    for (const [name, path, value, at] of cases) {
      const error = errorOf(withField(name, path, value))
      expect(error.reason, `${name} ${at}`).toBe("Malformed")
      expect(error.message, `${name} ${at}`).toContain(`at ${at}`)
    }
  })

  it("the message names the kind of message", () => {
    expect(
      errorOf(withField("spot-interruption-warning", ["detail", "instance-id"], undefined)).message
    ).toBe('EC2 Spot Instance Interruption Warning: Missing key\n  at ["detail"]["instance-id"]')
  })
})

describe("decodeEffect", () => {
  it.effect("takes now from the Clock", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(now.getTime())
      const message = yield* QueueMessage.decodeEffect(body("health-scheduled-change"))
      expect(message._tag === "Events" && message.events.map((event) => event.startTime)).toEqual([now, now])
    })
  )

  it.effect("fails with the error", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(QueueMessage.decodeEffect("nope"))
      expect(error.reason).toBe("NotJson")
    })
  )
})

describe("every fixture", () => {
  it("decodes the same twice (a redelivered message makes the same events)", () => {
    for (const name of [
      "spot-interruption-warning",
      "health-scheduled-change",
      "lifecycle-notification-launching"
    ]) {
      expect(decode(body(name))).toEqual(decode(body(name)))
    }
  })

  it("makes events the shared model accepts back", () => {
    for (const name of [
      "spot-interruption-warning",
      "rebalance-recommendation",
      "state-change-stopping",
      "asg-terminate-lifecycle-action",
      "asg-launch-lifecycle-action",
      "health-scheduled-change",
      "lifecycle-notification-terminating",
      "lifecycle-notification-launching"
    ]) {
      for (const event of eventsOf(body(name))) {
        expect(InterruptionEvent.decode(InterruptionEvent.encode(event))).toEqual(Result.succeed(event))
      }
    }
  })
})
