/**
 * @nth/testbed: the local world nth is tested in. See the README.
 */
export * as ApiFaults from "./apiFaults.ts"
export * as AwsEvents from "./awsEvents.ts"
export * as AwsFaults from "./awsFaults.ts"
export * as Chaos from "./chaos.ts"
export * as ChartTools from "./chartTools.ts"
export * as Fixtures from "./fixtures.ts"
export * as Fleet from "./fleet.ts"
export * as ForwardProxy from "./forwardProxy.ts"
export * as Kwok from "./kwok.ts"
export * as Programs from "./programs.ts"
export * as SqsCeiling from "./sqsCeiling.ts"
export * as TestBed from "./TestBed.ts"
export * as TemplateOracle from "./templateOracle.ts"
export { useTestBed } from "./useTestBed.ts"
export * as WebhookReceiver from "./webhookReceiver.ts"
