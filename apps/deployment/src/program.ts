/**
 * The entry of the bundle (dist/nth.js) that the launcher (src/launcher.ts, dist/main.js) loads.
 *
 * Loading it initialises every module the Deployment uses, and nothing more: the program itself (src/main.ts,
 * which starts when it is evaluated) runs only when the launcher calls {@link start}. The build uses that split
 * to run the initialisation once, starting nothing, and save V8's code cache of everything it compiled
 * (dist/nth.code-cache); a real start then deserialises that code instead of parsing the bundle.
 */
import { AutoScalingClient } from "@aws-sdk/client-auto-scaling"
import { Drainer } from "@nth/drainer"
import { Handler, Metrics, Settings, Step } from "@nth/handler"
import { KubeClient } from "@nth/kube"
import { InstanceInfo, Intake, Lifecycle, NodeIndex, QueueMessage } from "@nth/queue-monitor"
import { Program, Runner } from "@nth/runtime"
import { TaintManager } from "@nth/taint-manager"
import type { BundleEntry } from "@nth/tsup-preset/launcher"

/**
 * What src/main.ts (and src/Messages.ts) import, referenced so that it is evaluated here, when the bundle is
 * loaded. (The EC2 and SQS clients are loaded when the services are built.)
 */
export const modules = [
  AutoScalingClient,
  Drainer,
  Handler,
  Metrics,
  Settings,
  Step,
  KubeClient,
  InstanceInfo,
  Intake,
  Lifecycle,
  NodeIndex,
  QueueMessage,
  Program,
  Runner,
  TaintManager
]

/** Runs the program: evaluates src/main.ts (its exit codes and signal handling are its own). */
export const start: BundleEntry["start"] = () => import("./main.ts")
