// swift-tools-version:6.0
// The floor under issue 9's idle-memory targets: the smallest programs built on the libraries the
// daemons use, measured the same way as the daemons (scripts/rss-floor.sh). Not part of the
// product; it has its own scratch path.
import PackageDescription

let package = Package(
    name: "rss-floor",
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // The Swift runtime and standard library alone.
        .executableTarget(name: "floor-hello"),
        // + Foundation (JSONEncoder, Date, ProcessInfo), which every daemon module imports.
        .executableTarget(name: "floor-foundation"),
        // + SwiftNIO: an event loop with one open TCP connection.
        .executableTarget(
            name: "floor-nio",
            dependencies: [.product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOCore", package: "swift-nio")]
        ),
        // The orchestrator's floor: a Hummingbird server with one route and a WebSocket endpoint.
        .executableTarget(
            name: "floor-server",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            ]
        ),
        // The agent's floor: one AsyncHTTPClient request, then a WebSocket held open to floor-server.
        .executableTarget(
            name: "floor-client",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            ]
        ),
    ]
)
