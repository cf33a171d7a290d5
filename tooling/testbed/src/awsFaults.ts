/**
 * A fault-injecting reverse proxy in front of the test bed's AWS emulator (moto: SQS, EC2, Auto Scaling), the AWS
 * side of `ApiFaults`. A program given `endpoint` as its `AWS_ENDPOINT` (and queue URLs on it, `queueUrl`) calls
 * moto through it, and the test decides at run time what goes wrong, per AWS operation (`ReceiveMessage`,
 * `DeleteMessage`, `DescribeInstances`, `CompleteLifecycleAction`, …):
 *
 * - `error`: an AWS error of the test's choosing instead of moto's answer, in the protocol the call speaks (SQS's
 *   JSON, EC2's and Auto Scaling's XML): a throttling code (`ThrottlingException`, `RequestLimitExceeded`,
 *   `Throttling`) with status 400, or a 5xx (`ServiceUnavailable`, `InternalError`);
 * - `delay`: the call reaches moto late (a slow receive);
 * - `reset`: the connection is destroyed before any answer;
 * - `outage(ms)`: nothing listens for a while (connections refused), then the proxy listens again on its port.
 *
 * Every call is logged with its operation, status and what was done, for tests to count what a program sent
 * (lifecycle actions completed, messages deleted) from the wire.
 */
import * as http from "node:http"
import { operationOf } from "./forwardProxy.ts"
import * as OutageServer from "./outageServer.ts"

export type Fault =
  | { readonly _tag: "error"; readonly status: number; readonly code: string }
  | { readonly _tag: "delay"; readonly ms: number }
  | { readonly _tag: "reset" }

export interface Rule {
  /** The AWS operation (`ReceiveMessage`); default every one. */
  readonly operation?: string
  readonly fault: Fault
  /** How many matching calls it applies to; default every one. */
  readonly times?: number
}

export interface Logged {
  readonly operation: string | undefined
  readonly status: number
  readonly action: "forwarded" | Fault["_tag"] | "outage"
  /** The request's body (a query string or JSON), to tell calls apart (which receipt handle, which instance). */
  readonly body: string
  /** The answer's body once it has arrived whole (forwarded calls only): which messages a receive gave, say. */
  readonly answer?: string
  /**
   * Whether the answer reached the caller whole (forwarded calls only): false when the caller was gone or an
   * outage cut the connection first. A caller that never heard of a call's success rightly makes it again.
   */
  readonly delivered?: boolean
  readonly at: number
}

export interface AwsFaultProxy {
  /** `http://127.0.0.1:<port>`: the program's `AWS_ENDPOINT`. */
  readonly endpoint: string
  /** A queue URL of moto's, on the proxy (moto finds the queue by its path). */
  readonly queueUrl: (motoQueueUrl: string) => string
  readonly inject: (rule: Rule) => () => void
  readonly clear: () => void
  readonly outage: (ms: number) => Promise<void>
  readonly log: Array<Logged>
  /** The calls of `operation` that moto answered with a 2xx. */
  readonly succeeded: (operation: string) => ReadonlyArray<Logged>
  readonly close: () => Promise<void>
}

interface ActiveRule extends Rule {
  used: number
}

const errorAnswer = (
  request: http.IncomingMessage,
  body: string,
  fault: { status: number; code: string }
) => {
  const message = `injected by the test bed's AWS fault proxy (${fault.code})`
  if (request.headers["x-amz-target"] !== undefined) {
    // The JSON protocol (SQS): the code in `__type` and in the query-compatible header the SDK reads first.
    return {
      headers: {
        "content-type": "application/x-amz-json-1.0",
        "x-amzn-query-error": `${fault.code};${fault.status >= 500 ? "Receiver" : "Sender"}`
      },
      body: JSON.stringify({ __type: `com.amazonaws.sqs#${fault.code}`, message })
    }
  }
  // EC2's query protocol answers `<Response><Errors>`; Auto Scaling's (and the other query services') `<ErrorResponse>`.
  const xml = /(?:^|&)Version=2016-11-15(?:&|$)/.test(body)
    ? `<Response><Errors><Error><Code>${fault.code}</Code><Message>${message}</Message></Error></Errors><RequestID>nth-fault</RequestID></Response>`
    : `<ErrorResponse><Error><Type>${fault.status >= 500 ? "Receiver" : "Sender"}</Type><Code>${fault.code}</Code><Message>${message}</Message></Error><RequestId>nth-fault</RequestId></ErrorResponse>`
  return { headers: { "content-type": "text/xml" }, body: xml }
}

/** Starts a proxy in front of moto at `motoEndpoint` (the test bed's `AWS_ENDPOINT_URL`). */
export const start = async (motoEndpoint: string): Promise<AwsFaultProxy> => {
  const moto = new URL(motoEndpoint)
  const agent = new http.Agent({ keepAlive: true })
  const rules: Array<ActiveRule> = []
  const log: Array<Logged> = []

  const handle = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const raw = Buffer.concat(chunks)
      const body = raw.toString("utf8")
      const operation = operationOf(request.headers, body)
      const rule = rules.find(
        (r) =>
          (r.times === undefined || r.used < r.times) &&
          (r.operation === undefined || r.operation === operation)
      )
      if (rule !== undefined) rule.used += 1
      const fault = rule?.fault
      const at = Date.now()
      if (fault?._tag === "error") {
        log.push({ operation, status: fault.status, action: "error", body, at })
        const answer = errorAnswer(request, body, fault)
        response.writeHead(fault.status, answer.headers).end(answer.body)
        return
      }
      if (fault?._tag === "reset") {
        log.push({ operation, status: 0, action: "reset", body, at })
        request.socket.destroy()
        return
      }
      const forward = () => {
        const { connection: _c, "keep-alive": _k, ...headers } = request.headers
        const upstream = http.request(
          {
            hostname: moto.hostname,
            port: moto.port,
            method: request.method,
            path: request.url,
            headers: { ...headers, host: moto.host },
            agent
          },
          (answer) => {
            const entry: { -readonly [K in keyof Logged]: Logged[K] } = {
              operation,
              status: answer.statusCode ?? 0,
              action: fault === undefined ? "forwarded" : fault._tag,
              body,
              at,
              delivered: false
            }
            log.push(entry)
            response.on("finish", () => {
              entry.delivered = true
            })
            const chunks: Array<Buffer> = []
            answer.on("data", (chunk: Buffer) => chunks.push(chunk))
            answer.on("end", () => {
              entry.answer = Buffer.concat(chunks).toString("utf8")
            })
            // The caller may be gone (a program killed mid-call): what the emulator answered still happened.
            if (response.destroyed) {
              answer.resume()
              return
            }
            const { connection: _connection, "keep-alive": _keepAlive, ...answerHeaders } = answer.headers
            response.writeHead(answer.statusCode ?? 502, answerHeaders)
            answer.pipe(response)
          }
        )
        upstream.on("error", (error) => {
          if (response.destroyed) return
          if (!response.headersSent) response.writeHead(502).end(String(error))
          else response.destroy()
        })
        // Not cut when the caller goes away: the call reached the emulator, and the log must say what it did.
        upstream.end(raw)
      }
      if (fault?._tag === "delay") setTimeout(forward, fault.ms)
      else forward()
    })
  }

  const server = await OutageServer.start(() => http.createServer(handle))
  const endpoint = `http://127.0.0.1:${server.port}`
  return {
    endpoint,
    queueUrl: (motoQueueUrl) => {
      const url = new URL(motoQueueUrl)
      return `${endpoint}${url.pathname}`
    },
    inject: (rule) => {
      const active: ActiveRule = { ...rule, used: 0 }
      rules.push(active)
      return () => {
        const index = rules.indexOf(active)
        if (index >= 0) rules.splice(index, 1)
      }
    },
    clear: () => {
      rules.length = 0
    },
    outage: (ms) =>
      server.outage(ms, () =>
        log.push({ operation: undefined, status: 0, action: "outage", body: "", at: Date.now() })
      ),
    log,
    succeeded: (operation) =>
      log.filter((entry) => entry.operation === operation && entry.status >= 200 && entry.status < 300),
    close: async () => {
      await server.close()
      agent.destroy()
    }
  }
}

/**
 * What the wire says of each SQS message (by `MessageId`): how many times a receive gave it, how many delete calls
 * (`DeleteMessage`, or an entry of `DeleteMessageBatch` that SQS listed as successful) removed it, and how many
 * of those deleted a receipt handle again after the caller had heard of an earlier delete of it succeeding
 * (`deletedAgain`: a consumer's defect). A message deleted twice is not one by itself: a delete whose answer an
 * outage cut off is rightly sent again, and a message whose visibility ran out in an outage is received again,
 * under a new receipt handle, and deleted by each receiver. `bodies`: each message's body, to say what a message
 * in question was. Read from the proxy's log of SQS's JSON protocol: a receipt handle names its message through the
 * receive that gave it.
 */
export const sqsLedger = (
  log: ReadonlyArray<Logged>
): {
  readonly received: ReadonlyMap<string, number>
  readonly deleted: ReadonlyMap<string, number>
  readonly deletedAgain: ReadonlyMap<string, number>
  readonly bodies: ReadonlyMap<string, string>
} => {
  const parse = (text: string | undefined): Record<string, unknown> => {
    try {
      return text ? (JSON.parse(text) as Record<string, unknown>) : {}
    } catch {
      return {}
    }
  }
  const messageOf = new Map<string, string>()
  const bodies = new Map<string, string>()
  const received = new Map<string, number>()
  const deleted = new Map<string, number>()
  const deletedAgain = new Map<string, number>()
  const knownDeleted = new Set<string>()
  const ok = (entry: Logged) => entry.status >= 200 && entry.status < 300
  const add = (counts: Map<string, number>, id: string) => counts.set(id, (counts.get(id) ?? 0) + 1)
  for (const entry of log) {
    if (entry.operation !== "ReceiveMessage" || !ok(entry)) continue
    const messages = (parse(entry.answer).Messages ?? []) as Array<{
      MessageId: string
      ReceiptHandle: string
      Body?: string
    }>
    for (const m of messages) {
      messageOf.set(m.ReceiptHandle, m.MessageId)
      if (m.Body !== undefined) bodies.set(m.MessageId, m.Body)
      add(received, m.MessageId)
    }
  }
  const count = (handle: string | undefined, entry: Logged) => {
    const id = handle === undefined ? undefined : messageOf.get(handle)
    if (handle === undefined || id === undefined) return
    add(deleted, id)
    if (knownDeleted.has(handle)) add(deletedAgain, id)
    if (entry.delivered !== false) knownDeleted.add(handle)
  }
  for (const entry of log) {
    if (!ok(entry)) continue
    if (entry.operation === "DeleteMessage")
      count(parse(entry.body).ReceiptHandle as string | undefined, entry)
    if (entry.operation === "DeleteMessageBatch") {
      const entries = (parse(entry.body).Entries ?? []) as Array<{ Id: string; ReceiptHandle: string }>
      const successful = new Set(
        ((parse(entry.answer).Successful ?? []) as Array<{ Id: string }>).map((e) => e.Id)
      )
      for (const e of entries) if (successful.has(e.Id)) count(e.ReceiptHandle, entry)
    }
  }
  return { received, deleted, deletedAgain, bodies }
}
