/**
 * A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
 * and KWOK as the kubelet of fake nodes.
 *
 * The API server starts as controller-runtime's envtest starts it (RBAC, service-account signing keys), with a
 * token for an admin in `system:masters` and its self-signed serving certificate as the kubeconfig's CA. Two
 * admission plugins are off: ServiceAccount (no token controller runs) and TaintNodesByCondition (it taints new
 * nodes not-ready, and only the node-lifecycle controller, left out on purpose, would lift the taint).
 *
 * The controller manager runs only the controllers whose behaviour nth must meet for real: disruption (budget
 * status), garbage collector, ReplicaSet, Deployment, DaemonSet and namespace, plus pod GC (it removes pods
 * left on deleted nodes). Never node-lifecycle or taint-eviction, which would evict pods from kubelet-less
 * nodes behind the tests' back.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { request } from "node:https"
import { join } from "node:path"
import type { Assets } from "./assets.ts"
import { freePort, type ManagedProcess, startProcess, waitUntilReady } from "./processes.ts"

export interface ControlPlane {
  readonly server: string
  readonly kubeconfig: string
  readonly token: string
  readonly processes: ReadonlyArray<ManagedProcess>
  readonly stop: () => Promise<void>
}

const httpGet = (url: string, options: { ca?: Buffer; token?: string } = {}) =>
  new Promise<{ status: number; body: string }>((resolvePromise, reject) => {
    const req = request(
      url,
      {
        ...(options.ca ? { ca: options.ca } : { rejectUnauthorized: false }),
        headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
        timeout: 2000
      },
      (res) => {
        let body = ""
        res.on("data", (chunk: Buffer) => {
          body += chunk.toString()
        })
        res.on("end", () => resolvePromise({ status: res.statusCode ?? 0, body }))
      }
    )
    req.on("timeout", () => req.destroy(new Error("timeout")))
    req.on("error", reject)
    req.end()
  })

const kubeconfigYaml = (server: string, ca: Buffer, token: string) => `apiVersion: v1
kind: Config
clusters:
  - name: nth-testbed
    cluster:
      server: ${server}
      certificate-authority-data: ${ca.toString("base64")}
users:
  - name: nth-admin
    user:
      token: ${token}
contexts:
  - name: nth-testbed
    context:
      cluster: nth-testbed
      user: nth-admin
current-context: nth-testbed
`

export const startControlPlane = async (
  assets: Assets,
  dir: string,
  onProgress: (line: string) => void = () => {}
): Promise<ControlPlane> => {
  const logDir = join(dir, "logs")
  const pki = join(dir, "pki")
  const etcdData = join(dir, "etcd")
  rmSync(etcdData, { recursive: true, force: true })
  rmSync(pki, { recursive: true, force: true })
  for (const folder of [logDir, pki, etcdData]) mkdirSync(folder, { recursive: true })

  const started: Array<ManagedProcess> = []
  const stop = async () => {
    // Reverse order: clients of the API server first, etcd last.
    for (const process_ of [...started].reverse()) await process_.stop()
  }

  try {
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()]
    const etcdUrl = `http://127.0.0.1:${etcdClient}`
    onProgress(`etcd on ${etcdUrl}`)
    const etcd = startProcess(
      "etcd",
      assets.etcd,
      [
        `--data-dir=${etcdData}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
        "--unsafe-no-fsync=true",
        "--log-level=warn"
      ],
      { logDir }
    )
    started.push(etcd)
    await waitUntilReady(etcd, async () => (await fetch(`${etcdUrl}/health`)).ok)

    const token = randomBytes(24).toString("hex")
    writeFileSync(join(pki, "tokens.csv"), `${token},nth-admin,nth-admin,"system:masters"\n`, { mode: 0o600 })
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
    writeFileSync(join(pki, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }))
    writeFileSync(join(pki, "sa.key"), privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 })

    const server = `https://127.0.0.1:${apiPort}`
    onProgress(`kube-apiserver on ${server}`)
    const apiserver = startProcess(
      "kube-apiserver",
      assets.kubeApiserver,
      [
        `--etcd-servers=${etcdUrl}`,
        `--cert-dir=${pki}`,
        `--secure-port=${apiPort}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--authorization-mode=RBAC",
        `--token-auth-file=${join(pki, "tokens.csv")}`,
        `--service-account-issuer=${server}/`,
        `--service-account-key-file=${join(pki, "sa.pub")}`,
        `--service-account-signing-key-file=${join(pki, "sa.key")}`,
        "--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
        "--allow-privileged=true",
        "--endpoint-reconciler-type=none",
        "--profiling=false"
      ],
      { logDir }
    )
    started.push(apiserver)
    const caFile = join(pki, "apiserver.crt")
    await waitUntilReady(
      apiserver,
      async () => existsSync(caFile) && (await httpGet(`${server}/readyz`, { token })).status === 200,
      120_000
    )
    const ca = readFileSync(caFile)
    const kubeconfig = join(dir, "kubeconfig")
    writeFileSync(kubeconfig, kubeconfigYaml(server, ca, token), { mode: 0o600 })

    onProgress("kube-controller-manager, kube-scheduler and kwok")
    const controllerManager = startProcess(
      "kube-controller-manager",
      assets.kubeControllerManager,
      [
        `--kubeconfig=${kubeconfig}`,
        "--leader-elect=false",
        "--secure-port=0",
        "--controllers=disruption-controller,garbage-collector-controller,replicaset-controller,deployment-controller,daemonset-controller,namespace-controller,pod-garbage-collector-controller",
        "--concurrent-gc-syncs=5"
      ],
      { logDir }
    )
    started.push(controllerManager)
    const scheduler = startProcess(
      "kube-scheduler",
      assets.kubeScheduler,
      [`--kubeconfig=${kubeconfig}`, "--leader-elect=false", "--secure-port=0"],
      { logDir }
    )
    started.push(scheduler)
    const kwok = startProcess(
      "kwok",
      assets.kwok,
      [
        `--kubeconfig=${kubeconfig}`,
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        `--config=${assets.kwokStages}`,
        "--node-lease-duration-seconds=40",
        "--cidr=10.244.0.0/16"
      ],
      { logDir }
    )
    started.push(kwok)
    // These three have no health endpoint worth polling (their serving is off); a crash at start shows within
    // a second, and the proof tests check that each does its job.
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 1000))
    for (const process_ of [controllerManager, scheduler, kwok]) {
      if (!process_.alive()) throw new Error(`${process_.name} exited at start; see ${process_.logFile}`)
    }
    return { server, kubeconfig, token, processes: started, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
