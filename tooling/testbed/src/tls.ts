/**
 * A certificate made for the occasion by `openssl` (a test's https servers: the webhook receiver, the API
 * server's fault proxy), valid two days for the names and addresses given.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface Certificate {
  readonly key: string
  readonly cert: string
  /** The certificate's file, to trust it (`NODE_EXTRA_CA_CERTS`, a kubeconfig's certificate-authority). */
  readonly file: string
}

export const make = (commonName: string, altNames: ReadonlyArray<string>): Certificate => {
  const dir = mkdtempSync(join(tmpdir(), "nth-tls-"))
  const key = join(dir, "key.pem")
  const file = join(dir, "cert.pem")
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      `/CN=${commonName}`,
      "-addext",
      `subjectAltName=${altNames.join(",")}`,
      "-keyout",
      key,
      "-out",
      file
    ],
    { stdio: "ignore" }
  )
  return { key: readFileSync(key, "utf8"), cert: readFileSync(file, "utf8"), file }
}
