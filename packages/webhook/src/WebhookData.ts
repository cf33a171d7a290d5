/**
 * What a webhook template sees: the Go handler's template data, field for field, filled from what nth knows of
 * the event, its node and its instance.
 *
 * The Go handler fills the instance's fields from the IMDS of the host it runs on, so in queue mode (where that
 * host is not the instance) they are empty: nth fills them in both modes, from the event, the node and what the
 * program learns of the instance (IMDS identity in IMDS mode, `DescribeInstances` and the queue in queue mode).
 *
 * Values are in the shape `@nth/go-template` gives Go's types: the data is a struct (a plain object, so that a
 * misspelt field is an error at start-up as in Go), `NodeLabels` a Go map (`Map`), times `GoTime`s.
 *
 * @since 0.4.0
 */
import { type InterruptionEvent, Reason } from "@nth/events"
import { GoTemplate, GoTime } from "@nth/go-template"

/**
 * What nth knows of the instance beyond the event. Every field may be missing: it is then `""`, as in Go.
 *
 * @category models
 * @since 0.4.0
 */
export interface Instance {
  readonly accountId?: string | undefined
  readonly instanceId?: string | undefined
  readonly instanceType?: string | undefined
  /** `spot` or `on-demand`. */
  readonly instanceLifeCycle?: string | undefined
  readonly availabilityZone?: string | undefined
  readonly region?: string | undefined
  readonly localHostname?: string | undefined
  readonly localIp?: string | undefined
  readonly publicHostname?: string | undefined
  readonly publicIp?: string | undefined
  readonly autoScalingGroupName?: string | undefined
  /** Whether the instance carries the managed tag (queue mode with `CHECK_TAG_BEFORE_DRAINING`). */
  readonly isManaged?: boolean | undefined
}

/**
 * One notification's facts: the event, the node it was for, and what was learnt of the node and the instance.
 *
 * @category models
 * @since 0.4.0
 */
export interface Facts {
  readonly event: InterruptionEvent.InterruptionEvent
  readonly nodeName: string
  readonly nodeLabels: Readonly<Record<string, string>>
  /** The names of the pods on the node when it was drained (or cordoned). */
  readonly pods: ReadonlyArray<string>
  readonly instance: Instance
  /** Whether nth's work on the node succeeded. */
  readonly processed: boolean
}

/**
 * The Go handler's `ec2metadata.NodeMetadata`: the instance as IMDS describes it.
 *
 * @category models
 * @since 0.4.0
 */
export interface NodeMetadata {
  readonly AccountId: string
  readonly InstanceID: string
  readonly InstanceLifeCycle: string
  readonly InstanceType: string
  readonly PublicHostname: string
  readonly PublicIP: string
  readonly LocalHostname: string
  readonly LocalIP: string
  readonly AvailabilityZone: string
  readonly Region: string
}

/**
 * The Go handler's `monitor.InterruptionEvent`, as templates see it. `NodeLabels` and `Pods` may be nil (`null`),
 * as in the zero data.
 *
 * @category models
 * @since 0.4.0
 */
export interface EventFields {
  readonly EventID: string
  readonly Kind: string
  readonly Monitor: string
  readonly Description: string
  readonly State: string
  readonly AutoScalingGroupName: string
  readonly NodeName: string
  readonly NodeLabels: ReadonlyMap<string, string> | null
  readonly Pods: ReadonlyArray<string> | null
  readonly InstanceID: string
  readonly ProviderID: string
  readonly InstanceType: string
  readonly IsManaged: boolean
  readonly StartTime: GoTime.GoTime
  readonly EndTime: GoTime.GoTime
  readonly NodeProcessed: boolean
  readonly InProgress: boolean
}

/**
 * The template data: the Go handler's `webhook.combinedDrainData`, a struct embedding the node metadata and the
 * event (their fields promoted: `.AccountId`, `.NodeName`), then `InstanceID` and `InstanceType` resolved (the
 * event's, else the metadata's). Built as Go's types so that everything a template can do with it (`{{ . }}`,
 * `toJson .`, `index .NodeLabels "missing"`, the type names in errors) comes out as in Go.
 *
 * @category models
 * @since 0.4.0
 */
export interface Data {
  readonly NodeMetadata: NodeMetadata
  readonly InterruptionEvent: EventFields
  readonly InstanceID: string
  readonly InstanceType: string
}

// NodeMetadata's JSON tags (`toJson .` writes `accountId`, `privateIp`, …).
const nodeMetadataJson = {
  AccountId: "accountId",
  InstanceID: "instanceId",
  InstanceLifeCycle: "instanceLifeCycle",
  InstanceType: "instanceType",
  PublicHostname: "publicHostname",
  PublicIP: "publicIp",
  LocalHostname: "localHostname",
  LocalIP: "privateIp",
  AvailabilityZone: "availabilityZone",
  Region: "region"
}

/**
 * The data from the Go handler's two parts; missing fields are Go's zero values.
 *
 * @category constructors
 * @since 0.4.0
 */
export const fromParts = (parts: {
  readonly NodeMetadata?: Partial<NodeMetadata> | undefined
  readonly InterruptionEvent?: Partial<EventFields> | undefined
}): Data => {
  const m = parts.NodeMetadata ?? {}
  const e = parts.InterruptionEvent ?? {}
  const metadata = GoTemplate.struct(
    "ec2metadata.NodeMetadata",
    {
      AccountId: m.AccountId ?? "",
      InstanceID: m.InstanceID ?? "",
      InstanceLifeCycle: m.InstanceLifeCycle ?? "",
      InstanceType: m.InstanceType ?? "",
      PublicHostname: m.PublicHostname ?? "",
      PublicIP: m.PublicIP ?? "",
      LocalHostname: m.LocalHostname ?? "",
      LocalIP: m.LocalIP ?? "",
      AvailabilityZone: m.AvailabilityZone ?? "",
      Region: m.Region ?? ""
    },
    { json: nodeMetadataJson }
  )
  const event = GoTemplate.struct(
    "monitor.InterruptionEvent",
    {
      EventID: e.EventID ?? "",
      Kind: e.Kind ?? "",
      Monitor: e.Monitor ?? "",
      Description: e.Description ?? "",
      State: e.State ?? "",
      AutoScalingGroupName: e.AutoScalingGroupName ?? "",
      NodeName: e.NodeName ?? "",
      NodeLabels: (e.NodeLabels === undefined || e.NodeLabels === null
        ? GoTemplate.nilOf("map[string]string")
        : GoTemplate.typed(new Map(e.NodeLabels), "map[string]string")) as ReadonlyMap<string, string> | null,
      Pods: (e.Pods === undefined || e.Pods === null
        ? GoTemplate.nilOf("[]string")
        : GoTemplate.typed([...e.Pods], "[]string")) as ReadonlyArray<string> | null,
      InstanceID: e.InstanceID ?? "",
      ProviderID: e.ProviderID ?? "",
      InstanceType: e.InstanceType ?? "",
      IsManaged: e.IsManaged ?? false,
      StartTime: e.StartTime ?? GoTime.zero,
      EndTime: e.EndTime ?? GoTime.zero,
      NodeProcessed: e.NodeProcessed ?? false,
      InProgress: e.InProgress ?? false,
      // The Go handler's drain tasks: functions there, nil to a template, left out of JSON.
      PreDrainTask: null,
      PostDrainTask: null,
      CancelDrainTask: null
    },
    { json: { PreDrainTask: "-", PostDrainTask: "-", CancelDrainTask: "-" } }
  )
  return GoTemplate.struct(
    "webhook.combinedDrainData",
    {
      NodeMetadata: metadata,
      InterruptionEvent: event,
      InstanceID: event.InstanceID || metadata.InstanceID,
      InstanceType: event.InstanceType || metadata.InstanceType
    },
    { embedded: ["NodeMetadata", "InterruptionEvent"] }
  )
}

/**
 * All fields at Go's zero values (nil labels and pods): what a template is checked against at start-up, as the
 * Go handler does.
 *
 * @category constants
 * @since 0.4.0
 */
export const zero: Data = fromParts({})

// The zone of a provider id `aws:///<zone>/<instance id>`.
const zoneOf = (providerId: string | undefined): string | undefined =>
  providerId === undefined ? undefined : /^aws:\/\/\/([^/]+)\//.exec(providerId)?.[1]

/**
 * The data for one notification.
 *
 * @category constructors
 * @since 0.4.0
 */
export const make = (facts: Facts): Data => {
  const { event, instance } = facts
  const instanceId = event.instanceId ?? instance.instanceId ?? ""
  const availabilityZone = instance.availabilityZone ?? zoneOf(event.providerId) ?? ""
  const endTime = event.endTime ?? (event.kind === "ScheduledMaintenance" ? event.notAfter : undefined)
  const providerId =
    event.providerId ??
    (instanceId !== "" && availabilityZone !== "" ? `aws:///${availabilityZone}/${instanceId}` : "")
  return fromParts({
    NodeMetadata: {
      AccountId: instance.accountId ?? "",
      InstanceID: instance.instanceId ?? instanceId,
      InstanceLifeCycle: instance.instanceLifeCycle ?? "",
      InstanceType: instance.instanceType ?? "",
      PublicHostname: instance.publicHostname ?? "",
      PublicIP: instance.publicIp ?? "",
      LocalHostname: instance.localHostname ?? "",
      LocalIP: instance.localIp ?? "",
      AvailabilityZone: availabilityZone,
      // A zone's region: `eu-west-1b` → `eu-west-1`; a Local or Wavelength Zone's too (`us-west-2-lax-1a`).
      Region: instance.region ?? /^[a-z]+(?:-[a-z]+)+-\d+/.exec(availabilityZone)?.[0] ?? ""
    },
    InterruptionEvent: {
      EventID: event.id,
      Kind: Reason.legacyKind[event.kind],
      Monitor: event.monitor,
      Description: event.description,
      State: event.kind === "ScheduledMaintenance" ? event.state : "",
      AutoScalingGroupName:
        ("autoScalingGroupName" in event ? event.autoScalingGroupName : undefined) ??
        instance.autoScalingGroupName ??
        "",
      NodeName: facts.nodeName,
      NodeLabels: new Map(Object.entries(facts.nodeLabels)),
      Pods: facts.pods,
      InstanceID: instanceId,
      ProviderID: providerId,
      InstanceType: instance.instanceType ?? "",
      IsManaged: instance.isManaged ?? false,
      StartTime: GoTime.fromDate(event.startTime),
      EndTime: endTime === undefined ? GoTime.zero : GoTime.fromDate(endTime),
      NodeProcessed: facts.processed,
      // Go posts while the event is still being handled, with this flag set.
      InProgress: true
    }
  })
}
