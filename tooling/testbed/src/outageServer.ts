/**
 * A server on 127.0.0.1 that can be taken down for a while (connections refused, those open destroyed) and comes
 * back on the same port: the fault proxies' outages (`ApiFaults`, `AwsFaults`).
 */
import type * as http from "node:http"
import type { AddressInfo, Socket } from "node:net"

export interface OutageServer {
  readonly port: number
  /** Down for `ms` (calling `onDown` once it is), then listening again; resolves when it listens again. */
  readonly outage: (ms: number, onDown?: () => void) => Promise<void>
  readonly close: () => Promise<void>
}

/** Listens with a server `create` makes (again after each outage) on a port of its own. */
export const start = async (create: () => http.Server): Promise<OutageServer> => {
  const sockets = new Set<Socket>()
  const listen = (port: number) =>
    new Promise<http.Server>((resolve, reject) => {
      const server = create()
      server.on("connection", (socket: Socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
      })
      server.once("error", reject)
      server.listen(port, "127.0.0.1", () => resolve(server))
    })
  const closeServer = (server: http.Server) =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    })
  let server = await listen(0)
  const { port } = server.address() as AddressInfo
  return {
    port,
    outage: async (ms, onDown) => {
      await closeServer(server)
      onDown?.()
      await new Promise((resolve) => setTimeout(resolve, ms))
      server = await listen(port)
    },
    close: () => closeServer(server)
  }
}
