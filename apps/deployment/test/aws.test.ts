/**
 * Where the AWS clients go and how: region, endpoint and the proxy handler, from the settings and environment.
 */
import { Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import * as Aws from "../src/Aws.ts"

const settings = { awsRegion: "", awsEndpoint: "", queueUrl: "https://sqs.eu-west-3.amazonaws.com/1/q" }

describe("regionOfQueueUrl", () => {
  it("reads the region of an SQS queue URL", () => {
    expect(Aws.regionOfQueueUrl("https://sqs.eu-west-3.amazonaws.com/123456789012/q")).toBe("eu-west-3")
    expect(Aws.regionOfQueueUrl("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q")).toBe("cn-north-1")
    expect(Aws.regionOfQueueUrl("http://127.0.0.1:4566/123456789012/q")).toBeUndefined()
  })
})

describe("awsOptions", () => {
  it("takes AWS_REGION, else the queue URL's; AWS_ENDPOINT; no request handler without a proxy", () => {
    expect(Effect.runSync(Aws.awsOptions(settings, {}))).toEqual({ region: "eu-west-3" })
    expect(
      Effect.runSync(
        Aws.awsOptions(
          { ...settings, awsRegion: "us-east-2", awsEndpoint: "http://moto:5000" },
          { NO_PROXY: "*" }
        )
      )
    ).toEqual({ region: "us-east-2", endpoint: "http://moto:5000" })
  })

  it("gives every client one proxy-aware request handler when HTTPS_PROXY or HTTP_PROXY is set", () => {
    const aws = Effect.runSync(
      Aws.awsOptions(settings, {
        https_proxy: "http://nth:secret@proxy.corp:3128",
        NO_PROXY: "169.254.169.254"
      })
    )
    expect(aws.requestHandler?.proxies.proxyFor(new URL("https://sqs.eu-west-3.amazonaws.com/"))?.host).toBe(
      "proxy.corp:3128"
    )
    expect(aws.requestHandler?.metadata).toEqual({ handlerProtocol: "http/1.1" })
    expect(Aws.describeProxies(aws)).toBe(
      "AWS calls go through proxies (https: http://***@proxy.corp:3128, http: none) except for hosts NO_PROXY names"
    )
    expect(Aws.describeProxies(Effect.runSync(Aws.awsOptions(settings, {})))).toBeUndefined()
  })

  it("refuses a proxy it cannot use, as invalid settings", () => {
    const exit = Effect.runSyncExit(Aws.awsOptions(settings, { HTTPS_PROXY: "socks5://proxy:1080" }))
    expect(Exit.isFailure(exit)).toBe(true)
    if (Exit.isFailure(exit)) {
      const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
      expect(error?._tag === "Fail" && error.error).toMatchObject({
        _tag: "InvalidSettings",
        problems: ["HTTPS_PROXY: socks5 proxies are not supported (only http:// and https:// ones)"]
      })
    }
  })
})
