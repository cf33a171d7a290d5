// Taint a node for a Spot interruption, then undo it: once with Promises, once with Effect.
// Run: KUBECONFIG=… NODE_NAME=… node examples/quickstart.ts
import { KubeConfig } from "@kubernetes/client-node"
import { KubeClient } from "@nth/kube"
import { NodePlan, TaintManager } from "@nth/taint-manager"
import { Effect, Layer } from "effect"

const kubeConfig = new KubeConfig()
kubeConfig.loadFromDefault()
const nodeName = process.env.NODE_NAME ?? "my-node"
const event = { id: "spot-itn-example", kind: "SpotInterruptionNotice" } as const
const taint = NodePlan.taintFor(event.kind, event.id, "NoSchedule")!

// Promise API
const nth = TaintManager.createTaintManager({ kubeConfig })
console.log((await nth.addTaint({ nodeName, taint, event })).result) // { _tag: "Added", … }
console.log((await nth.clear({ nodeName })).result.removedTaints) // [ { key: "aws-node-termination-handler/spot-itn", … } ]
await nth.close()

// Effect API
const program = Effect.gen(function* () {
  const manager = yield* TaintManager.TaintManager
  yield* manager.addTaint({ nodeName, taint, event })
  yield* manager.cordon({ nodeName, event })
  return (yield* manager.clear({ nodeName })).result.cordon // "Uncordoned": the cordon was nth's
})
const layer = TaintManager.layer().pipe(Layer.provide(KubeClient.layer({ kubeConfig })))
console.log(await Effect.runPromise(Effect.provide(program, layer)))
