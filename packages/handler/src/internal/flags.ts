/**
 * The Go handler's command-line flags (`--node-name=ip-10-0-0-1`, `-dry-run`, `--queue-url URL`), read as Go's `flag`
 * package reads them and folded into the environment they take precedence over: each flag stands for a variable,
 * named as the Go handler names it (kebab case of the variable, except `metadata-url` and `pod-namespace`).
 *
 * Go's rules: `-name` and `--name` alike; `-name=value`; a boolean flag alone means true and never takes the next
 * argument; any other flag without `=` takes the next argument; parsing stops at `--` or at the first argument that
 * is not a flag. Unlike the Go handler, which ignores what follows, nth refuses a leftover argument, and an unknown
 * flag, naming it: a setting given on the command line is never silently dropped.
 */

/** What a flag stands for: a variable, and whether it is a boolean (which takes no separate value). */
export interface FlagTarget {
  readonly env: string
  readonly boolean: boolean
}

/** The Go handler's flags for settings nth reads from other places (the kubelet injects these variables). */
const insteadOf: Readonly<Record<string, string>> = {
  "kubernetes-service-host": "KUBERNETES_SERVICE_HOST",
  "kubernetes-service-port": "KUBERNETES_SERVICE_PORT"
}

/** The flag name the Go handler gives a variable. */
export const flagName = (env: string, explicit: string | undefined): string =>
  explicit ?? env.toLowerCase().replaceAll("_", "-")

/**
 * The environment with each given flag's value over its variable's, and a problem per argument refused. `-h` and
 * `--help` are the caller's (they print the help before settings are read) and are passed over here.
 */
export const applyFlags = (
  env: Readonly<Record<string, string | undefined>>,
  argv: ReadonlyArray<string>,
  flags: ReadonlyMap<string, FlagTarget>
): { readonly env: Record<string, string | undefined>; readonly problems: ReadonlyArray<string> } => {
  const out: Record<string, string | undefined> = { ...env }
  const problems: Array<string> = []
  let i = 0
  for (; i < argv.length; i++) {
    const arg = argv[i] ?? ""
    if (arg === "--") {
      i++
      break
    }
    if (!arg.startsWith("-") || arg === "-") break
    const body = arg.replace(/^--?/, "")
    const equals = body.indexOf("=")
    const name = equals === -1 ? body : body.slice(0, equals)
    if (name === "h" || name === "help") continue
    const target = flags.get(name)
    if (target === undefined) {
      const variable = insteadOf[name]
      problems.push(
        variable === undefined
          ? `flag provided but not defined: ${arg.slice(0, arg.length - body.length)}${name}`
          : `--${name}: set ${variable} in the environment instead (in a pod the kubelet sets it)`
      )
      continue
    }
    const value =
      equals !== -1
        ? body.slice(equals + 1)
        : target.boolean
          ? "true"
          : i + 1 < argv.length
            ? argv[++i]
            : undefined
    if (value === undefined) problems.push(`flag needs an argument: --${name}`)
    // An empty variable means "unset" (the Go handler's rule for variables); an empty flag would then quietly
    // give the default, so it is refused (Go refuses it too for a number or a boolean).
    else if (value.trim() === "")
      problems.push(`--${name}: the value is empty; give one, or leave the flag out`)
    else out[target.env] = value
  }
  if (i < argv.length) {
    const rest = argv.slice(i)
    // `--dry-run false`: a boolean flag takes no separate value in Go either (there the `false` is silently ignored).
    const hint = /^(true|false)$/i.test(rest[0] ?? "")
      ? `; a boolean flag takes its value as --name=${rest[0]}`
      : ""
    problems.push(
      `unexpected argument${rest.length === 1 ? "" : "s"}: ${rest.join(" ")} ` +
        `(settings are flags or environment variables${hint})`
    )
  }
  return { env: out, problems }
}
