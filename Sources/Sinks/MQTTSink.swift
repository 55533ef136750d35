import EmotionCore
import Foundation
import Logging
import Settings

/// The MQTT topics of one camera (README "MQTT topics").
public struct MQTTTopics: Equatable, Sendable {
    public var prefix: String
    public var camera: String
    public init(prefix: String, camera: String) { self.prefix = prefix; self.camera = camera }
    /// `online`/`offline`, retained, per daemon (the publisher's last will).
    public var availability: String { "\(prefix)/available" }
    /// Track events (schemas/event.schema.json), not retained.
    public var events: String { "\(prefix)/\(camera)/events" }
    /// The camera's current faces (schemas/state.schema.json), retained.
    public var state: String { "\(prefix)/\(camera)/state" }
    /// Sustained-emotion notices (schemas/notice.schema.json), not retained.
    public var notices: String { "\(prefix)/\(camera)/notices" }
}

/// The retained state payload (schemas/state.schema.json).
public struct CameraState: Codable, Equatable, Sendable {
    public struct Track: Codable, Equatable, Sendable {
        public var track: Int
        /// The id its events carry (`TrackEvent.id`).
        public var id: String
        /// Its label as the events report it (hysteresis applied).
        public var label: String
        /// The smoothed probability of `label` in the track's latest frame.
        public var confidence: Double
        public init(track: Int, id: String, label: String, confidence: Double) {
            self.track = track; self.id = id; self.label = label; self.confidence = confidence
        }
    }
    public var schema = CameraState.schemaVersion
    public static let schemaVersion = "emotiond.state/3"
    public var camera: String
    public var timestamp: String
    /// Live tracks: faces from their `new` event to their `end`.
    public var faces: Int
    /// The label most faces show (a tie: the higher summed confidence); null without faces.
    public var dominant: String?
    public var tracks: [Track]

    enum CodingKeys: String, CodingKey { case schema, camera, timestamp, faces, dominant, tracks }

    public init(camera: String, timestamp: String, tracks: [Track]) {
        self.camera = camera; self.timestamp = timestamp; self.tracks = tracks
        faces = tracks.count
        dominant = Self.dominant(tracks)
    }

    static func dominant(_ tracks: [Track]) -> String? {
        var by: [String: (n: Int, sum: Double)] = [:]
        for t in tracks { by[t.label, default: (0, 0)].n += 1; by[t.label]!.sum += t.confidence }
        // The label name last, so that a full tie still has one answer.
        return by.max { ($0.value.n, $0.value.sum, $1.key) < ($1.value.n, $1.value.sum, $0.key) }?.key
    }

    /// `dominant` as an explicit null: Home Assistant's templates and jq read a key that is there.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schema, forKey: .schema); try c.encode(camera, forKey: .camera)
        try c.encode(timestamp, forKey: .timestamp); try c.encode(faces, forKey: .faces)
        try c.encode(dominant, forKey: .dominant); try c.encode(tracks, forKey: .tracks)
    }
}

/// The camera's faces as its events tell them (a track counts from its `new` to its `end`), with
/// each one's latest confidence from the frames. Not one frame's detections: those come and go
/// with every missed detection, and the state would flicker with them.
public struct LiveTracks: Equatable, Sendable {
    public private(set) var tracks: [Int: CameraState.Track] = [:]
    public init() {}

    public mutating func apply(_ e: TrackEvent) {
        tracks[e.track] = e.type == .end ? nil
            : CameraState.Track(track: e.track, id: e.id, label: e.label, confidence: Double(e.confidence))
    }

    /// Follows the probability of each track's label in this frame's smoothed scores.
    public mutating func update(_ faces: [TrackedFace]) {
        for f in faces {
            guard let label = tracks[f.track]?.label, let p = f.smoothed[label] else { continue }
            tracks[f.track]!.confidence = Double(p)
        }
    }

    /// What a change of the state is: which tracks, with which labels. Confidences move every
    /// frame; the periodic refresh carries them.
    public var labels: [Int: String] { tracks.mapValues(\.label) }

    public func state(camera: String, timestamp: String) -> CameraState {
        CameraState(camera: camera, timestamp: timestamp, tracks: tracks.values.sorted { $0.track < $1.track })
    }
}

/// Events, state and Home Assistant discovery of one camera to MQTT.
///
/// * Events below `minConfidence` are not sent (`end` always is).
/// * The retained state is published when it changes (a track appears or ends, a label changes),
///   refreshed every `stateInterval` seconds while connected (from `tick`, so also while the source
///   stalls; not while disconnected, where copies would only push events out of the bounded queue),
///   and emptied when the source ends (before the daemon's `offline`), so a late subscriber never
///   sees a face that is gone.
/// * Discovery is published (retained) once per connection of the publisher: a broker restarted
///   without persistence gets it back.
public final class MQTTSink: FrameSink {
    public let publisher: MQTTPublisher
    public let topics: MQTTTopics
    public let discovery: HomeAssistantDiscovery?
    let minConfidence: Double
    let stateInterval: Double
    let log: Logger
    private var live = LiveTracks()
    /// What the retained state shows, and when this sink published it (nil before its first
    /// frame: a sink built by a reload refreshes nothing until its own tracker has seen a frame).
    private var shown: [Int: String]?
    private var lastState: Date?
    /// `publisher.connections` when discovery was last published.
    private var announced = 0
    private let encoder: JSONEncoder = {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]; return e
    }()

    public init(publisher: MQTTPublisher, topics: MQTTTopics, minConfidence: Double, stateInterval: Double = 0,
                discovery: HomeAssistantDiscovery? = nil, log: Logger) {
        self.publisher = publisher; self.topics = topics; self.minConfidence = minConfidence
        self.stateInterval = stateInterval; self.discovery = discovery; self.log = log
    }

    public func write(_ out: FrameOutput) throws {
        for e in out.events {
            live.apply(e)
            if e.type == .end || Double(e.confidence) >= minConfidence { publisher.publish(topics.events, try encoder.encode(e)) }
        }
        live.update(out.result.faces)
        try announce()
        if live.labels != shown { try publishState(stamp: out.result.timestamp) }
    }

    public func tick(now: Date) throws {
        try announce()
        guard stateInterval > 0, let last = lastState, now.timeIntervalSince(last) >= stateInterval,
              publisher.isConnected else { return }
        try publishState(stamp: WallClock.rfc3339(), at: now)
    }

    public func end(_ source: SourceInfo, events: [TrackEvent]) throws {
        for e in events { publisher.publish(topics.events, try encoder.encode(e)) }
        live = LiveTracks()
        try publishState(stamp: events.first?.timestamp ?? WallClock.rfc3339())
    }

    /// Nothing to close: the publisher is the daemon's, shared by its cameras; the daemon says
    /// "offline" and disconnects once every camera's sink has ended.
    public func close() throws {}

    private func publishState(stamp: String, at now: Date = Date()) throws {
        publisher.publish(topics.state, try encoder.encode(live.state(camera: topics.camera, timestamp: stamp)), retain: true)
        shown = live.labels
        lastState = now
    }

    private func announce() throws {
        guard let discovery else { return }
        let n = publisher.connections
        guard n > announced else { return }
        announced = n
        for m in try discovery.messages() { publisher.publish(m.topic, m.payload, retain: true) }
    }
}
