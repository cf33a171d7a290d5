/**
 * The proxy of an AWS call, chosen from the environment as the Go handler's calls choose theirs (Go's net/http
 * `ProxyFromEnvironment`, that is golang.org/x/net/http/httpproxy):
 *
 * - `HTTPS_PROXY` (else `https_proxy`) for `https:` URLs, `HTTP_PROXY` (else `http_proxy`) for `http:` URLs: an
 *   `https:` URL never falls back to `HTTP_PROXY`. An empty variable counts as unset. A value without a scheme
 *   (`proxy.corp:3128`) is an `http://` proxy.
 * - `NO_PROXY` (else `no_proxy`): comma-separated; `*` bypasses the proxy for every host; `example.com` matches
 *   that name and its subdomains, `.example.com` and `*.example.com` its subdomains only; an IP address matches
 *   itself, a CIDR block (`10.0.0.0/8`, `fd00::/8`) the addresses in it; a host or IP address may name a port
 *   (`example.com:443`, `10.1.2.3:80`, `[fd00::1]:443`). Domain entries never match an IP address.
 * - `localhost` and loopback addresses are never proxied.
 *
 * Node's own `NO_PROXY` reading (`NODE_USE_ENV_PROXY`, an agent's `proxyEnv`) differs: there `example.com`
 * matches that name only, and CIDR blocks are not understood. So the choice is made here, per request, and Node's
 * agents only carry out a choice already made (see {@link requestHandler}).
 */
import * as http from "node:http"
import * as https from "node:https"
import { BlockList, isIP } from "node:net"
import { domainToASCII } from "node:url"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { Result } from "effect"

/** The variables, as Go reads them: the upper-case name first, an empty value as none. */
export interface Config {
  /** `HTTP_PROXY`, else `http_proxy`. */
  readonly httpProxy: string
  /** `HTTPS_PROXY`, else `https_proxy`. */
  readonly httpsProxy: string
  /** `NO_PROXY`, else `no_proxy`. */
  readonly noProxy: string
}

const getEnvAny = (
  env: Readonly<Record<string, string | undefined>>,
  ...names: ReadonlyArray<string>
): string => names.map((name) => env[name] ?? "").find((value) => value !== "") ?? ""

/** The proxy variables of an environment. */
export const fromEnvironment = (env: Readonly<Record<string, string | undefined>>): Config => ({
  httpProxy: getEnvAny(env, "HTTP_PROXY", "http_proxy"),
  httpsProxy: getEnvAny(env, "HTTPS_PROXY", "https_proxy"),
  noProxy: getEnvAny(env, "NO_PROXY", "no_proxy")
})

/**
 * A proxy variable's value as a URL, as Go reads it: a value that is not a URL with a scheme and a host is read
 * again with `http://` before it. Go also takes `socks5://` proxies; Node's agents do not, so they are refused
 * here (as is anything but `http:` and `https:`), rather than AWS being reached without the proxy.
 */
export const parseProxy = (value: string): Result.Result<URL, string> => {
  const parse = (text: string): URL | undefined => {
    try {
      return new URL(text)
    } catch {
      return undefined
    }
  }
  const given = parse(value)
  // Go reads a value it cannot parse again with `http://`; one that has a scheme already is refused here instead.
  const url =
    (given === undefined || given.host === "") && !value.includes("://") ? parse(`http://${value}`) : given
  if (url === undefined || url.host === "") return Result.fail(`${JSON.stringify(value)} is not a proxy URL`)
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return Result.fail(
      `${url.protocol.slice(0, -1)} proxies are not supported (only http:// and https:// ones)`
    )
  return Result.succeed(url)
}

/** `host:port` or `[ipv6]:port` into its parts, as Go's `net.SplitHostPort`; `undefined` without a port. */
const splitHostPort = (text: string): { readonly host: string; readonly port: string } | undefined => {
  if (text.startsWith("[")) {
    const end = text.indexOf("]")
    if (end < 0 || text[end + 1] !== ":") return undefined
    const port = text.slice(end + 2)
    return port.includes(":") ? undefined : { host: text.slice(1, end), port }
  }
  const colon = text.lastIndexOf(":")
  if (colon < 0) return undefined
  const host = text.slice(0, colon)
  return host.includes(":") || host.includes("[") || host.includes("]")
    ? undefined
    : { host, port: text.slice(colon + 1) }
}

const familyOf = (ip: string): "ipv4" | "ipv6" => (isIP(ip) === 4 ? "ipv4" : "ipv6")

/** Whether a `NO_PROXY` entry covers a host (lower case, without brackets) and port; `ip` when the host is one. */
type Matcher = (host: string, port: string, ip: boolean) => boolean

const ipMatcher = (ip: string, port: string): Matcher => {
  const list = new BlockList()
  list.addAddress(ip, familyOf(ip))
  return (host, hostPort, isAddress) =>
    isAddress && list.check(host, familyOf(host)) && (port === "" || port === hostPort)
}

const cidrMatcher = (entry: string): Matcher | undefined => {
  const slash = entry.indexOf("/")
  const network = entry.slice(0, slash)
  const bits = entry.slice(slash + 1)
  const family = isIP(network)
  if (family === 0 || !/^\d{1,3}$/.test(bits) || Number(bits) > (family === 4 ? 32 : 128)) return undefined
  const list = new BlockList()
  list.addSubnet(network, Number(bits), family === 4 ? "ipv4" : "ipv6")
  return (host, _port, isAddress) => isAddress && list.check(host, familyOf(host))
}

const domainMatcher = (name: string, port: string): Matcher => {
  // `*.example.com` is `.example.com`; `example.com` matches itself as well as what `.example.com` matches.
  const pattern = name.startsWith("*.") ? name.slice(1) : name
  const matchHost = !pattern.startsWith(".")
  const dotted = matchHost ? `.${pattern}` : pattern
  // An internationalized name as the URL's host has it (punycode), as Go's `idnaASCII`.
  const ascii = /[^\x20-\x7e]/.test(dotted) ? `.${domainToASCII(dotted.slice(1)) || dotted.slice(1)}` : dotted
  return (host, hostPort, isAddress) =>
    !isAddress &&
    (host.endsWith(ascii) || (matchHost && host === ascii.slice(1))) &&
    (port === "" || port === hostPort)
}

/** A `NO_PROXY` value as matchers, as Go's `httpproxy` reads it (malformed entries are passed over). */
const matchersOf = (noProxy: string): ReadonlyArray<Matcher> => {
  const matchers: Array<Matcher> = []
  for (const raw of noProxy.split(",")) {
    const entry = raw.trim().toLowerCase()
    if (entry === "") continue
    if (entry === "*") return [() => true]
    if (entry.includes("/")) {
      const cidr = cidrMatcher(entry)
      if (cidr !== undefined) matchers.push(cidr)
      continue
    }
    const split = splitHostPort(entry)
    const host = split?.host ?? entry
    const port = split?.port ?? ""
    if (host === "") continue
    if (isIP(host) !== 0) {
      matchers.push(ipMatcher(host, port))
      continue
    }
    matchers.push(domainMatcher(host, port))
  }
  return matchers
}

const loopback = new BlockList()
loopback.addSubnet("127.0.0.0", 8, "ipv4")
loopback.addAddress("::1", "ipv6")

/** Where a request goes: its URL's `protocol` (`https:`), `hostname` (`[…]` around an IPv6 address or not), `port`. */
export interface Target {
  readonly protocol: string
  readonly hostname: string
  readonly port?: number | string | undefined
}

/** The proxy of each request, from the environment's variables. */
export interface Proxies {
  /** The proxy of `http:` URLs, if any. */
  readonly httpProxy: URL | undefined
  /** The proxy of `https:` URLs, if any. */
  readonly httpsProxy: URL | undefined
  /** The proxy a request to `target` goes through, if any. */
  readonly proxyFor: (target: Target) => URL | undefined
}

/** The proxies of a {@link Config}; fails on a proxy variable that cannot be used (see {@link parseProxy}). */
export const make = (config: Config): Result.Result<Proxies, string> => {
  const read = (name: string, value: string): Result.Result<URL | undefined, string> =>
    value === ""
      ? Result.succeed(undefined)
      : Result.mapError(parseProxy(value), (problem) => `${name}: ${problem}`)
  const httpProxy = read("HTTP_PROXY", config.httpProxy)
  if (Result.isFailure(httpProxy)) return Result.fail(httpProxy.failure)
  const httpsProxy = read("HTTPS_PROXY", config.httpsProxy)
  if (Result.isFailure(httpsProxy)) return Result.fail(httpsProxy.failure)
  const matchers = matchersOf(config.noProxy)
  const useProxy = (hostname: string, port: string): boolean => {
    const host = (hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname)
      .trim()
      .toLowerCase()
    if (host === "localhost") return false
    const isAddress = isIP(host) !== 0
    if (isAddress && loopback.check(host, familyOf(host))) return false
    return !matchers.some((matches) => matches(host, port, isAddress))
  }
  return Result.succeed({
    httpProxy: httpProxy.success,
    httpsProxy: httpsProxy.success,
    proxyFor: (target) => {
      const proxy =
        target.protocol === "https:"
          ? httpsProxy.success
          : target.protocol === "http:"
            ? httpProxy.success
            : undefined
      if (proxy === undefined) return undefined
      const port =
        target.port === undefined || target.port === ""
          ? target.protocol === "https:"
            ? "443"
            : "80"
          : String(target.port)
      return useProxy(target.hostname, port) ? proxy : undefined
    }
  })
}

/** A proxy URL without its credentials, for logs. */
export const redact = (url: URL): string =>
  url.username === "" && url.password === "" ? url.origin : `${url.protocol}//***@${url.host}`

// ---------------------------------------------------------------------------------------------------------------
// The AWS SDK's request handler
// ---------------------------------------------------------------------------------------------------------------

/**
 * The SDK's `NodeHttpHandler` defaults (`keepAlive`, 50 sockets per host): the intake's long polls (4), batch
 * calls (4 + 4) and one-off calls stay well under them.
 */
const agentOptions = { keepAlive: true, maxSockets: 50 } as const

/** Destroys an agent's idle keep-alive sockets only (Go's `CloseIdleConnections`). */
const closeIdle = (agent: http.Agent) => {
  for (const sockets of Object.values(agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy()
}

/** An AWS SDK request handler (what a client's `requestHandler` takes) and the proxies it sends through. */
export interface RequestHandler {
  readonly proxies: Proxies
  readonly metadata: NodeHttpHandler["metadata"]
  readonly handle: NodeHttpHandler["handle"]
  readonly updateHttpClientConfig: NodeHttpHandler["updateHttpClientConfig"]
  readonly httpHandlerConfigs: NodeHttpHandler["httpHandlerConfigs"]
  /** Closes the idle connections (a client's `destroy()` calls it). */
  readonly destroy: () => void
}

/**
 * An AWS SDK request handler (`requestHandler` of a client's config) that sends each request through the proxy
 * {@link Proxies.proxyFor} names for it, or straight to AWS. The tunnel (`CONNECT` for `https:`) or the
 * absolute-form request (`http:`) is Node's, from an agent given the chosen proxy as its only `proxyEnv` (Node ≥
 * 24.5). Keep-alive pools are the SDK's defaults, one for direct requests and one for proxied ones.
 *
 * One handler may serve several clients (and the STS client of the web-identity credentials, which borrows its
 * caller's): a client's `destroy()` closes the idle connections only, so it never cuts another client's call.
 */
export const requestHandler = (proxies: Proxies): RequestHandler => {
  const agents = {
    direct: { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) },
    proxied: {
      http: new http.Agent({
        ...agentOptions,
        ...(proxies.httpProxy ? { proxyEnv: { HTTP_PROXY: proxies.httpProxy.href } } : {})
      }),
      https: new https.Agent({
        ...agentOptions,
        ...(proxies.httpsProxy ? { proxyEnv: { HTTPS_PROXY: proxies.httpsProxy.href } } : {})
      })
    }
  }
  const direct = new NodeHttpHandler({ httpAgent: agents.direct.http, httpsAgent: agents.direct.https })
  const proxied = new NodeHttpHandler({ httpAgent: agents.proxied.http, httpsAgent: agents.proxied.https })
  return {
    proxies,
    metadata: direct.metadata,
    handle: (request, options) =>
      (proxies.proxyFor(request) === undefined ? direct : proxied).handle(request, options),
    updateHttpClientConfig: (key, value) => {
      direct.updateHttpClientConfig(key, value)
      proxied.updateHttpClientConfig(key, value)
    },
    httpHandlerConfigs: () => direct.httpHandlerConfigs(),
    destroy: () => {
      for (const agent of [
        agents.direct.http,
        agents.direct.https,
        agents.proxied.http,
        agents.proxied.https
      ])
        closeIdle(agent)
    }
  }
}
