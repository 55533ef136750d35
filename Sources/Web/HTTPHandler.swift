import Foundation
import History
import NIOCore
import NIOHTTP1
import Sinks

/// One connection: reads one request, then answers it in full (and closes) or streams.
final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let routes: WebRoutes
    private var head: HTTPRequestHead?
    /// Set once the request is answered: the idle timeout no longer applies, later requests are ignored.
    private var answered = false
    /// Ends this connection's stream subscription (a live view's, or the event stream's).
    private var unsubscribe: (() -> Void)?
    private var keepalive: RepeatedTask?
    private var queryString = ""

    init(_ routes: WebRoutes) { self.routes = routes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(h): head = h
        case .body: break
        case .end:
            guard let h = head, !answered else { return }
            answered = true
            respond(context, h)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A client that never finished its request; a stream's reads are idle on purpose.
        if event is IdleStateHandler.IdleStateEvent { if !answered { context.close(promise: nil) }; return }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        unsubscribe?()
        keepalive?.cancel()
        context.fireChannelInactive()
    }

    // MARK: routing

    private func respond(_ context: ChannelHandlerContext, _ h: HTTPRequestHead) {
        guard h.method == .GET else { return send(context, .methodNotAllowed, "text/plain", Array("GET only\n".utf8)) }
        guard Self.authorized(h.headers, token: routes.token) else {
            return send(context, .unauthorized, "application/json", Self.error("authorization required"),
                        extra: [("WWW-Authenticate", "Basic realm=\"emotiond\", charset=\"UTF-8\""), ("WWW-Authenticate", "Bearer")])
        }
        let uri = h.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let path = uri.first ?? ""
        queryString = uri.count > 1 ? uri[1] : ""
        if path == "/metrics", let m = routes.metrics {
            return send(context, .ok, "text/plain; version=0.0.4; charset=utf-8", m())
        }
        guard let cameras = routes.cameras else { return send(context, .notFound, "text/plain", Array("see /metrics\n".utf8)) }
        route(context, path, cameras)
    }

    private func route(_ context: ChannelHandlerContext, _ path: String, _ cameras: WebCameras) {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch path {
        case "/", "/index.html": page(context, cameras.all)
        case "/api/openapi.json": send(context, .ok, "application/json", Array(OpenAPIDocument.json.utf8))
        case "/api/cameras": json(context, CamerasReply(cameras.all))
        case "/api/state": json(context, StateReply(cameras.all))
        case "/api/events/live": events(context, cameras)
        case "/api/events": history(context)
        case "/api/report": report(context)
        default:
            // /api/cameras/{name}/stream.mjpeg and /api/cameras/{name}/snapshot.jpg
            guard parts.count == 5, parts[1] == "api", parts[2] == "cameras",
                  ["stream.mjpeg", "snapshot.jpg"].contains(parts[4]) else {
                return send(context, .notFound, "application/json", Self.error("no such endpoint: see /api/openapi.json"))
            }
            guard let hub = parts[3].removingPercentEncoding.flatMap(cameras.hub) else {
                return send(context, .notFound, "application/json",
                            Self.error("no camera named '\(parts[3])' (cameras: \(cameras.names.joined(separator: ", ")))"))
            }
            parts[4] == "snapshot.jpg" ? snapshot(context, hub) : stream(context, hub)
        }
    }

    // MARK: answers

    /// The page with the cameras, their state and (with the history on) their last hour's timeline
    /// inside. JSONEncoder's default escapes '/', so no "</script>" can close the block early. The
    /// timeline is read off the event loop (SQLite blocks), like every history query.
    private func page(_ context: ChannelHandlerContext, _ hubs: [WebHub]) {
        struct Initial: Encodable { var cameras: CamerasReply; var state: StateReply; var timeline: [String: EventReport]? }
        let cameras = CamerasReply(hubs), state = StateReply(hubs)
        let history = routes.history, names = cameras.cameras.map(\.name)
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        DispatchQueue.global().async {
            let timeline = history.map { Self.lastHour(names, $0) }
            let data = (try? JSONEncoder().encode(Initial(cameras: cameras, state: state, timeline: timeline))) ?? Data("null".utf8)
            loop.execute {
                let (handler, context) = bound.value
                handler.send(context, .ok, "text/html; charset=utf-8", Array(WebPage.render(initial: String(decoding: data, as: UTF8.self)).utf8))
            }
        }
    }

    /// Each camera's report over the last hour in 1 min buckets (what the page's "Last hour" shows).
    static func lastHour(_ names: [String], _ history: EventHistory) -> [String: EventReport] {
        var q = EventHistory.Query()
        q.since = EventHistory.stamp(Date().addingTimeInterval(-3600)); q.bucket = 60
        var out: [String: EventReport] = [:]
        for name in names {
            q.camera = name
            out[name] = try? history.report(q)
        }
        return out
    }

    private func json<T: Encodable>(_ context: ChannelHandlerContext, _ value: T) {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do { send(context, .ok, "application/json", Array(try e.encode(value))) } catch {
            send(context, .internalServerError, "application/json", Self.error("\(error)"))
        }
    }

    /// A whole answer, then the connection closes.
    private func send(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ type: String, _ body: [UInt8],
                      extra: [(String, String)] = []) {
        var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", "\(body.count)"),
                                   ("Cache-Control", "no-store"), ("Connection", "close")])
        headers.add(contentsOf: extra)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        var buf = context.channel.allocator.buffer(capacity: body.count)
        buf.writeBytes(body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buf))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }

    /// The head of an answer that goes on (chunked) until the client leaves.
    private func beginStream(_ context: ChannelHandlerContext, _ type: String) {
        let headers = HTTPHeaders([("Content-Type", type), ("Cache-Control", "no-store"), ("Connection", "close"),
                                   ("X-Accel-Buffering", "no")])
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                              promise: nil)
    }

    /// What a stream does with a client that stopped reading (its send buffer is full): a live
    /// view skips frames (the next one replaces them anyway); an event stream is closed, since a
    /// silently lost event is worse (EventSource reconnects by itself).
    enum WhenBusy { case skip, close }

    /// A sender the frame loop may call from its thread: hops to this connection's event loop.
    private func sender(_ context: ChannelHandlerContext, whenBusy: WhenBusy) -> @Sendable ([UInt8]) -> Void {
        let ch = context.channel
        return { bytes in
            ch.eventLoop.execute {
                guard ch.isActive else { return }
                if !ch.isWritable {
                    if whenBusy == .close { ch.close(promise: nil) }
                    return
                }
                var buf = ch.allocator.buffer(capacity: bytes.count)
                buf.writeBytes(bytes)
                ch.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buf)), promise: nil)
            }
        }
    }

    static let boundary = "emotiondframe"

    private func stream(_ context: ChannelHandlerContext, _ hub: WebHub) {
        beginStream(context, "multipart/x-mixed-replace; boundary=\(Self.boundary)")
        let send = sender(context, whenBusy: .skip)
        let channel = context.channel
        // A removed camera closes its viewers' connections (the client sees the stream end).
        let id = hub.subscribeFrames({ jpeg in
            send(Array("--\(Self.boundary)\r\nContent-Type: image/jpeg\r\nContent-Length: \(jpeg.count)\r\n\r\n".utf8)
                 + jpeg + Array("\r\n".utf8))
        }, onClose: { channel.close(promise: nil) })
        unsubscribe = { hub.unsubscribe(id) }
    }

    /// Every camera's events on one stream (each event names its camera), cameras added later included.
    private func events(_ context: ChannelHandlerContext, _ cameras: WebCameras) {
        beginStream(context, "text/event-stream; charset=utf-8")
        let send = sender(context, whenBusy: .close)
        send(Array(": emotiond events of cameras \(cameras.names.joined(separator: ", "))\nretry: 2000\n\n".utf8))
        let id = cameras.subscribeEvents(send)
        unsubscribe = { cameras.unsubscribeEvents(id) }
        // A comment now and then: proxies keep the stream open, a vanished client is noticed.
        keepalive = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(15), delay: .seconds(15)) { _ in
            send(Array(": keepalive\n\n".utf8))
        }
    }

    private func snapshot(_ context: ChannelHandlerContext, _ hub: WebHub) {
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        hub.requestSnapshot(timeout: 3) { jpeg in
            loop.execute {
                let (handler, context) = bound.value
                if let jpeg { handler.send(context, .ok, "image/jpeg", jpeg) } else {
                    handler.send(context, .serviceUnavailable, "application/json",
                                 Self.error("no frame within 3 s (source stalled or ended)"))
                }
            }
        }
    }

    /// GET /api/events?camera=&type=&label=&since=&until=&limit= (schemas/api-events.schema.json).
    private func history(_ context: ChannelHandlerContext) {
        runQuery(context, allowed: EventsQuery.all) { store, q in
            let events = try store.events(q)
            return Array(("{\"events\":[" + events.joined(separator: ",") + "],\"schema\":\"emotiond.api.events/1\"}").utf8)
        }
    }

    /// GET /api/report?camera=&since=&until=&bucket= (schemas/api-report.schema.json).
    private func report(_ context: ChannelHandlerContext) {
        runQuery(context, allowed: EventsQuery.report) { store, q in
            let e = JSONEncoder(); e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return Array(try e.encode(try store.report(q)))
        }
    }

    /// A history query, run off the event loop (SQLite reads block, and the loop serves every
    /// connection), answered back on it.
    private func runQuery(_ context: ChannelHandlerContext, allowed: [String],
                       _ body: @escaping @Sendable (EventHistory, EventHistory.Query) throws -> [UInt8]) {
        guard let store = routes.history else {
            return send(context, .notFound, "application/json", Self.error("the event history is off: set history.path"))
        }
        let q: EventHistory.Query
        do { q = try EventsQuery.parse(queryString, allowed: allowed) } catch {
            return send(context, .badRequest, "application/json", Self.error("\(error)"))
        }
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        DispatchQueue.global().async {
            let result = Result { try body(store, q) }
            loop.execute {
                let (handler, context) = bound.value
                switch result {
                case let .success(bytes): handler.send(context, .ok, "application/json", bytes)
                case let .failure(e as EventReport.RangeError): handler.send(context, .badRequest, "application/json", Self.error("\(e)"))
                case let .failure(e): handler.send(context, .internalServerError, "application/json", Self.error("event history: \(e)"))
                }
            }
        }
    }

    // MARK: helpers

    static func error(_ message: String) -> [UInt8] {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]
        return Array((try? e.encode(["error": message])) ?? Data())
    }

    /// Bearer TOKEN, or basic auth whose password is TOKEN (any user name: what a browser prompt sends).
    static func authorized(_ headers: HTTPHeaders, token: String?) -> Bool {
        guard let token else { return true }
        guard let v = headers.first(name: "authorization") else { return false }
        let lower = v.lowercased()
        if lower.hasPrefix("bearer ") { return same(String(v.dropFirst(7)).trimmingCharacters(in: .whitespaces), token) }
        guard lower.hasPrefix("basic "),
              let d = Data(base64Encoded: String(v.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
              let s = String(data: d, encoding: .utf8), let colon = s.firstIndex(of: ":") else { return false }
        return same(String(s[s.index(after: colon)...]), token)
    }

    /// Compares in time independent of where the strings differ (the token is a secret).
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// GET /api/cameras (schemas/api-cameras.schema.json).
struct CamerasReply: Encodable {
    struct Camera: Encodable {
        var name: String
        var source: WebHub.SourceStatus
        var stream: String, snapshot: String
        init(_ hub: WebHub) {
            name = hub.camera
            source = hub.sourceStatus()
            let base = "/api/cameras/\(hub.camera)"
            stream = "\(base)/stream.mjpeg"; snapshot = "\(base)/snapshot.jpg"
        }
    }
    var schema = "emotiond.api.cameras/1"
    var cameras: [Camera]
    init(_ hubs: [WebHub]) { cameras = hubs.map(Camera.init) }
}

/// GET /api/state (schemas/api-state.schema.json).
struct StateReply: Encodable {
    var schema = "emotiond.api.state/1"
    var cameras: [WebHub.CameraView]
    init(_ hubs: [WebHub]) { cameras = hubs.map { $0.view() } }
}
