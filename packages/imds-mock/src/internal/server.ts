/**
 * The HTTP side of a mock: a plain `node:http` server that asks the engine for IMDS answers, applies injected
 * faults on the way out, records every IMDS request, and serves the control API under `/control/`.
 */
import { randomBytes } from "node:crypto"
import * as Http from "node:http"
import * as Control from "../Control.ts"
import { type Engine, errorResponse, type Response } from "./engine.ts"

// Timers of `delay` faults still waiting, per server, so closing a server does not wait for them.
const pendingDelays = new WeakMap<Http.Server, Set<NodeJS.Timeout>>()

const sleep = (ms: number, timers: Set<NodeJS.Timeout>): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => {
      timers.delete(timer)
      resolve()
    }, ms)
    timers.add(timer)
  })

const write = (response: Http.ServerResponse, answer: Response): void => {
  response.writeHead(answer.status, answer.headers)
  response.end(answer.body)
}

// A malformed body a client must reject: JSON cut in half (`{"action":"terminate","tim`), which a lenient
// parser cannot mistake for a value, and otherwise bytes that are not even valid UTF-8.
const garble = (answer: Response): Response => {
  const text = typeof answer.body === "string" ? answer.body : ""
  const body =
    answer.status === 200 && /^[[{]/.test(text)
      ? text.slice(0, Math.max(1, Math.floor(text.length / 2)))
      : Buffer.concat([Buffer.from([0xff, 0xfe, 0x00]), randomBytes(13)])
  return { status: 200, headers: { "content-type": "text/plain", server: "EC2ws" }, body }
}

const faultStatus = { throttle: 429, error: 500, unavailable: 503, forbidden: 403, notFound: 404 } as const

const serveImds = async (
  engine: Engine,
  timers: Set<NodeJS.Timeout>,
  request: Http.IncomingMessage,
  response: Http.ServerResponse,
  method: string,
  path: string
): Promise<void> => {
  // IMDS requests carry no body worth reading; draining it keeps the connection reusable.
  request.resume()
  const withToken = request.headers["x-aws-ec2-metadata-token"] !== undefined
  const fault = engine.takeFault(path)
  const faultField = fault === undefined ? {} : { fault: fault.mode }
  const send = (answer: Response): void => {
    write(response, answer)
    engine.record({ method, path, status: answer.status, withToken, ...faultField })
  }
  switch (fault?.mode) {
    case undefined:
      return send(engine.answer(method, path, request.headers))
    case "drop":
      engine.record({ method, path, status: 0, withToken, ...faultField })
      request.socket.destroy()
      return
    case "throttle":
    case "error":
    case "unavailable":
    case "forbidden":
    case "notFound":
      return send(errorResponse(faultStatus[fault.mode]))
    case "garbage":
      return send(garble(engine.answer(method, path, request.headers)))
    case "delay":
      await sleep(fault.delayMs, timers)
      // The client may have given up meanwhile; the answer reflects the state after the delay, as a slow IMDS
      // would.
      if (response.destroyed) return
      return send(engine.answer(method, path, request.headers))
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Control API
// ---------------------------------------------------------------------------------------------------------------

interface ControlAnswer {
  readonly status: number
  readonly body?: unknown
}

type ControlHandler = (engine: Engine, body: unknown, id: string) => ControlAnswer

const noContent: ControlAnswer = { status: 204 }
const done =
  (action: (engine: Engine, id: string) => void): ControlHandler =>
  (engine, _body, id) => {
    action(engine, id)
    return noContent
  }

const routes: ReadonlyArray<{
  readonly pattern: RegExp
  readonly methods: Readonly<Record<string, ControlHandler>>
}> = [
  { pattern: /^\/control\/state$/, methods: { GET: (engine) => ({ status: 200, body: engine.snapshot() }) } },
  {
    pattern: /^\/control\/spot$/,
    methods: {
      POST: (engine, body) => ({ status: 200, body: engine.setSpotInterruption(body) }),
      DELETE: done((engine) => engine.clearSpotInterruption())
    }
  },
  {
    pattern: /^\/control\/scheduled-events$/,
    methods: {
      GET: (engine) => ({ status: 200, body: engine.snapshot().scheduledEvents }),
      POST: (engine, body) => ({ status: 201, body: engine.addScheduledEvent(body) }),
      DELETE: done((engine) => engine.clearScheduledEvents())
    }
  },
  {
    pattern: /^\/control\/scheduled-events\/([^/]+)$/,
    methods: {
      PATCH: (engine, body, id) => ({ status: 200, body: engine.setScheduledEventState(id, body) }),
      DELETE: done((engine, id) => engine.removeScheduledEvent(id))
    }
  },
  {
    pattern: /^\/control\/rebalance$/,
    methods: {
      POST: (engine, body) => ({ status: 200, body: engine.setRebalanceRecommendation(body) }),
      DELETE: done((engine) => engine.clearRebalanceRecommendation())
    }
  },
  {
    pattern: /^\/control\/target-lifecycle-state$/,
    methods: {
      PUT: (engine, body) => {
        engine.setTargetLifecycleState(body)
        const { targetLifecycleState, pendingTargetLifecycleState } = engine.snapshot()
        return { status: 200, body: { targetLifecycleState, pendingTargetLifecycleState } }
      }
    }
  },
  {
    pattern: /^\/control\/faults$/,
    methods: {
      GET: (engine) => ({ status: 200, body: engine.snapshot().faults }),
      POST: (engine, body) => ({ status: 201, body: engine.injectFault(body) }),
      DELETE: done((engine) => engine.clearFaults())
    }
  },
  {
    pattern: /^\/control\/faults\/([^/]+)$/,
    methods: { DELETE: done((engine, id) => engine.removeFault(id)) }
  },
  {
    pattern: /^\/control\/clock$/,
    methods: { POST: (engine, body) => ({ status: 200, body: { now: engine.advanceClock(body) } }) }
  },
  {
    pattern: /^\/control\/requests$/,
    methods: {
      GET: (engine) => ({ status: 200, body: engine.requests() }),
      DELETE: done((engine) => engine.clearRequests())
    }
  },
  { pattern: /^\/control\/reset$/, methods: { POST: done((engine) => engine.reset()) } }
]

const maxBodyBytes = 1024 * 1024

const readBody = (request: Http.IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    request.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBodyBytes) {
        reject(new Error(`The body is larger than ${maxBodyBytes} bytes`))
        request.destroy()
      } else chunks.push(chunk)
    })
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

const sendJson = (response: Http.ServerResponse, answer: ControlAnswer): void => {
  if (answer.body === undefined) {
    response.writeHead(answer.status)
    response.end()
    return
  }
  response.writeHead(answer.status, { "content-type": "application/json" })
  response.end(JSON.stringify(answer.body))
}

const controlError = (error: unknown): ControlAnswer => {
  if (error instanceof Control.InvalidControlRequest) return { status: 400, body: { error: error.message } }
  if (error instanceof Control.UnknownId) return { status: 404, body: { error: error.message } }
  return { status: 500, body: { error: error instanceof Error ? error.message : String(error) } }
}

const serveControl = async (
  engine: Engine,
  request: Http.IncomingMessage,
  response: Http.ServerResponse,
  method: string,
  path: string
): Promise<void> => {
  let text: string
  try {
    text = await readBody(request)
  } catch (error) {
    return sendJson(response, { status: 413, body: { error: (error as Error).message } })
  }
  const route = routes.find((candidate) => candidate.pattern.test(path))
  if (route === undefined) {
    return sendJson(response, { status: 404, body: { error: `No control route ${path}` } })
  }
  const handler = route.methods[method]
  if (handler === undefined) {
    const allowed = Object.keys(route.methods).join(", ")
    response.setHeader("allow", allowed)
    return sendJson(response, {
      status: 405,
      body: { error: `${method} ${path} is not supported; use ${allowed}` }
    })
  }
  // An empty body is an empty object: `POST /control/rebalance` with nothing to say takes every default.
  let body: unknown = {}
  if (text.trim() !== "") {
    try {
      body = JSON.parse(text)
    } catch (error) {
      return sendJson(response, {
        status: 400,
        body: { error: `The body is not valid JSON: ${(error as Error).message}` }
      })
    }
  }
  const id = decodeURIComponent(route.pattern.exec(path)?.[1] ?? "")
  let answer: ControlAnswer
  try {
    answer = handler(engine, body, id)
  } catch (error) {
    answer = controlError(error)
  }
  sendJson(response, answer)
}

// ---------------------------------------------------------------------------------------------------------------
// Server lifecycle
// ---------------------------------------------------------------------------------------------------------------

const safePathname = (target: string): string => {
  try {
    return new URL(target).pathname
  } catch {
    return target
  }
}

export interface ListenCallbacks {
  readonly onListening: (server: Http.Server) => void
  readonly onError: (error: Error) => void
}

/** Creates the server and starts listening; the callbacks say how that went. */
export const listen = (
  engine: Engine,
  host: string,
  port: number,
  callbacks: ListenCallbacks
): Http.Server => {
  const timers = new Set<NodeJS.Timeout>()
  const server = Http.createServer((request, response) => {
    const method = request.method ?? "GET"
    // The request target is origin-form (`/latest/…?query`) from any ordinary client; `new URL` would read a
    // path starting with `//` as a host, so it is only used for the absolute form a proxy-minded client sends.
    const target = request.url ?? "/"
    const path = target.startsWith("/") ? target.replace(/[?#].*$/, "") : safePathname(target)
    const served =
      path === "/control" || path.startsWith("/control/")
        ? serveControl(engine, request, response, method, path)
        : serveImds(engine, timers, request, response, method, path)
    served.catch((error: unknown) => {
      if (!response.headersSent) sendJson(response, controlError(error))
      else response.destroy()
    })
  })
  pendingDelays.set(server, timers)
  const onError = (error: Error): void => callbacks.onError(error)
  server.once("error", onError)
  server.listen(port, host, () => {
    server.off("error", onError)
    callbacks.onListening(server)
  })
  return server
}

/** Stops listening and drops every connection, including answers a `delay` fault still holds back. */
export const closeServer = (server: Http.Server): Promise<void> =>
  new Promise((resolve) => {
    for (const timer of pendingDelays.get(server) ?? []) clearTimeout(timer)
    if (!server.listening) return resolve()
    server.close(() => resolve())
    server.closeAllConnections()
  })
