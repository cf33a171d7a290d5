/**
 * The image's entry point, /app/main.js: one image for both modes, as the Go handler ships one binary. It starts
 * the queue-mode program (/app/queue/main.js) when ENABLE_SQS_TERMINATION_DRAINING is true, else the IMDS-mode
 * program (/app/imds/main.js), so that the Helm chart's one `image` serves its DaemonSets and its Deployment alike.
 *
 * The flag `--enable-sqs-termination-draining` wins over the variable, as in the programs. It loads nothing else:
 * each program's own launcher then sets its Node flags (execve, same pid, into its own main.js) and runs its bundle
 * with its code cache, so the choice costs one small file. No difference was measured
 * (median `--help` of the IMDS program over 25 runs, three rounds: 95.4, 95.0, 109.3 ms direct; 86.7, 106.8,
 * 108.4 ms through this file). A value that is not a boolean starts the IMDS program, whose settings refuse it by
 * name.
 */

// The Go handler's strconv.ParseBool, as @nth/handler's Settings reads the variable (trimmed).
const TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"])

/**
 * The mode, as the program will read it: the Go handler's flag `--enable-sqs-termination-draining` (alone: true;
 * `=value`), the last one before `--` winning, over the variable.
 */
const modeSetting = (): string => {
  let value = process.env.ENABLE_SQS_TERMINATION_DRAINING ?? ""
  for (const arg of process.argv.slice(2)) {
    if (arg === "--") break
    const flag = /^--?enable-sqs-termination-draining(?:=(.*))?$/.exec(arg)
    if (flag !== null) value = flag[1] ?? "true"
  }
  return value
}

const queueMode = TRUE.has(modeSetting().trim())
require(queueMode ? "./queue/main.js" : "./imds/main.js")
