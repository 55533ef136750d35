import Foundation
import NIOCore
import NIOHTTP1
import History
import NIOPosix
import Sinks

/// What one server answers: /metrics when `metrics` is set; the page, the JSON API and the live
/// streams only with cameras (`outputs.metrics.listen` alone serves /metrics and nothing else).
public struct WebRoutes: @unchecked Sendable {
    public var metrics: (() -> [UInt8])?
    /// Every camera's hub, by name (nil: a /metrics-only server).
    public var cameras: WebCameras?
    /// Required on every request when set (bearer, or basic auth with it as the password).
    public var token: String?
    /// GET /api/events (nil: `history.path` is not set).
    public var history: EventHistory?
    public init(metrics: (() -> [UInt8])?, cameras: WebCameras? = nil, token: String? = nil, history: EventHistory? = nil) {
        self.metrics = metrics; self.cameras = cameras; self.token = token; self.history = history
    }
}

/// The daemon's one HTTP server: SwiftNIO's HTTP/1.1 pipeline on one event-loop thread.
///
/// Every connection is served concurrently (no idle or slow client holds up another); a client
/// that has not sent its request within `requestTimeout` is dropped; at most `maxConnections`
/// at once. Plain answers close their connection (a scraper reading to EOF never waits on a
/// keep-alive); streams (MJPEG, SSE) stay open until the client leaves or `stop()`.
public final class WebServer: @unchecked Sendable {
    public let address: String
    public static let maxConnections = 256
    public static let requestTimeout: TimeAmount = .seconds(2)
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: Channel
    private let children = ChildChannels(limit: WebServer.maxConnections)
    private var stopped = false

    /// `listen` is "IPv4:PORT" (the start checks resolve host names); `what` names the endpoint in errors.
    public init(listen: String, routes: WebRoutes, what: String = "HTTP endpoint") throws {
        address = listen
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw SinkError.cannotCreate(path: listen, reason: "expected HOST:PORT")
        }
        let children = self.children
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { ch in
                guard children.add(ch) else { return ch.close() }
                return ch.eventLoop.makeCompletedFuture {
                    let ops = ch.pipeline.syncOperations
                    try ops.configureHTTPServerPipeline(withErrorHandling: true)
                    try ops.addHandlers([IdleStateHandler(readTimeout: Self.requestTimeout), HTTPHandler(routes)])
                }
            }
        do {
            channel = try bootstrap.bind(host: String(listen[..<colon]), port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw SinkError.cannotCreate(path: "\(what) \(listen)", reason: Self.reason(error))
        }
    }

    /// Closes the port, then every open connection (streams included); returns once all are closed.
    public func stop() {
        if stopped { return }
        stopped = true
        try? channel.close().wait()
        children.closeAll()
        try? group.syncShutdownGracefully()
    }

    deinit { stop() }

    /// "Address already in use", as strerror says it (what the metrics endpoint always reported).
    static func reason(_ error: Error) -> String {
        if let e = error as? IOError { return String(cString: strerror(e.errnoCode)) }
        return "\(error)"
    }
}

/// The open connections, for the connection limit and for closing streams at stop.
final class ChildChannels: @unchecked Sendable {
    private let lock = NSLock()
    private var open: [ObjectIdentifier: Channel] = [:]
    let limit: Int
    init(limit: Int) { self.limit = limit }

    func add(_ ch: Channel) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard open.count < limit else { return false }
        let id = ObjectIdentifier(ch)
        open[id] = ch
        ch.closeFuture.whenComplete { [self] _ in lock.lock(); open[id] = nil; lock.unlock() }
        return true
    }

    func closeAll() {
        lock.lock(); let all = Array(open.values); lock.unlock()
        for ch in all { try? ch.close().wait() }
    }
}
