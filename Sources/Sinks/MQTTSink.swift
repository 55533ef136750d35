import EmotionCore
import Foundation
import Logging
import Settings

/// The MQTT topics of one camera (README "MQTT"). Availability is per daemon (the publisher's
/// last will): `<prefix>/available`.
public struct MQTTTopics: Equatable, Sendable {
    public var prefix: String
    public var camera: String
    public init(prefix: String, camera: String) { self.prefix = prefix; self.camera = camera }
    /// Track events (schemas/event.schema.json), not retained.
    public var events: String { "\(prefix)/\(camera)/events" }
    /// The camera's current faces (schemas/state.schema.json), retained.
    public var state: String { "\(prefix)/\(camera)/state" }
}

/// The retained state payload (schemas/state.schema.json).
public struct CameraState: Codable, Equatable, Sendable {
    public struct Track: Codable, Equatable, Sendable {
        public var track: Int
        public var label: String
        /// Double, as the state has always carried it (the Float widened).
        public var confidence: Double
    }
    public var camera: String
    public var timestamp: String
    public var faces: Int
    public var tracks: [Track]

    public init(camera: String, timestamp: String, faces: [TrackedFace]) {
        self.camera = camera; self.timestamp = timestamp; self.faces = faces.count
        tracks = faces.map { Track(track: $0.track, label: $0.label, confidence: Double($0.confidence)) }
    }
}

/// Events and state of one camera to MQTT. Events below `minConfidence` are not sent (`end`
/// always is); the retained state follows every event, and is emptied when the source ends, so a
/// client that subscribes after the daemon stopped never sees a face that is no longer there.
public final class MQTTSink: FrameSink {
    public let publisher: MQTTPublisher
    public let topics: MQTTTopics
    let minConfidence: Double
    let log: Logger
    private let encoder: JSONEncoder = {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]; return e
    }()

    public init(publisher: MQTTPublisher, topics: MQTTTopics, minConfidence: Double, log: Logger) {
        self.publisher = publisher; self.topics = topics; self.minConfidence = minConfidence; self.log = log
    }

    public func write(_ out: FrameOutput) throws {
        for e in out.events where e.type == .end || Double(e.confidence) >= minConfidence {
            publisher.publish(topics.events, try encoder.encode(e))
        }
        guard !out.events.isEmpty else { return }
        try publishState(CameraState(camera: topics.camera, timestamp: out.result.timestamp, faces: out.result.faces))
    }

    public func end(_ source: SourceInfo, events: [TrackEvent]) throws {
        for e in events { publisher.publish(topics.events, try encoder.encode(e)) }
        let stamp = events.first?.timestamp ?? WallClock.rfc3339()
        try publishState(CameraState(camera: topics.camera, timestamp: stamp, faces: []))
    }

    /// Says "offline" and disconnects; what never reached the broker is reported.
    public func close() throws {
        let unsent = publisher.shutdown()
        if unsent > 0 { log.warning("emotiond: mqtt: \(unsent) queued messages were never delivered (broker unreachable)") }
    }

    private func publishState(_ s: CameraState) throws {
        publisher.publish(topics.state, try encoder.encode(s), retain: true)
    }
}
