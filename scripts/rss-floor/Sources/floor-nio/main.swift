import Glibc
import NIOCore
import NIOPosix

// One event loop, a listening socket and one connection to it, then idle.
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let server = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
let connection = try await ClientBootstrap(group: group).connect(to: server.localAddress!).get()
if connection.isActive { _ = write(1, "ready\n", 6) }
while true { try await Task.sleep(for: .seconds(3600)) }
