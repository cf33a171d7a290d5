/**
 * The message bodies in `fixtures/`, written from the shapes AWS documents (EventBridge event reference, Auto
 * Scaling lifecycle hook and notification docs, SNS delivery format) and the Go handler's own examples.
 */
import { readdirSync, readFileSync } from "node:fs"

const directory = new URL("./fixtures/", import.meta.url)

/** The names of every fixture, without `.json`. */
export const fixtureNames: ReadonlyArray<string> = readdirSync(directory)
  .filter((name) => name.endsWith(".json"))
  .map((name) => name.slice(0, -".json".length))
  .sort()

/** A fixture's body, exactly as stored (what SQS would deliver). */
export const body = (name: string): string => readFileSync(new URL(`${name}.json`, directory), "utf8")

/** A fixture, parsed, to change before encoding it again. */
export const json = (name: string): Record<string, unknown> =>
  JSON.parse(body(name)) as Record<string, unknown>

/** Wraps a body in an SNS notification, as SNS delivers it to SQS without raw message delivery. */
export const inSns = (message: string): string =>
  JSON.stringify({
    Type: "Notification",
    MessageId: "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
    TopicArn: "arn:aws:sns:us-east-1:123456789012:nth-events",
    Message: message,
    Timestamp: "2026-11-25T10:05:33.512Z"
  })
