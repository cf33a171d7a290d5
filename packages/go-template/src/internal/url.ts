/**
 * Go's net/url, as far as Sprig's `urlParse` and `urlJoin` use it: `url.Parse` and `URL.String`.
 *
 * @internal
 */
import { fromUtf8, utf8 } from "./strconv.ts"
import { GoError } from "./values.ts"

type Mode = "path" | "pathSegment" | "host" | "zone" | "userPassword" | "queryComponent" | "fragment"

const isAlnum = (c: number): boolean =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39)

const shouldEscape = (c: number, mode: Mode): boolean => {
  if (isAlnum(c)) return false
  const ch = String.fromCharCode(c)
  if ((mode === "host" || mode === "zone") && "!$&'()*+,;=:[]<>\"".includes(ch)) return false
  if ("-_.~".includes(ch)) return false
  if ("$&+,/:;=?@".includes(ch)) {
    switch (mode) {
      case "path":
        return ch === "?"
      case "pathSegment":
        return ch === "/" || ch === ";" || ch === "," || ch === "?"
      case "userPassword":
        return ch === "@" || ch === "/" || ch === "?" || ch === ":"
      case "queryComponent":
        return true
      case "fragment":
        return false
    }
  }
  if (mode === "fragment" && "!()*".includes(ch)) return false
  return true
}

const ishex = (c: string | undefined): boolean => c !== undefined && /^[0-9a-fA-F]$/.test(c)

const unescapeURL = (s: string, mode: Mode): string => {
  let n = 0
  let hasPlus = false
  for (let i = 0; i < s.length; ) {
    const c = s[i]!
    if (c === "%") {
      n++
      if (i + 2 >= s.length || !ishex(s[i + 1]) || !ishex(s[i + 2])) {
        let t = s.slice(i)
        if (t.length > 3) t = t.slice(0, 3)
        throw new GoError(`invalid URL escape ${JSON.stringify(t)}`)
      }
      if (mode === "host" && Number.parseInt(s[i + 1]!, 16) < 8 && s.slice(i, i + 3) !== "%25")
        throw new GoError(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`)
      i += 3
    } else if (c === "+") {
      hasPlus = mode === "queryComponent"
      i++
    } else {
      const code = c.charCodeAt(0)
      if ((mode === "host" || mode === "zone") && code < 0x80 && shouldEscape(code, mode))
        throw new GoError(`invalid character ${JSON.stringify(c)} in host name`)
      i++
    }
  }
  if (n === 0 && !hasPlus) return s
  const out: Array<number> = []
  const bytes = utf8(s)
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    if (b === 0x25) {
      out.push(Number.parseInt(String.fromCharCode(bytes[i + 1]!, bytes[i + 2]!), 16))
      i += 2
    } else if (b === 0x2b) out.push(mode === "queryComponent" ? 0x20 : 0x2b)
    else out.push(b)
  }
  return fromUtf8(Uint8Array.from(out))
}

const escapeURL = (s: string, mode: Mode): string => {
  let out = ""
  for (const b of utf8(s)) {
    if (b === 0x20 && mode === "queryComponent") out += "+"
    else if (shouldEscape(b, mode)) out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`
    else out += String.fromCharCode(b)
  }
  return out
}

interface UserInfo {
  readonly username: string
  readonly password: string
  readonly passwordSet: boolean
}

/** A parsed URL, as Go's url.URL. */
export interface GoURL {
  scheme: string
  opaque: string
  user: UserInfo | undefined
  host: string
  path: string
  rawPath: string
  omitHost: boolean
  forceQuery: boolean
  rawQuery: string
  fragment: string
  rawFragment: string
}

const emptyURL = (): GoURL => ({
  scheme: "",
  opaque: "",
  user: undefined,
  host: "",
  path: "",
  rawPath: "",
  omitHost: false,
  forceQuery: false,
  rawQuery: "",
  fragment: "",
  rawFragment: ""
})

const userString = (u: UserInfo): string => {
  let s = escapeURL(u.username, "userPassword")
  if (u.passwordSet) s += `:${escapeURL(u.password, "userPassword")}`
  return s
}

const getScheme = (raw: string): [string, string] => {
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!
    if (/[a-zA-Z]/.test(c)) continue
    if (/[0-9+\-.]/.test(c)) {
      if (i === 0) return ["", raw]
      continue
    }
    if (c === ":") {
      if (i === 0) throw new GoError("missing protocol scheme")
      return [raw.slice(0, i), raw.slice(i + 1)]
    }
    return ["", raw]
  }
  return ["", raw]
}

const validOptionalPort = (port: string): boolean => port === "" || /^:[0-9]*$/.test(port)

const parseHost = (host: string): string => {
  const open = host.lastIndexOf("[")
  if (open > 0) throw new GoError("invalid IP-literal")
  if (open === 0) {
    const close = host.lastIndexOf("]")
    if (close < 0) throw new GoError("missing ']' in host")
    const colonPort = host.slice(close + 1)
    if (!validOptionalPort(colonPort))
      throw new GoError(`invalid port ${JSON.stringify(colonPort)} after host`)
    return `[${unescapeURL(host.slice(1, close), "host")}]${unescapeURL(colonPort, "host")}`
  }
  const i = host.lastIndexOf(":")
  if (i !== -1) {
    const colonPort = host.slice(i)
    if (!validOptionalPort(colonPort))
      throw new GoError(`invalid port ${JSON.stringify(colonPort)} after host`)
  }
  return unescapeURL(host, "host")
}

const setPath = (u: GoURL, p: string): void => {
  const path = unescapeURL(p, "path")
  u.path = path
  u.rawPath = escapeURL(path, "path") === p ? "" : p
}

/** Go's `url.Parse`; throws a GoError with Go's message. */
export const parseURL = (rawURL: string): GoURL => {
  const hash = rawURL.indexOf("#")
  const raw = hash < 0 ? rawURL : rawURL.slice(0, hash)
  const frag = hash < 0 ? "" : rawURL.slice(hash + 1)
  const fail = (input: string, e: unknown): never => {
    throw new GoError(`parse ${JSON.stringify(input)}: ${(e as Error).message}`)
  }
  const u = emptyURL()
  try {
    if ([...raw].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
      throw new GoError("net/url: invalid control character in URL")
    if (raw === "*") {
      u.path = "*"
    } else {
      let rest: string
      ;[u.scheme, rest] = getScheme(raw)
      u.scheme = u.scheme.toLowerCase()
      if (rest.endsWith("?") && rest.split("?").length === 2) {
        u.forceQuery = true
        rest = rest.slice(0, -1)
      } else {
        const q = rest.indexOf("?")
        if (q >= 0) {
          u.rawQuery = rest.slice(q + 1)
          rest = rest.slice(0, q)
        }
      }
      if (!rest.startsWith("/")) {
        if (u.scheme !== "") {
          u.opaque = rest
          rest = ""
        } else if (rest.split("/")[0]!.includes(":")) {
          throw new GoError("first path segment in URL cannot contain colon")
        }
      }
      if (u.opaque === "") {
        if ((u.scheme !== "" || !rest.startsWith("///")) && rest.startsWith("//")) {
          let authority = rest.slice(2)
          rest = ""
          const slash = authority.indexOf("/")
          if (slash >= 0) {
            rest = authority.slice(slash)
            authority = authority.slice(0, slash)
          }
          const at = authority.lastIndexOf("@")
          u.host = parseHost(at < 0 ? authority : authority.slice(at + 1))
          if (at >= 0) {
            const userinfo = authority.slice(0, at)
            if (!/^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(userinfo))
              throw new GoError("net/url: invalid userinfo")
            const colon = userinfo.indexOf(":")
            u.user =
              colon < 0
                ? { username: unescapeURL(userinfo, "userPassword"), password: "", passwordSet: false }
                : {
                    username: unescapeURL(userinfo.slice(0, colon), "userPassword"),
                    password: unescapeURL(userinfo.slice(colon + 1), "userPassword"),
                    passwordSet: true
                  }
          }
        } else if (u.scheme !== "" && rest.startsWith("/")) {
          u.omitHost = true
        }
        setPath(u, rest)
      }
    }
  } catch (e) {
    fail(raw, e)
  }
  if (frag !== "") {
    try {
      u.fragment = unescapeURL(frag, "fragment")
      u.rawFragment = escapeURL(u.fragment, "fragment") === frag ? "" : frag
    } catch (e) {
      fail(rawURL, e)
    }
  }
  return u
}

const validEncoded = (s: string, mode: Mode): boolean => {
  for (const b of utf8(s)) {
    const c = String.fromCharCode(b)
    if ("!$&'()*+,;=:@[]%".includes(c)) continue
    if (shouldEscape(b, mode)) return false
  }
  return true
}

const escapedPath = (u: GoURL): string => {
  if (u.rawPath !== "" && validEncoded(u.rawPath, "path")) {
    try {
      if (unescapeURL(u.rawPath, "path") === u.path) return u.rawPath
    } catch {
      // fall through
    }
  }
  if (u.path === "*") return "*"
  return escapeURL(u.path, "path")
}

const escapedFragment = (u: GoURL): string => {
  if (u.rawFragment !== "" && validEncoded(u.rawFragment, "fragment")) {
    try {
      if (unescapeURL(u.rawFragment, "fragment") === u.fragment) return u.rawFragment
    } catch {
      // fall through
    }
  }
  return escapeURL(u.fragment, "fragment")
}

/** Go's `URL.String`. */
export const urlString = (u: GoURL): string => {
  let buf = ""
  if (u.scheme !== "") buf += `${u.scheme}:`
  if (u.opaque !== "") buf += u.opaque
  else {
    if (u.scheme !== "" || u.host !== "" || u.user !== undefined) {
      if (!(u.omitHost && u.host === "" && u.user === undefined)) {
        if (u.host !== "" || u.path !== "" || u.user !== undefined) buf += "//"
        if (u.user !== undefined) buf += `${userString(u.user)}@`
        if (u.host !== "") buf += escapeURL(u.host, "host")
      }
    }
    const path = escapedPath(u)
    if (path !== "" && path[0] !== "/" && u.host !== "") buf += "/"
    if (buf === "" && path.split("/")[0]!.includes(":")) buf += "./"
    buf += path
  }
  if (u.forceQuery || u.rawQuery !== "") buf += `?${u.rawQuery}`
  if (u.fragment !== "") buf += `#${escapedFragment(u)}`
  return buf
}

/** Go's `URL.Hostname`. */
export const hostname = (u: GoURL): string => {
  let host = u.host
  const colon = host.lastIndexOf(":")
  if (colon !== -1 && validOptionalPort(host.slice(colon))) host = host.slice(0, colon)
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1)
  return host
}

/** The userinfo of a URL as `User.String()` gives it. */
export const userinfo = (u: GoURL): string => (u.user === undefined ? "" : userString(u.user))

/** A URL from its parts (for `urlJoin`). */
export const buildURL = (parts: {
  scheme: string
  host: string
  path: string
  rawQuery: string
  opaque: string
  fragment: string
  userinfo: string
}): string => {
  const u = emptyURL()
  u.scheme = parts.scheme
  u.host = parts.host
  u.path = parts.path
  u.rawQuery = parts.rawQuery
  u.opaque = parts.opaque
  u.fragment = parts.fragment
  if (parts.userinfo !== "") u.user = parseURL(`proto://${parts.userinfo}@host`).user
  return urlString(u)
}
