import EmotionCore
import NIOCore
import NIOEmbedded
import NIOHTTP1
@testable import Web
import XCTest

/// The camera registry and the server's routing by camera name, without sockets: each request goes
/// through the server's own HTTP pipeline on an EmbeddedChannel.
final class WebCamerasTests: XCTestCase {
    /// A connection with the server's pipeline; `request` is written, the answer read back.
    final class Connection {
        let channel = EmbeddedChannel()
        init(_ routes: WebRoutes, _ request: String) throws {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(HTTPHandler(routes))
            // Active, as an accepted connection is (streams write only to active channels).
            channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 40000), promise: nil)
            try channel.writeInbound(ByteBuffer(string: "GET \(request) HTTP/1.1\r\nHost: test\r\n\r\n"))
        }
        /// Everything written to the client so far.
        func read() throws -> String {
            var out = ""
            while let part = try channel.readOutbound(as: IOData.self) {
                if case let .byteBuffer(b) = part { out += String(buffer: b) }
            }
            return out
        }
        var isOpen: Bool { channel.isActive }
    }

    func get(_ cams: WebCameras, _ path: String) throws -> (status: Int, body: String) {
        let text = try Connection(WebRoutes(metrics: nil, cameras: cams), path).read()
        let status = Int(text.split(separator: " ")[1]) ?? 0
        let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return (status, body)
    }

    func json(_ body: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
    }

    func testRegistryAddsOnceRenamesAndRemoves() {
        let cams = WebCameras()
        let a = cams.add("porch"), b = cams.add("hall")
        XCTAssertTrue(cams.add("porch") === a, "add returns the existing hub")
        XCTAssertEqual(cams.names, ["hall", "porch"])
        XCTAssertTrue(cams.hub("hall") === b)
        cams.rename("porch", to: "garden")
        XCTAssertEqual(cams.names, ["garden", "hall"]); XCTAssertEqual(a.camera, "garden"); XCTAssertTrue(cams.hub("garden") === a)
        cams.rename("garden", to: "hall")   // taken: nothing changes
        XCTAssertEqual(cams.names, ["garden", "hall"]); XCTAssertEqual(a.camera, "garden")
        cams.remove("hall")
        XCTAssertEqual(cams.names, ["garden"]); XCTAssertNil(cams.hub("hall"))
    }

    /// Two cameras: both listed (by name, in order), each one's stream and snapshot routed to its own
    /// hub; an unknown name is a 404 with a JSON error naming it.
    func testRoutesByCameraName() throws {
        let cams = WebCameras()
        let porch = cams.add("porch"), hall = cams.add("hall")
        let listed = try json(try get(cams, "/api/cameras").body)["cameras"] as? [[String: Any]]
        XCTAssertEqual(listed?.map { $0["name"] as? String }, ["hall", "porch"])
        XCTAssertEqual(listed?.last?["stream"] as? String, "/api/cameras/porch/stream.mjpeg")
        let state = try json(try get(cams, "/api/state").body)["cameras"] as? [[String: Any]]
        XCTAssertEqual(state?.map { $0["camera"] as? String }, ["hall", "porch"])

        for path in ["/api/cameras/garage/stream.mjpeg", "/api/cameras/garage/snapshot.jpg"] {
            let (status, body) = try get(cams, path)
            XCTAssertEqual(status, 404, path)
            XCTAssertEqual(try json(body)["error"] as? String, "no camera named 'garage' (cameras: hall, porch)")
        }

        // Each live view gets its own camera's frames only.
        let porchView = try Connection(WebRoutes(metrics: nil, cameras: cams), "/api/cameras/porch/stream.mjpeg")
        let hallView = try Connection(WebRoutes(metrics: nil, cameras: cams), "/api/cameras/hall/stream.mjpeg")
        XCTAssertEqual(cams.subscribers.frames, 2)
        porch.publish(jpeg: Array("PORCH-JPEG".utf8)); hall.publish(jpeg: Array("HALL-JPEG".utf8))
        porchView.channel.embeddedEventLoop.run(); hallView.channel.embeddedEventLoop.run()
        let (p, h) = (try porchView.read(), try hallView.read())
        XCTAssertTrue(p.contains("multipart/x-mixed-replace") && p.contains("PORCH-JPEG") && !p.contains("HALL-JPEG"), p)
        XCTAssertTrue(h.contains("HALL-JPEG") && !h.contains("PORCH-JPEG"), h)

        // A snapshot request waits for its camera's next frame.
        let snap = try Connection(WebRoutes(metrics: nil, cameras: cams), "/api/cameras/hall/snapshot.jpg")
        porch.publish(jpeg: Array("PORCH-2".utf8)); hall.publish(jpeg: Array("HALL-2".utf8))
        snap.channel.embeddedEventLoop.run()
        let s = try snap.read()
        XCTAssertTrue(s.hasPrefix("HTTP/1.1 200") && s.contains("image/jpeg") && s.hasSuffix("HALL-2"), s)

        // Removing a camera closes its live views only.
        cams.remove("porch")
        XCTAssertFalse(porchView.isOpen, "the removed camera's live view is closed")
        XCTAssertTrue(hallView.isOpen)
        XCTAssertEqual(cams.subscribers.frames, 1)
        XCTAssertEqual(try get(cams, "/api/cameras/porch/snapshot.jpg").status, 404)
    }

    /// One event stream carries every camera's events, each with its camera's name, cameras added
    /// later included; it is counted once however many cameras there are.
    func testEventStreamCarriesEveryCameraByName() throws {
        let cams = WebCameras()
        let porch = cams.add("porch")
        let stream = try Connection(WebRoutes(metrics: nil, cameras: cams), "/api/events/live")
        let hall = cams.add("hall")
        XCTAssertEqual(cams.subscribers.events, 1)
        porch.ended([Self.event("happy")]); hall.ended([Self.event("sad")])
        stream.channel.embeddedEventLoop.run()
        let text = try stream.read()
        let lines = text.split(whereSeparator: \.isNewline)   // "\r\n" is one Character: split on both
        let events = lines.filter { $0.hasPrefix("data: ") }
            .compactMap { try? json(String($0.dropFirst(6))) }
        XCTAssertEqual(events.map { $0["camera"] as? String }, ["porch", "hall"], text)
        XCTAssertEqual(events.map { $0["label"] as? String }, ["happy", "sad"])
        let ids = lines.filter { $0.hasPrefix("id: ") }
        XCTAssertEqual(Set(ids).count, 2, "SSE ids unique across cameras: \(ids)")
        cams.remove("hall")
        XCTAssertTrue(stream.isOpen, "the stream goes on for the other cameras")
        stream.channel.close(promise: nil)
        stream.channel.embeddedEventLoop.run()
        XCTAssertEqual(cams.subscribers.events, 0)
    }

    static func event(_ label: String) -> TrackEvent {
        let scores = ["happy": Float(0.5), "sad": 0.5]
        let snap = TrackEvent.Snapshot(label: label, confidence: 0.5, scores: scores, box: FaceBox(x: 0, y: 0, width: 50, height: 50),
                                       firstSeen: 0, lastSeen: 1, mediaTime: 1, timestamp: "2026-11-30T22:00:00.000Z")
        return TrackEvent(id: "1800000000.000000-abcdef", type: .end, track: 1, before: nil, after: snap,
                          mediaTime: 1, timestamp: "2026-11-30T22:00:00.000Z", source: "test")
    }
}
