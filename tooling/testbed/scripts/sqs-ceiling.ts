/**
 * The test bed's SQS ceiling (`SqsCeiling.measure` in src/sqsCeiling.ts): how fast a bare consumer can drain a
 * queue of moto's, so that a benchmark of nth in queue mode can tell nth's time from moto's. Sends `--messages`
 * Spot-notice-sized messages with SendMessageBatch, then drains them with `--receivers` concurrent loops of
 * ReceiveMessage (10) + DeleteMessageBatch, once per receiver count, each on a fresh queue. Needs only a running
 * moto.
 *
 *   node tooling/testbed/scripts/sqs-ceiling.ts [--endpoint URL] [--messages 1000] [--receivers 1,4]
 *
 * The endpoint defaults to AWS_ENDPOINT_URL (`. .testbed/env`).
 */
import { parseArgs } from "node:util"
import * as SqsCeiling from "../src/sqsCeiling.ts"

const { values } = parseArgs({
  options: {
    endpoint: { type: "string", default: process.env.AWS_ENDPOINT_URL },
    messages: { type: "string", default: "1000" },
    receivers: { type: "string", default: "1,4" }
  }
})
const endpoint = values.endpoint
if (!endpoint) throw new Error("no endpoint: pass --endpoint or set AWS_ENDPOINT_URL (. .testbed/env)")
const messages = Number(values.messages)

console.log(`SQS ceiling against ${endpoint}: ${messages} messages`)
for (const receivers of values.receivers.split(",").map(Number))
  console.log(SqsCeiling.format(await SqsCeiling.measure({ endpoint, messages, receivers })))
