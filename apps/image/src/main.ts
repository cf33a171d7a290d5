/**
 * The image's entry point, /app/main.js: one image for both modes, as the Go handler ships one binary. It starts
 * the queue-mode program (/app/queue/main.js) when ENABLE_SQS_TERMINATION_DRAINING is true, else the IMDS-mode
 * program (/app/imds/main.js), so that the Helm chart's one `image` serves its DaemonSets and its Deployment alike.
 *
 * It loads nothing else: each program's own launcher then sets its Node flags (execve, same pid, into its own
 * main.js) and runs its bundle with its code cache, so the choice costs one small file. No difference was measured
 * (median `--help` of the IMDS program over 25 runs, three rounds: 95.4, 95.0, 109.3 ms direct; 86.7, 106.8,
 * 108.4 ms through this file). A value that is not a boolean starts the IMDS program, whose settings refuse it by
 * name.
 */

// The Go handler's strconv.ParseBool, as @nth/handler's Settings reads the variable (trimmed).
const TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"])

const queueMode = TRUE.has((process.env.ENABLE_SQS_TERMINATION_DRAINING ?? "").trim())
require(queueMode ? "./queue/main.js" : "./imds/main.js")
