/**
 * The proxy of an AWS call, from the environment, as Go's `httpproxy` chooses it (its own test tables, then the
 * cases AWS calls meet), and the request handler that carries the choice out.
 */

import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { ForwardProxy } from "@nth/testbed"
import { Result } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as HttpProxy from "../src/HttpProxy.ts"

const proxies = (config: Partial<HttpProxy.Config>): HttpProxy.Proxies => {
  const made = HttpProxy.make({ httpProxy: "", httpsProxy: "", noProxy: "", ...config })
  if (Result.isFailure(made)) throw new Error(made.failure)
  return made.success
}

/** The proxy's origin for `url`, or "direct". */
const choice = (config: Partial<HttpProxy.Config>, url: string): string => {
  const target = new URL(url)
  return proxies(config).proxyFor(target)?.origin ?? "direct"
}

describe("fromEnvironment", () => {
  it("reads the upper-case names first, then the lower-case ones", () => {
    expect(
      HttpProxy.fromEnvironment({
        HTTP_PROXY: "http://upper:1",
        http_proxy: "http://lower:1",
        https_proxy: "http://lower:2",
        no_proxy: "lower.example"
      })
    ).toEqual({ httpProxy: "http://upper:1", httpsProxy: "http://lower:2", noProxy: "lower.example" })
  })

  it("takes an empty variable as unset", () => {
    expect(
      HttpProxy.fromEnvironment({
        HTTPS_PROXY: "",
        https_proxy: "http://lower:2",
        NO_PROXY: "",
        no_proxy: "x"
      })
    ).toEqual({ httpProxy: "", httpsProxy: "http://lower:2", noProxy: "x" })
    expect(HttpProxy.fromEnvironment({})).toEqual({ httpProxy: "", httpsProxy: "", noProxy: "" })
  })
})

describe("parseProxy", () => {
  it.each([
    ["127.0.0.1:8080", "http://127.0.0.1:8080"],
    ["cache.corp.example.com:1234", "http://cache.corp.example.com:1234"],
    ["cache.corp.example.com", "http://cache.corp.example.com"],
    ["https://cache.corp.example.com", "https://cache.corp.example.com"],
    ["http://127.0.0.1:8080", "http://127.0.0.1:8080"],
    ["https://127.0.0.1:8080", "https://127.0.0.1:8080"],
    ["http://user:pa%40ss@proxy.corp:3128", "http://proxy.corp:3128"]
  ])("%s is %s", (value, origin) => {
    const parsed = HttpProxy.parseProxy(value)
    expect(Result.isSuccess(parsed) && parsed.success.origin).toBe(origin)
  })

  it("keeps the credentials of the URL (Node sends them as Proxy-Authorization)", () => {
    const parsed = HttpProxy.parseProxy("http://user:pa%40ss@proxy.corp:3128")
    expect(Result.isSuccess(parsed) && [parsed.success.username, parsed.success.password]).toEqual([
      "user",
      "pa%40ss"
    ])
    expect(Result.isSuccess(parsed) && HttpProxy.redact(parsed.success)).toBe("http://***@proxy.corp:3128")
  })

  it("refuses SOCKS proxies (Go takes them, Node's agents do not) and what is no URL", () => {
    for (const value of ["socks5://127.0.0.1", "socks5h://proxy:1080", "ftp://proxy", "http://[bad"]) {
      expect(Result.isFailure(HttpProxy.parseProxy(value)), value).toBe(true)
    }
  })

  it("names the variable of a proxy it cannot use", () => {
    const made = HttpProxy.make({ httpProxy: "", httpsProxy: "socks5://proxy:1080", noProxy: "" })
    expect(Result.isFailure(made) && made.failure).toMatch(/^HTTPS_PROXY: socks5 proxies are not supported/)
  })
})

describe("proxyFor: the proxy of each scheme (Go's proxyForURLTests)", () => {
  it.each([
    // [HTTP_PROXY, HTTPS_PROXY, URL, proxy]
    ["http.proxy.tld", "secure.proxy.tld", "http://insecure.tld/", "http://http.proxy.tld"],
    ["http.proxy.tld", "secure.proxy.tld", "https://secure.tld/", "http://secure.proxy.tld"],
    ["http.proxy.tld", "https://secure.proxy.tld", "https://secure.tld/", "https://secure.proxy.tld"],
    // An https: URL never falls back to HTTP_PROXY, nor an http: URL to HTTPS_PROXY.
    ["http.proxy.tld", "", "https://secure.tld/", "direct"],
    ["", "secure.proxy.tld", "http://insecure.tld/", "direct"],
    ["", "", "http://example.com/", "direct"]
  ])("HTTP_PROXY=%j HTTPS_PROXY=%j: %s goes through %s", (httpProxy, httpsProxy, url, want) => {
    expect(choice({ httpProxy, httpsProxy }, url)).toBe(want)
  })

  it.each([
    ["example.com", "http://example.com/", "direct"],
    [".example.com", "http://example.com/", "http://proxy"],
    ["ample.com", "http://example.com/", "http://proxy"],
    ["example.com", "http://foo.example.com/", "direct"],
    [".foo.com", "http://example.com/", "http://proxy"]
  ])("NO_PROXY=%j: %s goes through %s", (noProxy, url, want) => {
    expect(choice({ httpProxy: "proxy", noProxy }, url)).toBe(want)
  })
})

describe("proxyFor: NO_PROXY (Go's UseProxyTests)", () => {
  const noProxy =
    "foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, 192.168.1.2:81, 192.168.1.3:80, 10.0.0.0/30, " +
    "2001:db8::52:0:1, [2001:db8::52:0:2]:443, [2001:db8::52:0:3]:80, 2002:db8:a::45/64"

  it.each([
    // Never proxy localhost:
    ["localhost", false],
    ["127.0.0.1", false],
    ["127.0.0.2", false],
    ["[::1]", false],
    ["[::2]", true], // not a loopback address

    ["192.168.1.1", false], // matches exact IPv4
    ["192.168.1.2", true], // ports do not match
    ["192.168.1.3", false], // matches exact IPv4:port
    ["192.168.1.4", true], // no match
    ["10.0.0.2", false], // matches IPv4/CIDR
    ["[2001:db8::52:0:1]", false], // matches exact IPv6
    ["[2001:db8::52:0:2]", true], // no match
    ["[2001:db8::52:0:3]", false], // matches exact [IPv6]:port
    ["[2002:db8:a::123]", false], // matches IPv6/CIDR
    ["[fe80::424b:c8be:1643:a1b6]", true], // no match

    ["barbaz.net", true], // does not match as .barbaz.net
    ["www.barbaz.net", false], // does match as .barbaz.net
    ["foobar.com", false], // does match as foobar.com
    ["www.foobar.com", false], // match because NO_PROXY includes "foobar.com"
    ["foofoobar.com", true], // not match as a part of foobar.com
    ["baz.com", true], // not match as a part of barbaz.com
    ["localhost.net", true], // not match as suffix of address
    ["local.localhost", true], // not match as prefix as address
    ["barbarbaz.net", true], // not match, wrong domain
    ["wildcard.io", true], // does not match as *.wildcard.io
    ["nested.wildcard.io", false], // match as *.wildcard.io
    ["awildcard.io", true] // not a match because of '*'
  ])("%s:80 proxied: %s", (host, proxied) => {
    expect(choice({ httpProxy: "proxy", noProxy }, `http://${host}:80/`) !== "direct").toBe(proxied)
  })

  it("`*` sends every host straight", () => {
    for (const url of [
      "http://example.com/",
      "https://sqs.us-east-1.amazonaws.com/",
      "http://10.0.0.1:8080/"
    ])
      expect(choice({ httpProxy: "proxy", httpsProxy: "proxy", noProxy: "*" }, url)).toBe("direct")
    expect(choice({ httpProxy: "proxy", noProxy: "example.com, *" }, "http://other.org/")).toBe("direct")
  })

  it("passes over malformed entries (Go's TestInvalidNoProxy)", () => {
    expect(choice({ httpProxy: "proxy", noProxy: ":1" }, "http://example.com/")).toBe("http://proxy")
    expect(choice({ httpProxy: "proxy", noProxy: "10.0.0.0/99, ,[::1" }, "http://10.0.0.1/")).toBe(
      "http://proxy"
    )
  })
})

describe("proxyFor: AWS endpoints", () => {
  const https = "http://proxy.corp:3128"
  const sqs = "https://sqs.us-east-1.amazonaws.com/"

  it("sends AWS calls through HTTPS_PROXY", () => {
    expect(choice({ httpsProxy: https }, sqs)).toBe(https)
    expect(choice({ httpsProxy: https }, "https://sts.us-east-1.amazonaws.com/")).toBe(https)
  })

  it("takes `amazonaws.com` in NO_PROXY for every AWS endpoint, as Go (Node's own NO_PROXY would not)", () => {
    expect(choice({ httpsProxy: https, noProxy: "amazonaws.com" }, sqs)).toBe("direct")
    expect(choice({ httpsProxy: https, noProxy: ".amazonaws.com" }, sqs)).toBe("direct")
    expect(choice({ httpsProxy: https, noProxy: "*.amazonaws.com" }, sqs)).toBe("direct")
    expect(choice({ httpsProxy: https, noProxy: "ec2.us-east-1.amazonaws.com" }, sqs)).toBe(https)
  })

  it("matches a port in NO_PROXY against the URL's, 443 for https: without one", () => {
    expect(choice({ httpsProxy: https, noProxy: "sqs.us-east-1.amazonaws.com:443" }, sqs)).toBe("direct")
    expect(choice({ httpsProxy: https, noProxy: "sqs.us-east-1.amazonaws.com:8443" }, sqs)).toBe(https)
  })

  it("matches VPC endpoint addresses by CIDR, and never a domain entry against an address", () => {
    expect(choice({ httpsProxy: https, noProxy: "10.0.0.0/8" }, "https://10.20.30.40/")).toBe("direct")
    expect(choice({ httpsProxy: https, noProxy: "10.0.0.0/8" }, "https://11.0.0.1/")).toBe(https)
    expect(choice({ httpsProxy: https, noProxy: "0.0.0.1" }, "https://10.0.0.1/")).toBe(https)
  })

  it("reads the case-insensitive host of an endpoint and a NO_PROXY entry alike", () => {
    expect(choice({ httpsProxy: https, noProxy: "SQS.US-EAST-1.AMAZONAWS.COM" }, sqs)).toBe("direct")
    const target = { protocol: "https:", hostname: "SQS.us-east-1.amazonaws.com" }
    expect(proxies({ httpsProxy: https, noProxy: "amazonaws.com" }).proxyFor(target)).toBeUndefined()
  })

  it("matches an internationalized name in NO_PROXY against the URL's punycode host", () => {
    expect(choice({ httpProxy: "proxy", noProxy: "bücher.example" }, "http://www.bücher.example/")).toBe(
      "direct"
    )
    expect(choice({ httpProxy: "proxy", noProxy: ".bücher.example" }, "http://bücher.example/")).toBe(
      "http://proxy"
    )
  })

  it("takes an IPv6 host with or without brackets (the SDK's request has them)", () => {
    const config = { httpsProxy: https, noProxy: "fd00::/8" }
    expect(proxies(config).proxyFor({ protocol: "https:", hostname: "[fd00::1]", port: 443 })).toBeUndefined()
    expect(proxies(config).proxyFor({ protocol: "https:", hostname: "fd00::1" })).toBeUndefined()
    expect(proxies(config).proxyFor({ protocol: "https:", hostname: "[fe00::1]" })?.origin).toBe(https)
  })
})

// ---------------------------------------------------------------------------------------------------------------
// The request handler
// ---------------------------------------------------------------------------------------------------------------

describe("requestHandler", () => {
  let target: http.Server
  let targetPort = 0
  let proxy: ForwardProxy.ForwardProxy
  const seenByTarget: Array<string> = []

  beforeAll(async () => {
    target = http.createServer((request, response) => {
      seenByTarget.push(`${request.method} ${request.url}`)
      response.end(`hello ${request.url}`)
    })
    await new Promise<void>((resolve) => target.listen(0, "127.0.0.1", resolve))
    targetPort = (target.address() as AddressInfo).port
    proxy = await ForwardProxy.start({ [`service.nth-proxy.test:${targetPort}`]: `127.0.0.1:${targetPort}` })
  })
  afterAll(async () => {
    await proxy.close()
    await new Promise((resolve) => target.close(resolve))
  })

  const send = async (
    handler: HttpProxy.RequestHandler,
    hostname: string,
    path: string,
    protocol = "http:"
  ) => {
    const { response } = await handler.handle({
      protocol,
      hostname,
      port: protocol === "http:" ? targetPort : 443,
      method: "GET",
      path,
      query: {},
      headers: { host: protocol === "http:" ? `${hostname}:${targetPort}` : hostname }
    } as unknown as Parameters<HttpProxy.RequestHandler["handle"]>[0])
    let body = ""
    for await (const chunk of response.body as AsyncIterable<Buffer>) body += chunk.toString()
    return { status: response.statusCode, body }
  }

  it("sends through the proxy what NO_PROXY does not name, the rest straight, with keep-alive", async () => {
    const handler = HttpProxy.requestHandler(
      proxies({ httpProxy: `http://nth:secret@127.0.0.1:${proxy.port}`, noProxy: "direct.nth-proxy.test" })
    )
    expect(await send(handler, "service.nth-proxy.test", "/one")).toEqual({ status: 200, body: "hello /one" })
    expect(await send(handler, "service.nth-proxy.test", "/two")).toEqual({ status: 200, body: "hello /two" })
    // Loopback is never proxied.
    expect(await send(handler, "127.0.0.1", "/three")).toEqual({ status: 200, body: "hello /three" })
    expect(proxy.requests.map((r) => `${r.method} ${r.target}`)).toEqual([
      `GET service.nth-proxy.test:${targetPort}`,
      `GET service.nth-proxy.test:${targetPort}`
    ])
    expect(proxy.connections()).toBe(1)
    expect(proxy.requests[0]?.proxyAuthorization).toBe(
      `Basic ${Buffer.from("nth:secret").toString("base64")}`
    )
    expect(seenByTarget).toEqual(["GET /one", "GET /two", "GET /three"])
    // A host NO_PROXY names goes straight: here, nowhere (only the proxy knows it).
    await expect(send(handler, "direct.nth-proxy.test", "/four")).rejects.toThrow(/ENOTFOUND|EAI_AGAIN/)
    expect(proxy.requests).toHaveLength(2)
    handler.destroy()
    // The handler still works after destroy() (it closed the idle connections only).
    expect(await send(handler, "service.nth-proxy.test", "/five")).toEqual({
      status: 200,
      body: "hello /five"
    })
    handler.destroy()
  })

  it("tunnels an https: call through HTTPS_PROXY with CONNECT to the AWS endpoint", async () => {
    const handler = HttpProxy.requestHandler(proxies({ httpsProxy: `127.0.0.1:${proxy.port}` }))
    const before = proxy.requests.length
    // This proxy refuses hosts it does not know (502): nothing leaves the machine.
    await expect(send(handler, "sqs.us-east-1.amazonaws.com", "/", "https:")).rejects.toThrow()
    expect(proxy.requests.slice(before).map((r) => `${r.method} ${r.target}`)).toEqual([
      "CONNECT sqs.us-east-1.amazonaws.com:443"
    ])
    handler.destroy()
  })
})
