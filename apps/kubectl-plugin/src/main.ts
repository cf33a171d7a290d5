/**
 * `kubectl nth-drain`: kubectl drain's command on @nth/drainer. As kubectl: the nodes read (one missing fails the
 * command), all of them cordoned, then each drained in turn, with kubectl's lines on stdout (`node/x cordoned`,
 * `evicting pod ns/p`, `pod/p evicted`, `node/x drained`) and stderr (warnings, refusals); exit 1 when any node
 * was not drained. `-o table|json` adds the per-pod report.
 */
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node"
import { Drainer, type DrainReport as Report } from "@nth/drainer"
import * as Flags from "./flags.ts"
import * as Output from "./output.ts"

const minimumNode = [22, 19] as const

const nodeVersionOk = () => {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number)
  return major > minimumNode[0] || (major === minimumNode[0] && minor >= minimumNode[1])
}

const errorText = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error)

const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  if (!nodeVersionOk()) {
    process.stderr.write(
      `error: kubectl nth-drain needs Node.js ${minimumNode.join(".")} or later; this is ${process.versions.node}\n`
    )
    return 1
  }
  let flags: Flags.Flags
  try {
    flags = Flags.parse(argv)
  } catch (error) {
    if (!(error instanceof Flags.UsageError)) throw error
    process.stderr.write(
      `error: ${error.message}\n${
        error.hint === "help"
          ? "See 'kubectl nth-drain --help' for usage."
          : "See 'kubectl nth-drain -h' for help and examples"
      }\n`
    )
    return 1
  }
  if (flags.help) {
    process.stdout.write(Flags.help)
    return 0
  }
  for (const warning of flags.warnings) process.stderr.write(`Warning: ${warning}\n`)

  const kubeConfig = new KubeConfig()
  try {
    if (flags.kubeconfig !== undefined) kubeConfig.loadFromFile(flags.kubeconfig)
    else kubeConfig.loadFromDefault()
    if (flags.context !== undefined) {
      if (kubeConfig.getContextObject(flags.context) === null)
        throw new Error(`context was not found for specified context: ${flags.context}`)
      kubeConfig.setCurrentContext(flags.context)
    }
  } catch (error) {
    process.stderr.write(`error: ${errorText(error)}\n`)
    return 1
  }

  const core = kubeConfig.makeApiClient(CoreV1Api)
  // The nodes first, as kubectl's resource builder reads them: one that does not exist fails the command.
  let nodes: Array<{ readonly name: string; readonly unschedulable: boolean }>
  try {
    nodes =
      flags.selector !== undefined
        ? (await core.listNode({ labelSelector: flags.selector })).items.map((node) => ({
            name: node.metadata?.name ?? "",
            unschedulable: node.spec?.unschedulable === true
          }))
        : await Promise.all(
            flags.nodes.map(async (name) => {
              try {
                return { name, unschedulable: (await core.readNode({ name })).spec?.unschedulable === true }
              } catch (error) {
                throw Object.assign(new Error(Output.apiError(error, "nodes", name)), { printed: true })
              }
            })
          )
  } catch (error) {
    process.stderr.write(
      `${(error as { printed?: boolean }).printed ? errorText(error) : Output.apiError(error, "nodes")}\n`
    )
    return 1
  }

  const out = Output.writer(flags)
  const drainer = Drainer.createDrainer({ kubeConfig })
  const stop = new AbortController()
  const onSignal = () => stop.abort()
  process.once("SIGINT", onSignal)
  process.once("SIGTERM", onSignal)
  const pending: Array<{ readonly node: string; readonly errors: ReadonlyArray<string> }> = []
  const reports: Array<Report.DrainReport> = []
  try {
    // Every node cordoned before any is drained, as kubectl: pods evicted from one do not land on the next. A
    // cordon that fails ends the command. A client dry run sends nothing; a server dry run sends it with dryRun=All.
    for (const node of nodes) {
      try {
        const changed =
          flags.dryRun === "client"
            ? !node.unschedulable
            : (await drainer.cordon(node.name, { dryRun: flags.dryRun === "server", signal: stop.signal }))
                .changed
        out.line(`node/${node.name} ${changed ? "cordoned" : "already cordoned"}${out.dry}`)
      } catch (error) {
        out.error(Output.apiError(error, "nodes", node.name))
        return 1
      }
    }
    for (const { name: node } of nodes) {
      if (stop.signal.aborted) break
      try {
        const report = await drainer.drain(node, {
          cordon: false,
          force: flags.force,
          ignoreDaemonSets: flags.ignoreDaemonSets,
          deleteEmptyDirData: flags.deleteEmptyDirData,
          disableEviction: flags.disableEviction,
          gracePeriodSeconds: flags.gracePeriodSeconds,
          timeoutSeconds: flags.timeoutSeconds,
          skipWaitForDeleteTimeoutSeconds: flags.skipWaitForDeleteTimeoutSeconds,
          chunkSize: flags.chunkSize,
          dryRun: flags.dryRun,
          ...(flags.podSelector !== undefined ? { podSelector: flags.podSelector } : {}),
          ...(flags.deadline !== undefined ? { deadline: flags.deadline } : {}),
          signal: stop.signal,
          onProgress: out.progress
        })
        out.finished(report)
        reports.push(report)
        out.line(`node/${node} drained${out.dry}`)
      } catch (error) {
        if (stop.signal.aborted) break
        const failure = Output.failure(node, error)
        if (failure.report !== undefined) reports.push(failure.report)
        out.error(
          `error: unable to drain node "${node}" due to error: ${failure.summary}, continuing command...`
        )
        pending.push({ node, errors: failure.lines })
      }
    }
  } finally {
    process.off("SIGINT", onSignal)
    process.off("SIGTERM", onSignal)
    await drainer.close()
  }
  // Interrupted (Ctrl-C): 130, as a shell reports a command stopped by SIGINT.
  if (stop.signal.aborted) return 130
  out.report(reports)
  if (pending.length > 0) {
    const withErrors = pending.filter((p) => p.errors.length > 0)
    if (withErrors.length > 0) {
      out.error("There are pending nodes to be drained:")
      for (const p of withErrors) out.error(` ${p.node}`)
      for (const p of withErrors) for (const line of p.errors) out.error(line)
    }
    return 1
  }
  return 0
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    process.stderr.write(`error: ${errorText(error)}\n`)
    process.exitCode = 1
  }
)
